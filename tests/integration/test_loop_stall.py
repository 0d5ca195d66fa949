"""Liveness does not depend on the event loop (issue 8, item 11).

An async task that blocks the worker's event loop (here `time.sleep` inside an `async def`) for
twice the heartbeat ttl must not get the worker declared lost and its other jobs run again: the
heartbeat comes from a thread with its own connection. The stall itself is reported: a warning
naming the job task that blocked the loop, a metric, the worker row. Only a loop silent for
`loop_stall_limit` (wedged) stops the heartbeats, so that worker is declared lost.

The judge is another worker's rescue, run on a thread of its own (the test's event loop is the
blocked one): worker_reap.sql and job_rescue.sql in one transaction every 50 ms, as any live worker
would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator

import asyncpg
import pytest

from pgqueue import App, current_job
from pgqueue._sql import query
from tests.helpers import all_finished, fetch, running_worker, wait_for
from tests.integration.test_ops_metrics import sample

TTL = 2.0  # short, yet ten beats (0.2 s apart) would all have to fail under load
FAST = {"heartbeat_interval": 0.2, "heartbeat_ttl": TTL}


class Rescuer:
    """Marks silent workers lost and rescues their jobs, from a thread with its own loop."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.lost = 0
        self.rescued: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._stop.is_set():
                async with conn.transaction():  # as Repository.rescue_pass
                    row = await conn.fetchrow(query("worker_reap"), 86400.0)
                    rescued = await conn.fetch(query("job_rescue"), 1000)
                self.lost += int(row["lost"])
                for job in rescued:
                    self.rescued[job["id"]] += 1
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[Rescuer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(10)


def define(app: App, runs: Counter[tuple[int, int]], block: float) -> None:
    @app.task(name="bystander")
    async def bystander() -> int:
        job = current_job()
        runs[(job.job_id, job.attempt)] += 1
        await asyncio.sleep(TTL * 2 + 0.5)  # running across the stall
        return job.attempt

    @app.task(name="blocker")
    async def blocker() -> int:
        job = current_job()
        runs[(job.job_id, job.attempt)] += 1
        if job.attempt == 1:
            time.sleep(block)  # noqa: ASYNC251 - blocking the loop is the point
        return job.attempt


async def test_an_async_task_blocking_the_loop_does_not_get_its_worker_declared_lost(
    app: App, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    runs: Counter[tuple[int, int]] = Counter()
    define(app, runs, block=TTL * 2)
    caplog.set_level(logging.WARNING, logger="pgqueue")
    with Rescuer(dsn).running() as rescuer:
        async with running_worker(
            app, concurrency=5, metrics_port=0, metrics_host="127.0.0.1", **FAST
        ) as worker:
            bystanders = [await app.enqueue("bystander") for _ in range(3)]
            await wait_for(lambda: len(runs) == 3, message="the bystanders running")
            blocker = await app.enqueue("blocker")
            await wait_for(lambda: all_finished(dsn, 4), 20, message="every job finished")
            metrics = worker.ops.metrics
            assert metrics is not None
            # The watcher measures a stall once the loop answers again, a moment after it did.
            await wait_for(
                lambda: (
                    (sample(metrics.exposition(), "pgqueue_event_loop_stall_seconds_count") or 0)
                    >= 1
                ),
                10,
                message="the stall measured",
            )
            text = metrics.exposition()
    assert rescuer.lost == 0 and not rescuer.rescued
    assert runs == Counter({(i, 1): 1 for i in [*bystanders, blocker]})
    rows = await fetch(dsn, "SELECT state, attempts, errors::text FROM pgqueue.jobs")
    assert [(r["state"], r["attempts"], r["errors"]) for r in rows] == [("succeeded", 1, "[]")] * 4
    [worker_row] = await fetch(dsn, "SELECT state, loop_stalls FROM pgqueue.workers")
    assert (worker_row["state"], worker_row["loop_stalls"]) == ("stopped", 1)
    stalls = [r.getMessage() for r in caplog.records if "event loop" in r.getMessage()]
    assert stalls and all(f"pgqueue-job-{blocker}" in m and "blocker" in m for m in stalls), stalls
    assert sample(text, "pgqueue_event_loop_stall_seconds_count") == 1.0
    stalled = sample(text, "pgqueue_event_loop_stall_seconds_sum")
    assert stalled is not None and TTL < stalled < TTL * 2 + 1


async def test_a_loop_silent_past_loop_stall_limit_stops_the_heartbeats(
    app: App, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    runs: Counter[tuple[int, int]] = Counter()
    # Silent for the limit (1 s), then a ttl without beats, then the rescue: well within 3 x ttl.
    define(app, runs, block=3 * TTL)
    caplog.set_level(logging.WARNING, logger="pgqueue")
    with Rescuer(dsn).running() as rescuer:
        async with running_worker(app, loop_stall_limit=1.0, **FAST):
            blocker = await app.enqueue("blocker")
            await wait_for(lambda: all_finished(dsn, 1), 30, message="the blocker finished")
    # Wedged for longer than the limit plus the ttl: declared lost, its job rescued and run
    # again (the first attempt's late outcome is refused by the attempt guard).
    assert rescuer.lost >= 1 and rescuer.rescued[blocker] == 1
    assert runs == Counter({(blocker, 1): 1, (blocker, 2): 1})
    [row] = await fetch(dsn, "SELECT state, attempts, result::text FROM pgqueue.jobs")
    assert (row["state"], row["attempts"], row["result"]) == ("succeeded", 2, "2")
    messages = [r.getMessage() for r in caplog.records]
    assert any("heartbeats stopped" in m and "loop_stall_limit" in m for m in messages), messages
    assert any("was marked lost" in m for m in messages), messages


async def test_a_start_that_fails_leaves_no_thread_or_loop_behind(app: App, dsn: str) -> None:
    import socket

    from pgqueue import ConfigurationError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        worker = app.worker(metrics_port=taken.getsockname()[1], metrics_host="127.0.0.1")
        with pytest.raises(ConfigurationError, match="cannot serve metrics"):
            await worker.start()
    names = {t.name for t in threading.enumerate()}
    assert not {n for n in names if n.startswith(("pgqueue-heartbeat", "pgqueue-sync"))}, names
    pending = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
    assert not {n for n in pending if n.startswith("pgqueue-")}, pending
    await worker.stop()  # nothing to stop: returns at once
