"""Flow control (docs/limits.md): concurrency and rate limits per task, per (task, key) and per
queue hold across workers because the claim enforces them; limited jobs never hold up unlimited
ones; a cancel, a graceful stop or a dead worker's rescue frees the slot. Counts come from the
task bodies' own start and end times and from the rows."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pgqueue import App
from tests.fault_app import open_gate, read_runs
from tests.faults_support import worker_id, worker_process
from tests.helpers import all_finished, fetch, fetchval, running_worker, wait_for
from tests.limits_app import build_app as build_limits_app

Span = tuple[float, float]


def most_at_once(spans: list[Span]) -> int:
    """The most spans open at one moment (an end before a start at the same instant)."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def most_in_a_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    return max(sum(1 for t in starts[i:] if t < first + window) for i, first in enumerate(starts))


def spanned_task(
    app: App,
    spans: list[Span],
    *,
    name: str = "limited",
    seconds: float = 0.01,
    ran_in: list[App] | None = None,
    **limits: Any,
) -> Any:
    @app.task(name=name, **limits)
    async def body(i: int) -> None:
        start = time.monotonic()
        await asyncio.sleep(seconds)
        spans.append((start, time.monotonic()))
        if ran_in is not None:
            ran_in.append(app)

    return body


async def states_by_key(dsn: str) -> dict[tuple[str, str | None], int]:
    rows = await fetch(
        dsn, "SELECT state, limit_key, count(*) AS n FROM pgqueue.jobs GROUP BY state, limit_key"
    )
    return {(r["state"], r["limit_key"]): r["n"] for r in rows}


@pytest.fixture
async def second_app(dsn: str) -> AsyncIterator[App]:
    other = App(dsn)
    try:
        yield other
    finally:
        await other.close()


async def test_concurrency_limit_holds_across_two_workers(
    dsn: str, app: App, second_app: App
) -> None:
    spans: list[Span] = []
    ran_in: list[App] = []
    task = spanned_task(app, spans, concurrency_limit=2, ran_in=ran_in)
    spanned_task(second_app, spans, concurrency_limit=2, ran_in=ran_in)
    async with (
        running_worker(app, concurrency=10),
        running_worker(second_app, concurrency=10),
    ):
        await app.enqueue_many([task.job(i) for i in range(100)])
        await wait_for(lambda: all_finished(dsn, 100), 60, message="100 limited jobs")
    assert len(spans) == 100
    assert most_at_once(spans) == 2
    assert await states_by_key(dsn) == {("succeeded", None): 100}
    # Both workers claim (their claims take turns on one lock); whichever finishes a job claims
    # the next at once, so one of them may run them all: the limit is the point, not the share.
    assert len(ran_in) == 100


@pytest.mark.slow
async def test_rate_limit_holds_across_two_workers(dsn: str, app: App, second_app: App) -> None:
    spans: list[Span] = []
    task = spanned_task(app, spans, seconds=0.0, rate_limit="20/s")
    spanned_task(second_app, spans, seconds=0.0, rate_limit="20/s")
    async with (
        running_worker(app, concurrency=10),
        running_worker(second_app, concurrency=10),
    ):
        began = time.monotonic()
        await app.enqueue_many([task.job(i) for i in range(100)])
        await wait_for(lambda: all_finished(dsn, 100), 30, message="100 rate-limited jobs")
        took = time.monotonic() - began
    # 20/s with a burst of 2 (docs/limits.md): 2 at once, then one every 50 ms: 4.9 s.
    print(f"100 jobs at 20/s over two workers took {took:.2f}s")
    assert 4.5 <= took <= 7.0, f"100 jobs at 20/s took {took:.2f}s"
    # The claim's own times (started_at, the claim's now(), the clock its bucket refills by):
    # a start the worker's event loop noticed late on a busy machine put 23 in a second of the
    # workers' clocks once, with no claim past the bucket.
    rows = await fetch(dsn, "SELECT started_at FROM pgqueue.jobs")
    starts = [r["started_at"].timestamp() for r in rows]
    assert len(starts) == len(spans) == 100
    assert most_in_a_window(starts, 1.0) <= 22  # 20 a second and the burst, never more


