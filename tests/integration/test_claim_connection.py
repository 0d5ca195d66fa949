"""The worker's claim connection (pgqueue/_repository/claim_connection.py): the plain claims run
on one pool connection the fetch loop holds, with generic plans forced on it, so each claim
statement is planned once instead of at every call; the connection goes back to the pool with
its setting reset; one the server dropped is replaced; a small pool or a transaction pooler
keeps the claims on the pool."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import asyncpg
import pytest

from pgqueue import App
from pgqueue._repository import ClaimConnection, create_pool
from pgqueue._repository.claim_connection import _open
from pgqueue._sql import query
from tests.helpers import count_states, running_worker, wait_for

PLANS = (
    "SELECT coalesce(sum(generic_plans), 0) AS generic, coalesce(sum(custom_plans), 0) AS custom,"
    " current_setting('plan_cache_mode') AS mode "
    "FROM pg_prepared_statements WHERE statement = ANY($1::text[])"
)
CLAIMS = [query("job_claim"), query("job_claim_after")]


def watch_claims(app: App, seen: list[dict[str, Any]]) -> None:
    """After every plain claim (the full one and the bounded one the claim cursor sends between
    full claims), the plan counts of both claim statements on the connection it ran on, read
    there by the fetch loop itself (a claim connection serves one call at a time)."""
    repository = app.repository
    full, bounded = repository.claim, repository.claim_after

    async def counted(jobs: Any, via: dict[str, Any]) -> Any:
        connection = via.get("via")
        on = repository.pool if connection is None else connection
        [row] = await on.fetch(PLANS, CLAIMS)
        seen.append({"via": connection, **dict(row)})
        return jobs

    @functools.wraps(full)
    async def claim(queues: Any, limit: int, worker_id: str, **via: Any) -> Any:
        return await counted(await full(queues, limit, worker_id, **via), via)

    @functools.wraps(bounded)
    async def claim_after(queues: Any, limit: int, worker_id: str, keys: Any, **via: Any) -> Any:
        return await counted(await bounded(queues, limit, worker_id, keys, **via), via)

    repository.claim = claim  # type: ignore[method-assign]
    repository.claim_after = claim_after  # type: ignore[method-assign]


async def test_a_workers_claims_are_planned_once_on_its_claim_connection(
    app: App, dsn: str
) -> None:
    @app.task(name="t")
    async def t(n: int) -> None: ...

    await app.open()
    seen: list[dict[str, Any]] = []
    watch_claims(app, seen)
    async with running_worker(app, concurrency=1, prefetch=0) as worker:
        for n in range(12):  # one job, one claim at a time
            await t.enqueue(n)
            await wait_for(lambda n=n: _succeeded(dsn, n + 1), message=f"{n + 1} jobs done")
        claims = worker._serving.claims  # type: ignore[union-attr]
        assert claims is not None
    pool = app.repository.pool
    assert pool.get_size() == pool.get_idle_size()  # the stopped worker gave its connection back
    assert await count_states(dsn) == {"succeeded": 12}
    assert len(seen) >= 12
    assert {id(s["via"]) for s in seen} == {id(claims)}  # every claim on the one connection
    last = seen[-1]
    assert last["mode"] == "force_generic_plan"
    assert last["custom"] == 0  # planned once per statement, generic, never again per call
    assert last["generic"] == len(seen)


async def _succeeded(dsn: str, n: int) -> bool:
    return (await count_states(dsn)).get("succeeded", 0) >= n


async def test_the_claim_connection_goes_back_to_the_pool_with_its_setting_undone(
    dsn: str,
) -> None:
    """pgqueue's pool skips asyncpg's RESET ALL on release: the claim connection undoes its own
    setting, on the same backend when it is healthy."""
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        claims = ClaimConnection(pool)
        assert await claims.fetch("SHOW plan_cache_mode") == [("force_generic_plan",)]
        pid = (await claims.fetch("SELECT pg_backend_pid()"))[0][0]
        await claims.close()
        # The pool's only connection, the same backend, is back at PostgreSQL's default.
        assert await pool.fetchval("SELECT pg_backend_pid()") == pid
        assert await pool.fetchval("SHOW plan_cache_mode") == "auto"
    finally:
        await pool.close()


async def test_a_claim_connection_whose_call_failed_never_goes_back_with_its_setting(
    dsn: str,
) -> None:
    """A call cut short (here by a timeout: the connection may be mid-statement) ends that
    backend; the pool serves from a new one, at the default."""
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        claims = ClaimConnection(pool)
        pid = (await claims.fetch("SELECT pg_backend_pid()"))[0][0]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(claims.fetch("SELECT pg_sleep(30)"), 0.5)
        # Its cancel reached the server before the socket closed: the backend is gone at once,
        # not after the statement (a claim would have committed meanwhile).
        await wait_for(lambda: _gone(pool, pid), timeout=10, message="the old backend gone")
        assert await pool.fetchval("SELECT pg_backend_pid()") != pid
        assert await pool.fetchval("SHOW plan_cache_mode") == "auto"
        await claims.close()
    finally:
        await pool.close()


async def test_a_bad_statement_keeps_the_claim_connection(dsn: str) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        claims = ClaimConnection(pool)
        pid = (await claims.fetch("SELECT pg_backend_pid()"))[0][0]
        with pytest.raises(asyncpg.DivisionByZeroError):
            await claims.fetch("SELECT 1 / 0")
        assert (await claims.fetch("SELECT pg_backend_pid()"))[0][0] == pid
        await claims.close()
    finally:
        await pool.close()


async def test_close_waits_for_the_claim_under_way_then_refuses_calls(dsn: str) -> None:
    """Handed back mid-claim, the connection would go back to the pool with the claim's answer
    still to come: close() waits for it, and calls after close() raise."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        claims = ClaimConnection(pool)
        call = asyncio.ensure_future(claims.fetch("SELECT 1 FROM pg_sleep(0.5)"))
        await wait_for(lambda: _sleeping(pool), message="the call under way on the server")
        await claims.close()
        assert call.done()
        assert await call == [(1,)]
        with pytest.raises(asyncpg.InterfaceError):
            await claims.fetch("SELECT 1")
        assert pool.get_size() == pool.get_idle_size()
    finally:
        await pool.close()


