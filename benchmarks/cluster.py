"""A throwaway PostgreSQL cluster for the benchmarks (`--own-cluster`): initdb in a temporary
directory, stock settings plus autovacuum on, its own port; stopped and deleted afterwards.

The shared server of a development machine may be tuned for tests (autovacuum off, say); a soak
needs what production has. The shared server is never reconfigured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "autovacuum": "on",
    "fsync": "on",
    "synchronous_commit": "on",
    "max_connections": "100",
    "shared_buffers": "128MB",
}


def _bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        raise RuntimeError("initdb not found: install the PostgreSQL server package")
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class Cluster:
    """An initialised cluster in a temporary directory, started and stopped at will."""

    bindir: Path
    root: Path
    port: int
    as_user: list[str]  # how to run its programs: PostgreSQL refuses to run as root

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def program(self, name: str, *arguments: str) -> list[str]:
        return [*self.as_user, str(self.bindir / name), *arguments]

    def start(self) -> None:
        options = " ".join(f"-c {k}={v}" for k, v in SETTINGS.items())
        options += f" -c port={self.port} -c unix_socket_directories={self.root}"
        subprocess.run(
            self.program(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-w",
                "-o",
                options,
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            self.program("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"),
            capture_output=True,
        )


@contextlib.contextmanager
def initialised_cluster() -> Iterator[Cluster]:
    """initdb in a temporary directory; stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="pgqueue-bench-cluster-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(_bindir(), root, _free_port(), as_user)
    try:
        subprocess.run(
            cluster.program("initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust"),
            check=True,
            capture_output=True,
        )
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def own_cluster() -> Iterator[str]:
    """Start a throwaway cluster; yields its DSN."""
    with initialised_cluster() as cluster:
        cluster.start()
        yield cluster.dsn