async def test_each_key_gets_its_own_limit(dsn: str, app: App) -> None:
    release = asyncio.Event()

    @app.task(name="per_tenant", concurrency_limit=1)
    async def per_tenant(i: int) -> None:
        await release.wait()

    async with running_worker(app, concurrency=10):
        # Key a first and running: the others, enqueued later, must not count it as theirs.
        await app.enqueue_many([per_tenant.using(limit_key="a").job(i) for i in range(2)])
        await wait_for(
            lambda: fetchval(dsn, "SELECT count(*) = 1 FROM pgqueue.jobs WHERE state = 'running'"),
            message="one job of key a running",
        )
        later = [per_tenant.using(limit_key="b").job(i) for i in range(2)]
        await app.enqueue_many([*later, per_tenant.job(5), per_tenant.job(6)])

        async def three_running() -> bool:
            return (await states_by_key(dsn)).get(("running", "a")) == 1 and sum(
                n for (state, _), n in (await states_by_key(dsn)).items() if state == "running"
            ) == 3

        await wait_for(three_running, message="one job per key running")
        # One per key and one of the jobs without a key: each its own group of one.
        assert await states_by_key(dsn) == {
            ("running", "a"): 1,
            ("running", "b"): 1,
            ("running", None): 1,
            ("queued", "a"): 1,
            ("queued", "b"): 1,
            ("queued", None): 1,
        }
        stats = await app.repository.limit_stats()
        assert [(s["key"], s["running"], s["waiting"], s["concurrency_limit"]) for s in stats] == [
            ("", 1, 1, 1),
            ("a", 1, 1, 1),
            ("b", 1, 1, 1),
        ]
        release.set()
        await wait_for(lambda: all_finished(dsn, 6), message="all six")


async def test_a_queue_limit_counts_every_task_of_the_queue(dsn: str, app: App) -> None:
    spans: list[Span] = []
    app.queue("narrow", concurrency_limit=1)
    first = spanned_task(app, spans, name="first")
    second = spanned_task(app, spans, name="second")
    jobs = [t.using(queue="narrow").job(i) for i in range(10) for t in (first, second)]
    async with running_worker(app, concurrency=10, queues=["narrow"]):
        await app.enqueue_many(jobs)
        await wait_for(lambda: all_finished(dsn, 20), message="20 jobs of the narrow queue")
    assert most_at_once(spans) == 1


async def test_unlimited_jobs_pass_limited_ones_waiting_at_their_limit(dsn: str, app: App) -> None:
    release = asyncio.Event()

    @app.task(name="held", concurrency_limit=1)
    async def held(i: int) -> None:
        await release.wait()

    @app.task(name="free")
    async def free(i: int) -> None:
        return None

    async with running_worker(app, concurrency=4):
        await app.enqueue_many([held.job(i) for i in range(50)])
        await wait_for(
            lambda: fetchval(dsn, "SELECT count(*) = 1 FROM pgqueue.jobs WHERE state = 'running'"),
            message="the one limited job running",
        )
        ids = await app.enqueue_many([free.job(i) for i in range(30)])
        n = await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE NOT limited")
        assert n == 30
        await wait_for(
            lambda: fetchval(
                dsn,
                "SELECT count(*) = 30 FROM pgqueue.jobs WHERE id = ANY($1) AND state = 'succeeded'",
                ids,
            ),
            message="the unlimited jobs, past the 49 waiting limited ones",
        )
        assert await states_by_key(dsn) == {
            ("running", None): 1,
            ("queued", None): 49,
            ("succeeded", None): 30,
        }
        release.set()


