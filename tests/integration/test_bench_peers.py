"""The peers harness (benchmarks/peers.py, workload 9 of docs/benchmarks.md) with a tiny job count:
pgqueue, arq and Celery on the real Redis run every workload and show up in the rows, side by
side, with a ratio; their Redis databases are empty afterwards; without Redis, their rows say so
and the run goes on."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis

from benchmarks import peers
from benchmarks.report import Row
from tests.conftest import TEST_DSN
from tests.helpers import SERVER_WIDE, SYNCHRONOUS_COMMIT

JOBS = 20
# Not the benchmark's own database numbers, so a benchmark run at the same time is not disturbed.
TEST_DB = 13
CELERY_DB = 11


@pytest.fixture
def redis_databases_held() -> Iterator[None]:
    """TEST_DB and CELERY_DB to this test alone: another suite run on this machine at the same
    time (CI beside a developer's run, two checkouts) uses the same Redis and the same database
    numbers, and its Celery worker would drain this test's jobs."""
    fd = _lock_file(Path(tempfile.gettempdir(), "pgqueue-tests-redis.lock"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file closes
        yield
    finally:
        os.close(fd)


def _lock_file(path: Path) -> int:
    """Open for reading (all flock needs), whichever account's suite made it: created readable by
    all, and never opened with O_CREAT once there (fs.protected_regular refuses that in /tmp for
    a file another account owns)."""
    while True:
        with contextlib.suppress(FileNotFoundError):
            return os.open(path, os.O_RDONLY)
        with contextlib.suppress(FileExistsError):  # another suite made it meanwhile
            return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644)


@pytest.fixture
def arq_db(redis_databases_held: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    monkeypatch.setitem(peers.REDIS_DB, "arq", TEST_DB)
    monkeypatch.setitem(peers.REDIS_DB, "celery", CELERY_DB)
    celery_db = redis.Redis.from_url(f"{peers.REDIS}/{CELERY_DB}")
    client = redis.Redis.from_url(f"{peers.REDIS}/{TEST_DB}", socket_connect_timeout=2)
    try:
        client.ping()
    except (OSError, redis.RedisError) as exc:
        pytest.skip(f"Redis not reachable at {peers.REDIS}: {exc}")
    # A key in another database of the same server: the harness flushes its own database only.
    other = redis.Redis.from_url(f"{peers.REDIS}/{TEST_DB - 1}")
    sentinel = f"pgqueue-test-bench-peers-{uuid.uuid4().hex}"
    other.set(sentinel, "kept")
    try:
        yield client
        assert other.get(sentinel) == b"kept"
    finally:
        other.delete(sentinel)
        client.flushdb()
        celery_db.flushdb()
        client.close()
        celery_db.close()
        other.close()


def test_redis_peers_rows_beside_pgqueue(arq_db: redis.Redis) -> None:
    logged: list[str] = []
    figures = asyncio.run(
        peers.measure(TEST_DSN, JOBS, 10, 1, logged.append, systems=("pgqueue", "arq", "celery"))
    )
    assert figures["skipped"] == {}
    for workload in ("enqueue", "batch", "drain"):
        for system in ("pgqueue", "arq", "celery"):
            assert figures[system][workload] > 0, (system, workload)
    # Each round starts on a flushed database and leaves it flushed.
    assert arq_db.dbsize() == 0
    assert redis.Redis.from_url(f"{peers.REDIS}/{CELERY_DB}").dbsize() == 0

    # The durable floor, timed in every round of the single enqueue, beside pgqueue's row.
    assert figures["raw"]["enqueue"] > 0
    assert set(figures["raw"]) == {"enqueue"}

    rows = peers.rows(figures)
    ours = [r for r in rows if r.workload.startswith("9. ")]
    assert len(ours) == 3
    [floor] = [r for r in rows if "durable floor" in r.workload]
    assert rows.index(floor) == rows.index(ours[0]) + 1
    assert floor.baseline == f"pgqueue {ours[0].measured}"
    assert (
        floor.ratio == f"pgqueue {figures['pgqueue']['enqueue'] / figures['raw']['enqueue']:.2f}x"
    )
    assert floor.verdict == "info"
    for title in ("arq (Redis) ", "Celery (Redis) "):
        theirs_rows = [r for r in rows if r.workload.startswith(f"   {title}")]
        assert len(theirs_rows) == 3, [r.workload for r in rows]
        for own, theirs in zip(ours, theirs_rows, strict=True):
            assert theirs.measured.endswith(" jobs/s")
            assert theirs.baseline == f"pgqueue {own.measured}"
            assert theirs.ratio.startswith("pgqueue ") and theirs.ratio.endswith("x")
            assert theirs.verdict in ("PASS", "FAIL")
    assert "batches of 10" in ours[1].workload
    assert not any(r.workload.lstrip().startswith(("PgQueuer", "Procrastinate")) for r in rows)
    _assert_durable_arq_row(figures, rows)
    _assert_async_commit_row(figures, rows, "arq")


def _assert_async_commit_row(figures: dict[str, Any], rows: list[Row], beside: str) -> None:
    """pgqueue again with synchronous_commit off on its DSN (the opt-in of docs/enqueue.md), in
    the single enqueue only, last of its section, beside arq (or, without arq, the floor)."""
    ours = [r for r in rows if r.workload.startswith("9. ")]
    assert set(figures["pgqueue_async_commit"]) == {"enqueue"}
    assert figures["pgqueue_async_commit"]["enqueue"] > 0
    [relaxed] = [r for r in rows if "synchronous_commit off" in r.workload]
    assert rows.index(relaxed) == rows.index(ours[1]) - 1
    assert relaxed.measured.endswith(" jobs/s") and relaxed.verdict == "info"
    theirs = figures["arq" if beside == "arq" else "raw"]["enqueue"]
    label = "arq" if beside == "arq" else "the floor"
    assert relaxed.ratio == f"{figures['pgqueue_async_commit']['enqueue'] / theirs:.2f}x {label}"
    assert relaxed.baseline.startswith("arq " if beside == "arq" else "floor ")


def _assert_durable_arq_row(figures: dict[str, Any], rows: list[Row]) -> None:
    """arq again, on a throwaway Redis that fsyncs every write, after the issue's arq row (when
    the redis-server binary is installed beside the shared Redis)."""
    if shutil.which(peers.DURABLE_REDIS_SERVER) is None:
        assert "arq_durable" not in figures
        return
    ours = [r for r in rows if r.workload.startswith("9. ")]
    assert set(figures["arq_durable"]) == {"enqueue"}
    [durable] = [r for r in rows if "fsyncs every write" in r.workload]
    [arq_enqueue] = [r for r in rows if r.workload.startswith("   arq (Redis) ")][:1]
    assert rows.index(arq_enqueue) < rows.index(durable) < rows.index(ours[1])
    assert durable.measured.endswith(" jobs/s") and durable.verdict == "info"
    assert durable.baseline == f"pgqueue {ours[0].measured}"


def test_redis_peers_without_redis_say_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    monkeypatch.setattr(peers, "REDIS", "redis://127.0.0.1:9")
    figures = asyncio.run(
        peers.measure(TEST_DSN, 5, 5, 1, lambda _: None, systems=("pgqueue", "arq", "celery"))
    )
    assert "arq" not in figures and "celery" not in figures and "arq_durable" not in figures
    assert figures["raw"]["enqueue"] > 0
    assert figures["pgqueue"]["drain"] > 0
    rows = peers.rows(figures)
    skipped = [r for r in rows if r.workload in ("   arq (Redis)", "   Celery (Redis)")]
    assert len(skipped) == 6
    for row in skipped:
        assert row.measured.startswith("skipped: Redis not reachable at redis://127.0.0.1:9 (")
        assert row.verdict == "info"
    _assert_async_commit_row(figures, rows, "floor")


async def _synchronous_commit(dsn: str) -> tuple[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(SYNCHRONOUS_COMMIT)
        assert row is not None
        return str(row[0]), str(row[1])
    finally:
        await conn.close()


def test_the_async_commit_row_connects_with_synchronous_commit_off() -> None:
    assert asyncio.run(_synchronous_commit(peers.async_commit_dsn(TEST_DSN))) == ("off", "client")
    # Without the option a session takes the server's setting (the embedded test server may
    # itself run with it off, so only where it came from is checked).
    assert asyncio.run(_synchronous_commit(TEST_DSN))[1] in SERVER_WIDE


def test_the_async_commit_row_times_pgqueue_on_the_opt_in_dsn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every pgqueue App the single enqueue opens: one at the server's setting, one with the opt-in.
    opened: list[tuple[str, str]] = []
    enqueuer = peers._enqueuer

    @contextlib.asynccontextmanager
    async def recording(system: str, dsn: str) -> AsyncIterator[Any]:
        if system == "pgqueue":
            opened.append(await _synchronous_commit(dsn))
        async with enqueuer(system, dsn) as send:
            yield send

    monkeypatch.setattr(peers, "_enqueuer", recording)
    figures = asyncio.run(peers.enqueue(TEST_DSN, ("pgqueue",), 4, 1))
    assert set(figures) == {"pgqueue", "raw", "pgqueue_async_commit"}
    assert len(opened) == 2
    assert opened[0][1] in SERVER_WIDE
    assert opened[1] == ("off", "client")


@pytest.mark.skipif(shutil.which(peers.DURABLE_REDIS_SERVER) is None, reason="no redis-server")
def test_the_durable_redis_fsyncs_every_write() -> None:
    async def check() -> tuple[dict[str, str], str | None]:
        import redis.asyncio

        async with peers._durable_redis() as url:
            assert not url.startswith(peers.REDIS)
            client = redis.asyncio.Redis.from_url(url, decode_responses=True)
            try:
                config = await client.config_get("append*")
            finally:
                await client.aclose()
        return config, await peers.redis_reachable(url)

    config, after = asyncio.run(check())
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "always"
    assert after is not None  # stopped once the measurement is done
