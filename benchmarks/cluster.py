"""A throwaway PostgreSQL cluster for the benchmarks (`--own-cluster`): initdb in a temporary
directory, stock settings plus autovacuum on, its own port; stopped and deleted afterwards.

The shared server of a development machine may be tuned for tests (autovacuum off, say); a soak
needs what production has. The shared server is never reconfigured.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def own_cluster() -> Iterator[str]:
    """Start a throwaway cluster; yields its DSN."""
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="pgqueue-bench-cluster-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    options = " ".join(f"-c {k}={v}" for k, v in SETTINGS.items())
    options += f" -c port={port} -c unix_socket_directories={root}"
    try:
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
        )
        pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
        subprocess.run(
            [*pg_ctl, "-l", str(root / "log"), "-w", "-o", options, "start"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