async def test_a_cancel_and_a_graceful_stop_free_the_slot(dsn: str, app: App) -> None:
    started: list[int] = []

    @app.task(name="slow", concurrency_limit=1)
    async def slow(i: int) -> None:
        started.append(i)
        await asyncio.sleep(60)

    async with running_worker(app, concurrency=4, stop_timeout=0.2):
        first, second, third = await app.enqueue_many([slow.job(i) for i in range(3)])
        await wait_for(lambda: started == [0], message="the first job running")
        await app.cancel(first)
        await wait_for(
            lambda: started == [0, 1], message="the second job, once the first is cancelled"
        )
    # The stop interrupted the second job: back in the queue, not running.
    rows = {r["id"]: r["state"] for r in await fetch(dsn, "SELECT id, state FROM pgqueue.jobs")}
    assert rows == {first: "cancelled", second: "queued", third: "queued"}
    async with running_worker(app, concurrency=4, stop_timeout=0.2):
        await wait_for(lambda: len(started) == 3, message="a new worker takes the freed slot")
        assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'") == 1


async def test_two_claims_at_the_same_moment_never_exceed_the_limit(dsn: str, app: App) -> None:
    """Two limited claims: the second runs while the first's transaction is still open (its
    claims not committed). It must not see "2 slots free" in its snapshot and take two more."""

    @app.task(name="pair", concurrency_limit=2)
    async def pair(i: int) -> None:
        return None

    async with app:
        await app.repository.register_limits(app.registry.limit_rows(), [], [])
        await app.enqueue_many([pair.job(i) for i in range(10)])
    claim = "SELECT id, wait_seconds FROM pgqueue.claim_limited('{default}', 10, gen_random_uuid())"
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        async with first.transaction():
            taken = await first.fetch(claim)
            assert len([r for r in taken if r["id"] is not None]) == 2
            meanwhile = await second.fetch(claim)
            # Busy: no job, and a hint to try again soon.
            assert [(r["id"], r["wait_seconds"]) for r in meanwhile] == [(None, 0.02)]
        after = await second.fetch(claim)
        assert [r["id"] for r in after if r["id"] is not None] == []
    finally:
        await first.close()
        await second.close()
    assert await states_by_key(dsn) == {("running", None): 2, ("queued", None): 8}


async def test_a_rate_lets_its_burst_start_then_one_job_per_interval(dsn: str, app: App) -> None:
    """10/m: a burst of 1 (a tenth), then one every 6 s. The claim takes the token and says when
    the next one comes; nothing waits on a claimed job."""

    @app.task(name="metered", rate_limit="10/m")
    async def metered(i: int) -> None:
        return None

    async with app:
        await app.repository.register_limits(app.registry.limit_rows(), [], [])
        await app.enqueue_many([metered.job(i) for i in range(3)])
    claim = "SELECT id, wait_seconds FROM pgqueue.claim_limited('{default}', 10, gen_random_uuid())"
    conn = await asyncpg.connect(dsn)
    try:
        first = await conn.fetch(claim)
        second = await conn.fetch(claim)
        tokens = await conn.fetchval("SELECT tokens FROM pgqueue.limit_buckets")
    finally:
        await conn.close()
    assert [r["id"] is not None for r in first] == [True, False]  # one job, then the hint
    assert 5.5 < first[1]["wait_seconds"] <= 6.0
    [(none, wait)] = [(r["id"], r["wait_seconds"]) for r in second]
    assert none is None and 5.5 < wait <= 6.0
    assert 0 <= tokens < 0.1  # the one token taken; a few ms of refill since
    assert await states_by_key(dsn) == {("running", None): 1, ("queued", None): 2}


