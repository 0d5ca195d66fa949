"""The outcome writer's safety net (issue 8, item 1): a batch the database refuses is split so
that only the outcome it refuses fails, recorded as such (kind `outcome_rejected`, with the
database's message); a refusal that is not about any one outcome fails nothing.

The outcomes are written straight through the repository layer, past the executor's
validation, so the database really refuses a statement: no mock of PostgreSQL.
"""

from __future__ import annotations

import math
import uuid

import pytest

from pgqueue import App
from pgqueue._outcome_writer import write_outcomes
from pgqueue._repository import OutcomeRow
from pgqueue.errors import DatabaseError
from tests.conftest import admin_execute
from tests.helpers import count_states, fetch


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
