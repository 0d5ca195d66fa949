"""The outcome writer's safety net (issue 8, item 1): a batch the database refuses is split so
that only the outcome it refuses fails, recorded as such (kind `outcome_rejected`, with the
database's message); a refusal that is not about any one outcome fails nothing.

The outcomes are written straight through the repository layer, past the executor's
validation, so the database really refuses a statement: no mock of PostgreSQL.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

import asyncpg
import pytest

from pgqueue import App
from pgqueue import _transitions as transitions
from pgqueue._clock import Clock
from pgqueue._outcome_writer import write_outcomes
from pgqueue._repository import OutcomeRow
from pgqueue._services.flusher import Flusher
from pgqueue.errors import DatabaseError
from tests.conftest import admin_execute
from tests.helpers import (
    count_states,
    fetch,
    fetchval,
    lose_claim,
    running_worker,
    wait_for,
)


async def claimed(app: App, n: int) -> tuple[str, list[int]]:
    @app.task(name="plain")
    async def plain() -> None:
        return None

    await app.enqueue_many([plain.job() for _ in range(n)])
    worker_id = str(uuid.uuid4())
    jobs = await app.repository.claim(["default"], n, worker_id)
    assert len(jobs) == n
    return worker_id, [j.id for j in sorted(jobs, key=lambda j: j.id)]


async def test_a_batch_the_database_refuses_is_split_so_only_the_bad_outcome_fails(
    app: App, dsn: str
) -> None:
    await app.open()
    worker_id, ids = await claimed(app, 7)
    bad = ids[4]
    rows = [OutcomeRow(i, 1, "succeeded", str(i), None, None) for i in ids if i != bad]
    # Written straight to the repository layer, past the executor's validation: a real
    # statement the database refuses ("interval out of range").
    rows.insert(4, OutcomeRow(bad, 1, "retrying", None, '{"kind": "retry"}', math.inf))
    rejected = await write_outcomes(app.repository, rows, worker_id)
    assert [r.job_id for r in rejected] == [bad]
    assert "interval out of range" in rejected[0].reason
    states = {
        r["id"]: (r["state"], r["result"])
        for r in await fetch(dsn, "SELECT id, state, result::text FROM pgqueue.jobs")
    }
    assert states == {i: ("dead", None) if i == bad else ("succeeded", str(i)) for i in ids}
    error = (await app.get_job(bad)).last_error
    assert error is not None
    assert error["kind"] == "outcome_rejected" and error["attempt"] == 1
    assert "interval out of range" in str(error["message"])
    assert "retrying" in str(error["message"])


async def test_a_refusal_that_is_not_about_the_outcome_fails_nothing(dsn: str) -> None:
    """A database that refuses every write (here: read-only) must not dead-letter jobs one by
    one: the error is raised for the flush loop to retry later, and nothing is written."""
    first = App(dsn)
    try:
        await first.open()
        worker_id, ids = await claimed(first, 3)
    finally:
        await first.close()
    database = dsn.rsplit("/", 1)[1]
    admin_execute(f"ALTER DATABASE {database} SET default_transaction_read_only = on")
    app = App(dsn)
    try:
        await app.open()
        rows = [OutcomeRow(i, 1, "succeeded", "1", None, None) for i in ids]
        with pytest.raises(DatabaseError, match="read-only"):
            await write_outcomes(app.repository, rows, worker_id)
    finally:
        await app.close()
        admin_execute(f"ALTER DATABASE {database} RESET default_transaction_read_only")
    assert await count_states(dsn) == {"running": 3}


async def test_an_outcome_whose_claim_was_lost_is_dropped_when_the_job_is_claimed_again(
    app: App, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/reliability.md, "Claims commit asynchronously": after a crash of PostgreSQL lost a
    claim, its job is queued again with the attempt uncounted, and this worker may claim it
    again under the same attempt number. The outcome of the attempt that ran under the lost
    claim, still unwritten, must not be taken for the new attempt's: the job's result is the
    second run's. The lost claim is made by hand (the row as a crash leaves it), while the
    first outcome waits in the flusher (a flush interval of 60 s; the stop writes it)."""
    runs: list[int] = []
    first_ran = asyncio.Event()

    @app.task(name="counted")
    async def counted() -> int:
        runs.append(len(runs) + 1)
        first_ran.set()
        return len(runs)

    job = await counted.enqueue()
    async with running_worker(app, completion_flush_interval=60) as worker:
        await asyncio.wait_for(first_ran.wait(), 10)
        # The first outcome is buffered, not written (the flusher waits 60 s).
        await wait_for(lambda: bool(buffered(worker)), message="the first outcome")
        assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job) == (
            "running"
        )
        await lose_claim(dsn, job)
        await wait_for(lambda: len(runs) == 2, message="the job to run again")
    row = (await fetch(dsn, "SELECT state, attempts, result FROM pgqueue.jobs"))[0]
    assert (row["state"], row["attempts"], row["result"]) == ("succeeded", 1, "2")
    dropped = [r for r in caplog.records if "that attempt's claim was lost" in r.getMessage()]
    assert [getattr(r, "job_id", None) for r in dropped] == [job]


def buffered(worker: Any) -> list[Any]:
    """The worker's outcomes not written yet (its flusher's list)."""
    return list(worker._outcomes)


async def test_forget_leaves_the_outcomes_a_statement_under_way_holds(app: App, dsn: str) -> None:
    """Flusher.forget drops only the outcomes behind the batch being written: that statement is
    on its way (it cannot be recalled), and the flush removes exactly its batch afterwards."""
    await app.open()
    worker_id, [first, second] = await claimed(app, 2)
    pending = [transitions.succeeded(first, 1, "1"), transitions.succeeded(second, 1, "2")]
    flusher = Flusher(
        app.repository,
        worker_id,
        pending=pending,
        wake=asyncio.Event(),
        batch_size=1,
        flush_interval=60,
        clock=Clock(),
        on_written=lambda: None,
        on_rejected=lambda _count: None,
        database_answered=asyncio.Event(),
    )
    blocker = await asyncpg.connect(dsn)
    try:
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("SELECT 1 FROM pgqueue.jobs WHERE id = $1 FOR UPDATE", first)
        writing = asyncio.create_task(flusher.run_once())  # the first outcome, held by the lock
        await wait_for(
            lambda: lock_waits(dsn), message="the outcome's statement waiting on the row lock"
        )
        forgotten = flusher.forget({first, second})
        await lock.rollback()
        await asyncio.wait_for(writing, 10)
    finally:
        await blocker.close()
    assert [t.job_id for t in forgotten] == [second]
    assert pending == []
    states = {r["id"]: r["state"] for r in await fetch(dsn, "SELECT id, state FROM pgqueue.jobs")}
    assert states == {first: "succeeded", second: "running"}


async def lock_waits(dsn: str) -> bool:
    return bool(
        await fetchval(
            dsn,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
    )