async def test_a_close_cancelled_while_it_waits_still_gives_the_connection_back(dsn: str) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        claims = ClaimConnection(pool)
        call = asyncio.ensure_future(claims.fetch("SELECT 1 FROM pg_sleep(0.5)"))
        await wait_for(lambda: _sleeping(pool), message="the call under way on the server")
        closing = asyncio.ensure_future(claims.close())
        await asyncio.sleep(0)  # one turn: close() now waits for the call
        closing.cancel()
        assert await call == [(1,)]
        await wait_for(lambda: pool.get_size() == pool.get_idle_size(), message="given back")
        assert await pool.fetchval("SHOW plan_cache_mode") == "auto"
    finally:
        await asyncio.wait_for(pool.close(), 10)  # a connection still held would hang it


async def _sleeping(pool: asyncpg.Pool) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%FROM pg_sleep(0.5)' AND pid <> pg_backend_pid() "
            "AND datname = current_database()"
        )
    )


async def _gone(pool: asyncpg.Pool, pid: int) -> bool:
    return not await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)


async def test_a_claim_connection_the_server_dropped_while_idle_is_replaced_at_once(
    dsn: str,
) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        claims = ClaimConnection(pool)
        pid = (await claims.fetch("SELECT pg_backend_pid()"))[0][0]
        assert await pool.fetchval("SELECT pg_terminate_backend($1)", pid) is True
        held = claims._conn
        await wait_for(lambda: not _open(held), message="the dropped connection seen closed")
        # No failed call first: the next one takes another connection, with the setting.
        assert await claims.fetch("SHOW plan_cache_mode") == [("force_generic_plan",)]
        assert (await claims.fetch("SELECT pg_backend_pid()"))[0][0] != pid
        await claims.close()
    finally:
        await pool.close()


async def test_a_workers_claim_connection_the_server_dropped_is_replaced(
    app: App, dsn: str
) -> None:

    @app.task(name="t")
    async def t(n: int) -> None: ...

    await app.open()
    async with running_worker(app) as worker:
        await t.enqueue(0)
        await wait_for(lambda: _succeeded(dsn, 1), message="the first job done")
        claims = worker._serving.claims  # type: ignore[union-attr]
        assert claims is not None
        pid = claims._conn.get_server_pid()  # type: ignore[union-attr]
        async with app.repository.pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid) is True
        for n in range(1, 21):
            await t.enqueue(n)
        await wait_for(lambda: _succeeded(dsn, 21), message="21 jobs done after the drop")
        assert claims._conn is not None
        assert claims._conn.get_server_pid() != pid
    assert await count_states(dsn) == {"succeeded": 21}


@pytest.mark.parametrize(
    ("settings", "held"),
    [
        ({}, True),
        ({"pool_max_size": 4}, True),  # the lane takes one: a pool of 3 lends one, keeps two
        ({"pool_max_size": 3}, False),  # a pool of 2 keeps both
        ({"pooler": "transaction"}, False),
    ],
)
async def test_only_a_pool_with_room_and_session_state_lends_a_claim_connection(
    dsn: str, settings: dict[str, Any], held: bool
) -> None:
    async with App(dsn, **settings) as app:
        await app.open()
        claims = app.repository.lend_claim_connection()
        assert (claims is not None) is held
        if claims is not None:
            await claims.close()


async def test_workers_on_one_app_leave_two_pool_connections_unlent(dsn: str) -> None:
    async with App(dsn, pool_max_size=6) as app:  # the lane takes one: a pool of 5
        await app.open()
        repository = app.repository
        lent = [repository.lend_claim_connection() for _ in range(3)]
        assert None not in lent
        assert repository.lend_claim_connection() is None  # a fourth would leave one
        await lent[0].close()  # type: ignore[union-attr]
        again = repository.lend_claim_connection()
        assert again is not None
        assert len(repository.lent) == 3


async def test_an_app_closed_under_a_running_worker_takes_its_claim_connection_back(
    dsn: str,
) -> None:
    """asyncpg's pool waits for every held connection before it closes: the App's close hands
    the worker's claim connection back first instead of waiting for ever."""
    app = App(dsn)
    await app.open()
    worker = app.worker(poll_interval=0.2)
    await worker.start()
    try:
        await wait_for(lambda: _holding(worker), message="the first claim took its connection")
        await asyncio.wait_for(app.close(), 10)
    finally:
        await worker.stop(timeout=1)


def _holding(worker: Any) -> bool:
    claims = worker._serving.claims
    return claims is not None and claims._conn is not None
