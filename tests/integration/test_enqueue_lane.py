"""The enqueue lane (pgqueue/_repository/driver.py, `Lane`): single enqueues made one after
another run on one connection of their own, without the pool's acquire and release; the App
still holds at most `pool_max_size` connections; concurrent enqueues fall back to the pool; a
connection the server dropped is replaced; `close()` closes it."""

from __future__ import annotations

import asyncio

from pgqueue import App
from tests.helpers import count_states, fetchval, wait_for

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
