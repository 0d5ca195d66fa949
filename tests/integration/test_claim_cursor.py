"""The plain claim's keyset bound (pgqueue/_claim_cursor.py, job_claim_after.sql, docs/worker.md
"Claims while the xmin horizon is held"): the bounded claim takes exactly the jobs after the key,
in claim order; a job ahead of the cursor waits for the next full claim, which comes within the
interval; and with a REPEATABLE READ snapshot held open in another connection, the bounded claim
reads a few buffers where the full one walks every job claimed since the snapshot began."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from pgqueue import App
from pgqueue._claim_cursor import ClaimCursor
from pgqueue._clock import ManualClock
from pgqueue._job import ClaimedJob, ClaimKey
from pgqueue._sql import query
from tests.helpers import fetch, fetchval

WORKER = "00000000-0000-0000-0000-000000000001"

# (priority, run_at offset in seconds from a fixed start): 'default' gets these, 'other' two jobs.
JOBS = [(2, 0), (2, 1), (1, 0), (1, 1), (1, 1), (1, 2), (0, 0), (0, 3)]


INSERT = """
INSERT INTO pgqueue.jobs (task, queue, priority, state, run_at)
SELECT $1, $2, p, 'queued', '2026-01-01T00:00:00Z'::timestamptz + s * interval '1 s'
FROM unnest($3::integer[], $4::float8[]) WITH ORDINALITY AS u(p, s, n)
ORDER BY n
RETURNING id
"""


async def insert(dsn: str, queue: str, jobs: list[tuple[int, float]], task: str = "t") -> list[int]:
    """Queued jobs with the given priorities and run_at (seconds after 2026-01-01), ids in the
    order given."""
    rows = await fetch(dsn, INSERT, task, queue, [p for p, _ in jobs], [s for _, s in jobs])
    return sorted(r["id"] for r in rows)


async def key_of(dsn: str, job_id: int) -> ClaimKey:
    [row] = await fetch(dsn, "SELECT priority, run_at, id FROM pgqueue.jobs WHERE id = $1", job_id)
    return ClaimKey(row["priority"], row["run_at"], row["id"])


async def states(dsn: str) -> dict[int, str]:
    rows = await fetch(dsn, "SELECT id, state FROM pgqueue.jobs")
    return {r["id"]: r["state"] for r in rows}


async def test_the_bounded_claim_takes_exactly_the_jobs_after_the_key_in_claim_order(
    app: App, dsn: str
) -> None:
    ids = await insert(dsn, "default", JOBS)
    others = await insert(dsn, "other", [(0, 5), (3, 9)])
    await app.open()
    # Key: the 4th job of 'default' in claim order, (1, +1s, ids[3]); ids[4] ties on
    # (priority, run_at) and comes after it by id.
    key = await key_of(dsn, ids[3])
    jobs = in_claim_order(
        await app.repository.claim_after(["default", "other"], 100, WORKER, {"default": key})
    )
    # After the key in 'default': ids[4], ids[5], then priority 0; 'other' (no key) from its
    # head; all in claim order (priority DESC, run_at, id) across the queues.
    assert [j.id for j in jobs] == [others[1], ids[4], ids[5], ids[6], ids[7], others[0]]
    assert [j.claim_key for j in jobs] == [await key_of(dsn, j.id) for j in jobs]
    assert await states(dsn) == {
        **dict.fromkeys(ids[:4], "queued"),
        **dict.fromkeys([*ids[4:], *others], "running"),
    }
    # The limit holds across the branches: 2 of what is after the key, in order.
    more = await insert(dsn, "default", [(1, 5), (0, 1)])
    jobs = await app.repository.claim_after(["default"], 2, WORKER, {"default": key})
    assert sorted(j.id for j in jobs) == [more[0], more[1]]
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'queued'") == 4


def in_claim_order(jobs: list[ClaimedJob]) -> list[ClaimedJob]:
    """The claims return their rows in the UPDATE's order: sorted by claim key here."""
    return sorted(jobs, key=lambda j: (-j.priority, j.run_at, j.id))


def worker_with(app: App, clock: ManualClock) -> Any:
    """A worker that is not started, its plain claim driven by hand; every full claim counts as
    slow (the threshold is 0 s), so the one after it is bounded."""
    worker = app.worker(clock=clock, queues=["default"])
    worker._cursor = ClaimCursor(clock, slow_after=0.0, full_every=1.0)
    return worker