@pytest.mark.slow
async def test_a_killed_workers_limited_job_is_rescued_and_its_slot_not_lost(
    dsn: str, tmp_path: Path
) -> None:
    runs, gate = tmp_path / "runs.jsonl", tmp_path / "gate"
    fast = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "2", "--poll-interval", "0.2"]
    spec = "tests.limits_app:app"
    async with build_limits_app(dsn) as producer:
        request = producer.request("one_at_a_time", kwargs={"runs": str(runs), "gate": str(gate)})
        first = (await producer.enqueue_many([request]))[0]
        async with worker_process(dsn, fast, tmp_path / "a.log", app_spec=spec) as a:
            await worker_id(dsn, a.pid)
            await wait_for(lambda: any(r["job"] == first for r in read_runs(runs)), 30)
            rest = await producer.enqueue_many([request, request])
            async with worker_process(dsn, fast, tmp_path / "b.log", app_spec=spec) as b:
                await worker_id(dsn, b.pid)
                a.send(signal.SIGKILL)
                assert await a.wait_exit(15) == -signal.SIGKILL
                open_gate(gate)
                await wait_for(lambda: all_finished(dsn, 3), 30, message="rescue, then the rest")
    rows = {
        r["id"]: (r["state"], r["attempts"])
        for r in await fetch(dsn, "SELECT id, state, attempts FROM pgqueue.jobs")
    }
    assert rows == {first: ("succeeded", 2), rest[0]: ("succeeded", 1), rest[1]: ("succeeded", 1)}
    # One at a time throughout, the rescued attempt included: no start before the last end.
    starts, ends = read_runs(runs), read_runs(runs, "end")
    assert len(starts) == 4 and len(ends) == 3
    later = sorted(starts, key=lambda r: r["at"])[1:]
    for run, previous_end in zip(later[1:], sorted(e["at"] for e in ends), strict=False):
        assert run["at"] >= previous_end


async def test_limits_are_visible_in_status_metrics_and_sql(dsn: str, app: App) -> None:
    """`pgqueue status` (table and JSON), the worker's metrics and a plain SQL enqueue with
    limit_key => ... all see the same limits."""
    from tests.integration.test_ops_cli import cli, cli_json
    from tests.integration.test_ops_metrics import sample, scrape

    release = asyncio.Event()

    @app.task(name="charge", concurrency_limit=1, rate_limit="100/m")
    async def charge() -> None:
        await release.wait()

    worker = app.worker(
        metrics_port=0, metrics_host="127.0.0.1", metrics_interval=0.1, poll_interval=0.2
    )
    await worker.start()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            ids = [
                await conn.fetchval("SELECT pgqueue.enqueue('charge', limit_key => 'tenant-42')")
                for _ in range(3)
            ]
            rows = await conn.fetch(
                "SELECT limit_key, limited FROM pgqueue.jobs WHERE id = ANY($1)", ids
            )
        finally:
            await conn.close()
        assert {(r["limit_key"], r["limited"]) for r in rows} == {("tenant-42", True)}
        await wait_for(
            lambda: fetchval(dsn, "SELECT count(*) = 1 FROM pgqueue.jobs WHERE state = 'running'"),
            message="one job of tenant-42 running",
        )
        status = await cli_json(dsn, "status")
        [row] = status["limits"]
        assert {k: row[k] for k in ("scope", "name", "key", "running", "waiting")} == {
            "scope": "task",
            "name": "charge",
            "key": "tenant-42",
            "running": 1,
            "waiting": 2,
        }
        assert (row["concurrency_limit"], row["rate_count"], row["rate_seconds"]) == (1, 100, 60)
        assert row["started_1m"] == 1
        rc, out, _ = await cli(dsn, "status")
        assert rc == 0 and "Limits" in out and "tenant-42" in out and "100/m" in out

        async def exported() -> bool:
            text = await asyncio.to_thread(scrape, worker.ops.metrics_port or 0)
            return (
                sample(text, "pgqueue_limit_jobs", scope="task", limit="charge", state="waiting")
                == 2.0
                and sample(text, "pgqueue_limit_concurrency", scope="task", limit="charge") == 1.0
            )

        await wait_for(exported, message="the limit's gauges")
    finally:
        release.set()
        await worker.stop()


async def test_burst_mode_waits_for_jobs_a_rate_holds_back(dsn: str, app: App) -> None:
    """`until_empty`: jobs held by a rate are runnable soon, not absent: the worker runs them all
    (one at once, then one every 0.5 s at 2/s) before it stops."""
    spans: list[Span] = []
    task = spanned_task(app, spans, seconds=0.0, rate_limit="2/s")
    await app.enqueue_many([task.job(i) for i in range(3)])
    worker = app.worker(poll_interval=5.0)
    began = time.monotonic()
    await asyncio.wait_for(worker.run(until_empty=True), 30)
    assert len(spans) == 3
    assert await states_by_key(dsn) == {("succeeded", None): 3}
    # Woken by the claim's wait hint, not by the 5 s poll: 1 s for the two held back.
    assert time.monotonic() - began < 4.0


