"""Behind PgBouncer in transaction mode (docs/pgbouncer.md): a real pgbouncer that the test
starts on a free port of its own, in front of this test's throwaway database, with fewer server
connections than pgqueue opens, so clients really share them. With `pooler="transaction"` every
job gets through a worker and `app.result()`, and nothing asks for a prepared statement that is
not there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from pgqueue import App
from tests.helpers import count_states, fetchval, running_worker, wait_for

pytestmark = pytest.mark.slow

PGBOUNCER = shutil.which("pgbouncer") or next(
    (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
)
JOBS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bouncer_config(dsn: str, port: int) -> str:
    """pool_mode=transaction in front of `dsn`'s database; the server login is the DSN's own
    (trust or a password, as the test server wants), every client is let in (auth_type=any)."""
    url = urlsplit(dsn)
    server = " ".join(
        f"{key}={value}"
        for key, value in (
            ("host", url.hostname or "127.0.0.1"),
            ("port", url.port or 5432),
            ("dbname", url.path.lstrip("/")),
            ("user", unquote(url.username or "postgres")),
            ("password", unquote(url.password or "")),
        )
        if value != ""
    )
    # As root, pgbouncer refuses to run unless told which account to become.
    become = "user = nobody\n" if os.geteuid() == 0 else ""
    return (
        f"[databases]\nbounced = {server}\n\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        "default_pool_size = 3\nmax_client_conn = 200\n"
        f"{become}"
    )


@pytest.fixture
def bouncer(dsn: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(a DSN through a running pgbouncer, its log file)."""
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    port = free_port()
    config = tmp_path / "pgbouncer.ini"
    config.write_text(bouncer_config(dsn, port))
    config.chmod(0o644)
    tmp_path.chmod(0o755)  # readable by the account pgbouncer becomes
    log = tmp_path / "pgbouncer.log"
    with log.open("wb") as out:
        process = subprocess.Popen([PGBOUNCER, str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        yield f"postgresql://pgqueue@127.0.0.1:{port}/bounced", log
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def bouncer_answers(bounced: str) -> bool:
    with contextlib.suppress(Exception):
        return bool(await fetchval(bounced, "SELECT 1") == 1)
    return False


async def test_200_jobs_through_pgbouncer_in_transaction_mode(
    dsn: str, bouncer: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    bounced, bouncer_log = bouncer
    await wait_for(lambda: bouncer_answers(bounced), timeout=15, message="pgbouncer up")
    caplog.set_level(logging.DEBUG, logger="pgqueue")
    app = App(bounced, pooler="transaction")
    assert not app.listens

    @app.task(name="double")
    async def double(n: int) -> int:
        return 2 * n

    try:
        # One job per transaction, so the pool's connections go through the pooler many times.
        ids = [await double.enqueue(n) for n in range(JOBS)]
        async with running_worker(app, concurrency=10, poll_interval=0.1) as worker:
            assert worker.listener_connected is None  # no LISTEN through the pooler: it polls
            results = await asyncio.wait_for(
                asyncio.gather(*(app.result(i, timeout=60, poll_interval=0.1) for i in ids)), 90
            )
            health = await worker.healthcheck()
    finally:
        await app.close()
    assert results == [2 * n for n in range(JOBS)]
    assert await count_states(dsn) == {"succeeded": JOBS}
    assert health["listener"] and health["database"]
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "does not exist" in m], messages
    assert "prepared statement" not in bouncer_log.read_text()
    polling = [m for m in messages if "LISTEN is not possible" in m]
    assert len(polling) == 1, polling


async def test_listen_dsn_listens_straight_to_postgresql(
    dsn: str, bouncer: tuple[str, Path]
) -> None:
    """Jobs through the pooler, LISTEN on a DSN straight to PostgreSQL: the worker is woken by
    NOTIFY again (its listener connects) and results arrive without polling."""
    bounced, _ = bouncer
    await wait_for(lambda: bouncer_answers(bounced), timeout=15, message="pgbouncer up")
    app = App(bounced, pooler="transaction", listen_dsn=dsn)
    assert app.listens

    @app.task(name="echo")
    async def echo(n: int) -> int:
        return n

    try:
        async with running_worker(app, concurrency=4, poll_interval=30) as worker:
            assert worker.listener_connected is not None and worker.listener_connected.is_set()
            ids = [await echo.enqueue(n) for n in range(20)]
            # A 30 s poll would miss the 20 s bound: only NOTIFY on the direct DSN can make it.
            results = await asyncio.wait_for(
                asyncio.gather(*(app.result(i, poll_interval=30) for i in ids)), 20
            )
    finally:
        await app.close()
    assert results == list(range(20))
    assert await count_states(dsn) == {"succeeded": 20}
