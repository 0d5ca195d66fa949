"""The enqueue lane (pgqueue/_repository/driver.py, `Lane`): single enqueues made one after
another run on one connection of their own, without the pool's acquire and release; the App
still holds at most `pool_max_size` connections; concurrent enqueues fall back to the pool; a
connection the server dropped is replaced; `close()` closes it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pgqueue import App, DatabaseUnavailableError, Task
from pgqueue._dsn import parse_dsn
from tests.helpers import (
    SERVER_WIDE,
    SYNCHRONOUS_COMMIT,
    count_states,
    fetch,
    fetchval,
    wait_for,
)

OTHERS = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1"


async def _connections(dsn: str) -> int:
    return int(await fetchval(dsn, OTHERS.replace("$1", "pg_backend_pid()")))


async def test_single_enqueues_take_the_lane_within_the_pool_size(dsn: str) -> None:
    app = App(dsn, pool_max_size=2)

    @app.task(name="t")
    async def t(n: int) -> None: ...

    async with app:
        await t.enqueue(0)  # opens the pool; the lane waits for a second enqueue
        assert await _connections(dsn) == 1
        await t.enqueue(0)  # the lane opens in the background
        lane = app.repository.lane
        assert lane is not None
        await wait_for(lambda: _lane_open(lane), message="the lane open")
        ids = [await t.enqueue(n) for n in range(1, 20)]
        ids += await asyncio.gather(*(t.enqueue(n) for n in range(20, 60)))  # some on the pool
        assert len(set(ids)) == 59
        assert await _connections(dsn) <= 2
    assert await count_states(dsn) == {"queued": 61}
    await wait_for(lambda: _none_left(dsn), message="the App's connections closed")


async def _none_left(dsn: str) -> bool:
    return await _connections(dsn) == 0


async def test_a_lane_connection_the_server_dropped_is_replaced(dsn: str) -> None:
    app = App(dsn, pool_max_size=3)

    @app.task(name="t")
    async def t() -> None: ...

    async with app:
        await t.enqueue()
        await t.enqueue()
        lane = app.repository.lane
        assert lane is not None
        await wait_for(lambda: _lane_open(lane), message="the lane open")
        pid = lane._conn.get_server_pid()  # type: ignore[union-attr]
        await fetchval(dsn, "SELECT pg_terminate_backend($1)", pid)
        await wait_for(lambda: lane._conn is None or lane._conn.is_closed(), message="noticed")
        await t.enqueue()  # on the pool while the lane reopens
        await wait_for(lambda: _lane_open(lane), message="the lane open again")
        await t.enqueue()
    assert await count_states(dsn) == {"queued": 4}


def _lane_open(lane: object) -> bool:
    conn = getattr(lane, "_conn", None)
    return conn is not None and not conn.is_closed()


async def test_a_lane_call_past_command_timeout_is_cancelled_on_the_server_and_raises(
    dsn: str,
) -> None:
    """The lane's watchdog (one timer, not asyncpg's per query) bounds a call that hangs, here
    on a lock: the caller gets DatabaseUnavailableError naming command_timeout, the server's
    statement is cancelled (no row once the lock goes), and the next enqueue works."""
    app = App(dsn, pool_max_size=3, command_timeout=0.5)

    @app.task(name="t")
    async def t() -> None: ...

    async with app:
        lane = await _opened_lane(app, t)
        pid = lane._conn.get_server_pid()  # type: ignore[attr-defined]
        await t.enqueue()  # on the lane: arms the watchdog, which fires during the next call
        async with _jobs_locked(dsn):
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailableError, match=r"command_timeout \(0.5 s\)"):
                await asyncio.wait_for(t.enqueue(), 10)
            # Not before the call's own bound (the watchdog re-arms for what is left), not long
            # after it.
            assert 0.5 <= time.monotonic() - started < 5
            await wait_for(lambda: _not_waiting(dsn, pid), message="the INSERT cancelled")
        await _serves_again(t, lane)
    assert await count_states(dsn) == {"queued": 5}


async def test_a_cancel_of_a_lane_call_stays_a_cancel(dsn: str) -> None:
    """A caller cancelled by its own code (a request handler's timeout) gets CancelledError, not
    the watchdog's timeout, its INSERT writes nothing, and the lane serves the next call."""
    app = App(dsn, pool_max_size=3, command_timeout=30)

    @app.task(name="t")
    async def t() -> None: ...

    async with app:
        lane = await _opened_lane(app, t)
        async with _jobs_locked(dsn):
            call = asyncio.ensure_future(t.enqueue())
            await wait_for(lambda: _lock_waiters(dsn), message="the INSERT waiting")
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
        await _serves_again(t, lane)
    assert await count_states(dsn) == {"queued": 4}


async def _opened_lane(app: App, t: Task[[], None]) -> object:
    """Two enqueues (the second opens the lane), and the lane once it is open."""
    await t.enqueue()
    await t.enqueue()
    lane = app.repository.lane
    assert lane is not None
    await wait_for(lambda: _lane_open(lane), message="the lane open")
    return lane


async def _serves_again(t: Task[[], None], lane: object) -> None:
    """One enqueue on the pool while the lane reopens, one on the lane again."""
    await t.enqueue()
    await wait_for(lambda: _lane_open(lane), message="the lane open again")
    await t.enqueue()


@contextlib.asynccontextmanager
async def _jobs_locked(dsn: str) -> AsyncIterator[None]:
    """pgqueue.jobs locked against INSERTs by another session until the block ends."""
    locker = await asyncpg.connect(dsn)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE pgqueue.jobs IN SHARE ROW EXCLUSIVE MODE")
            yield
    finally:
        await locker.close()


async def _not_waiting(dsn: str, pid: int) -> bool:
    waiting = await fetchval(
        dsn,
        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
        pid,
    )
    return bool(waiting == 0)


async def _lock_waiters(dsn: str) -> bool:
    sql = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return bool(await fetchval(dsn, sql) == 1)


def _with_async_commit(dsn: str, form: str) -> str:
    if form == "url":
        return f"{dsn}{'&' if '?' in dsn else '?'}options=-c%20synchronous_commit%3Doff"
    pairs = {**parse_dsn(dsn), "options": "-c synchronous_commit=off"}
    return " ".join(f"{key}='{value}'" for key, value in pairs.items())


@pytest.mark.parametrize("form", ["url", "keywords"])
async def test_synchronous_commit_off_on_the_dsn_reaches_the_lane_and_the_pool(
    dsn: str, form: str
) -> None:
    # The opt-in of docs/enqueue.md ("An enqueue that does not wait for the disk"): libpq's
    # `options` on the DSN, in either of its forms, sets every connection of the App.
    app = App(_with_async_commit(dsn, form), pool_max_size=2)

    @app.task(name="t")
    async def t(n: int) -> None: ...

    async with app:
        await t.enqueue(0)
        await t.enqueue(1)
        lane = app.repository.lane
        assert lane is not None
        await wait_for(lambda: _lane_open(lane), message="the lane open")
        await t.enqueue(2)
        assert tuple(await lane._conn.fetchrow(SYNCHRONOUS_COMMIT)) == ("off", "client")  # type: ignore[union-attr]
        async with app.repository.pool.acquire() as conn:
            assert tuple(await conn.fetchrow(SYNCHRONOUS_COMMIT)) == ("off", "client")
    assert await count_states(dsn) == {"queued": 3}
    # The server's own setting is untouched: another session has it from the server, not from
    # its client, its role or its database (the embedded test server may run with it off, so
    # its value is not checked).
    [(_, plain)] = await fetch(dsn, SYNCHRONOUS_COMMIT)
    assert plain in SERVER_WIDE