async def test_a_removed_limit_gives_its_waiting_jobs_back_to_the_plain_claim(
    dsn: str, app: App
) -> None:
    @app.task(name="once_limited", concurrency_limit=1)
    async def once_limited(i: int) -> None:
        return None

    async with app:
        await app.repository.register_limits(app.registry.limit_rows(), [], [])
        await app.enqueue_many([once_limited.job(i) for i in range(3)])
        assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE limited") == 3
        # The next deploy declares the task without limits.
        found = await app.repository.register_limits([], ["once_limited"], [])
    assert (found.changed, found.total) == (1, 0)
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE limited") == 0
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.limits") == 0


async def test_the_pruner_deletes_rate_buckets_that_are_full_again(dsn: str, app: App) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO pgqueue.limits (scope, name, rate_count, rate_seconds, burst) "
            "VALUES ('task', 'metered', 10, 60, 1), ('task', 'capped', NULL, NULL, NULL)"
        )
        await conn.execute(
            "INSERT INTO pgqueue.limit_buckets (scope, name, key, tokens, refilled_at) VALUES "
            "('task', 'metered', 'refilled', 0, now() - interval '7 seconds'), "  # full: 6 s
            "('task', 'metered', 'empty', 0, now()), "  # a token in 6 s: kept
            "('task', 'capped', '', 0, now()), "  # its limit has no rate any more
            "('task', 'gone', '', 0, now())"  # its limit is gone
        )
    finally:
        await conn.close()
    async with app:
        assert await app.repository.prune_limit_buckets() == 3
    assert await fetch(dsn, "SELECT name, key FROM pgqueue.limit_buckets") == [("metered", "empty")]


async def test_children_wait_for_their_parent_then_keep_to_their_tasks_limit(
    dsn: str, app: App
) -> None:
    """Limits and workflows together: a limited task's children are marked limited at enqueue
    though they wait (state 'waiting'), and once their parent succeeded the limited claim runs
    them one at a time."""
    spans: list[Span] = []
    child = spanned_task(app, spans, concurrency_limit=1)

    @app.task(name="parent")
    async def parent() -> None:
        return None

    async with app:
        await app.repository.register_limits(app.registry.limit_rows(), [], [])
        first = await parent.enqueue()
        await app.enqueue_many(
            [child.using(depends_on=[first], limit_key="k").job(i) for i in range(4)]
        )
        rows = await fetch(dsn, "SELECT state, limited FROM pgqueue.jobs WHERE task = 'limited'")
        assert [(r["state"], r["limited"]) for r in rows] == [("waiting", True)] * 4
        async with running_worker(app, concurrency=4):
            await wait_for(lambda: all_finished(dsn, 5), 30, message="a parent, four children")
    assert len(spans) == 4
    assert most_at_once(spans) == 1
    assert await states_by_key(dsn) == {("succeeded", None): 1, ("succeeded", "k"): 4}


async def test_the_limited_claim_hands_over_the_jobs_metadata(dsn: str, app: App) -> None:
    """claim_limited returns metadata as the plain claim does (an instrumented worker reads the
    enqueuer's trace context from every claim)."""
    spanned_task(app, [], concurrency_limit=1)
    async with app:
        await app.repository.register_limits(app.registry.limit_rows(), [], [])
    job_id = await fetchval(
        dsn,
        "SELECT pgqueue.enqueue('limited', metadata => '{\"traceparent\": \"t\"}', "
        "limit_key => 'k')",
    )
    rows = await fetch(
        dsn,
        "SELECT id, metadata FROM pgqueue.claim_limited(ARRAY['default'], 5, gen_random_uuid())",
    )
    assert [(r["id"], r["metadata"]) for r in rows] == [(job_id, '{"traceparent": "t"}')]
