"""Tools for the tests of the embedded server and the development entry points: an environment
that looks like a machine without PostgreSQL, directories the server's account can reach, and
the postgres processes serving a directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pgqueue.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parents[1]


def dead_port() -> int:
    """A port of 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def no_server_env(port: int, **extra: str) -> dict[str, str]:
    """The current environment as on a machine without a configured server: no PGQUEUE_* (the
    test DSN included) nor DATABASE_URL, and libpq's defaults pointing at `port`, where nothing
    listens."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PGQUEUE_", "PG")) and k != "DATABASE_URL"
    }
    env.update({"PGHOST": "127.0.0.1", "PGPORT": str(port), "PYTHONPATH": str(ROOT), **extra})
    return env


@contextlib.contextmanager
def reachable_dir(prefix: str = "pgqueue-dev-test-") -> Iterator[Path]:
    """A fresh directory that the server's account can reach (pytest's tmp_path is private to
    root under root); any embedded server left in it is stopped, then it is removed."""
    path = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
    path.chmod(0o755)
    try:
        yield path
    finally:
        for pidfile in path.rglob("postmaster.pid"):
            with contextlib.suppress(Exception):
                EmbeddedServer(pidfile.parent.parent).stop("immediate")
        shutil.rmtree(path, ignore_errors=True)


def postgres_processes(under: Path) -> list[int]:
    """Live postmasters whose command line names a path under `under` (started with -D DATA).
    A backend forked a moment ago still shows its postmaster's command line until it sets its
    own title, so processes whose parent is one of them do not count."""
    found: dict[int, int] = {}
    marker = os.fsencode(under)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        named_postgres = bool(argv[0]) and os.path.basename(argv[0]) == b"postgres"
        if named_postgres and any(marker in arg for arg in argv[1:]):
            found[int(entry.name)] = parent
    return sorted(pid for pid, parent in found.items() if parent not in found)


def process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])  # the effective uid
    raise AssertionError(f"no Uid line for {pid}")