async def test_a_job_ahead_of_the_cursor_is_claimed_by_the_next_full_claim(
    app: App, dsn: str
) -> None:
    ids = await insert(dsn, "default", [(0, n) for n in range(10)])
    await app.open()
    clock = ManualClock()
    worker = worker_with(app, clock)
    first = await worker._claim_plain(app.repository, 3)  # full: slow, so bounded after it
    assert sorted(j.id for j in first) == ids[:3]
    assert worker._cursor.keys == {"default": await key_of(dsn, ids[2])}
    urgent, late = await insert(dsn, "default", [(5, 20), (0, -1)], task="ahead")
    bounded = await worker._claim_plain(app.repository, 3)  # before the interval: bounded
    assert sorted(j.id for j in bounded) == ids[3:6]
    assert (await states(dsn))[urgent] == "queued"
    assert (await states(dsn))[late] == "queued"
    clock.advance(0.999)
    bounded = await worker._claim_plain(app.repository, 1)
    assert [j.id for j in bounded] == [ids[6]]
    clock.advance(0.001)  # the full claim is due: the jobs ahead of the cursor first
    full = await worker._claim_plain(app.repository, 3)
    assert [j.id for j in in_claim_order(full)] == [urgent, late, ids[7]]
    assert worker._cursor.keys == {"default": await key_of(dsn, ids[7])}
    # A full claim faster than the threshold ends the bounded claims.
    worker._cursor.slow_after = 1.0
    await insert(dsn, "default", [(9, 30)], task="ahead")
    clock.advance(1.0)
    [job] = await worker._claim_plain(app.repository, 1)
    assert job.priority == 9 and not worker._cursor.bounded
    assert worker._cursor.bound() is None


async def test_burst_mode_and_put_back_jobs_make_the_next_claim_a_full_one(
    app: App, dsn: str
) -> None:
    ids = await insert(dsn, "default", [(0, n) for n in range(4)])
    await app.open()
    clock = ManualClock()
    worker = worker_with(app, clock)
    await worker._claim_plain(app.repository, 2)
    assert worker._cursor.bound() is not None
    await fetchval(dsn, "UPDATE pgqueue.jobs SET state = 'queued' WHERE id = $1", ids[0])
    worker._cursor.expire()  # what release_unclaimed and burst mode's last claim do
    assert worker._cursor.bound() is None
    [job] = await worker._claim_plain(app.repository, 1)
    assert job.id == ids[0]


async def explain(conn: asyncpg.Connection, name: str, params: str, args: str) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the prepared query in a rolled-back transaction."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(f"PREPARE {name}({params}) AS {query(name)}")
        raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}({args})")
    finally:
        await tx.rollback()
        await conn.execute("DEALLOCATE ALL")
    plan: dict[str, Any] = json.loads(raw)[0]["Plan"]
    return plan


def buffers(plan: dict[str, Any]) -> int:
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


def claim_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Index Name") == "jobs_claim_idx" else []
    for child in plan.get("Plans", []):
        found += claim_scans(child)
    return found


def literal(when: datetime) -> str:
    return f"'{when.isoformat()}'"


async def test_with_a_snapshot_held_the_bounded_claim_skips_the_dead_head(
    app: App, dsn: str
) -> None:
    claimed_n, live_n = 3000, 10
    await app.open()
    holder = await asyncpg.connect(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        # A REPEATABLE READ snapshot, open while the jobs are claimed: the entries of the claimed
        # jobs in jobs_claim_idx may not be removed (nor marked dead) while it lasts.
        await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await holder.fetchval("SELECT count(*) FROM pgqueue.jobs")
        await insert(dsn, "default", [(0, n) for n in range(claimed_n)])
        last = None
        for _ in range(claimed_n // 100):
            jobs = await app.repository.claim(["default"], 100, WORKER)
            last = in_claim_order(jobs)[-1]
        assert last is not None and last.claim_key is not None
        live = await insert(dsn, "default", [(0, claimed_n + n) for n in range(live_n)])
        key = last.claim_key
        full = await explain(
            conn, "job_claim", "text[], integer, uuid", f"'{{default}}', 10, '{WORKER}'"
        )
        bounded = await explain(
            conn,
            "job_claim_after",
            "text[], integer, uuid, integer[], timestamptz[], bigint[]",
            f"'{{default}}', 10, '{WORKER}', ARRAY[{key.priority}], "
            f"ARRAY[{literal(key.run_at)}]::timestamptz[], ARRAY[{key.id}]::bigint[]",
        )
        # Both claim the same 10 live jobs (exact: the rows each index scan returned)...
        [full_scan] = claim_scans(full)
        assert full_scan["Actual Rows"] == live_n
        after_key = [s for s in claim_scans(bounded) if s.get("Actual Loops")]
        assert sum(s["Actual Rows"] for s in after_key) == live_n
        # ...but the full claim visits the heap for each of the 3,000 dead entries at the head
        # (several per page: at least one buffer per page of them), the bounded one starts
        # after them.
        full_read = buffers(full_scan)
        bounded_read = sum(buffers(s) for s in after_key)
        assert full_read >= claimed_n // 100  # at least one per heap page of claimed jobs
        assert bounded_read <= 10  # a descent of the index and the 10 live jobs' pages
        assert full_read > 10 * bounded_read, (full_read, bounded_read)
        assert (
            await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'queued'")
            == live_n
        )
        assert sorted(live) == sorted(
            r["id"] for r in await fetch(dsn, "SELECT id FROM pgqueue.jobs WHERE state = 'queued'")
        )
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()
        await conn.close()
