"""Fault injection with real processes: SIGKILL and SIGTERM of workers, pg_terminate_backend,
a restart of a throwaway PostgreSQL cluster, a network cut and stall through a TCP proxy, and the
--processes supervisor. Every test counts each job's runs (tests/fault_app.py writes one line per
attempt to a file) and asserts exact numbers: no job lost, none run twice except an attempt that
crashed, no row left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from pgqueue import DatabaseUnavailableError
from pgqueue._sql import query
from tests.fault_app import build_app, open_gate, read_runs, run_counts
from tests.faults_support import (
    Cluster,
    Proxy,
    backends,
    children_of,
    cluster_unavailable_reason,
    enqueue_work,
    is_listener,
    running_pids,
    terminate_backends,
    with_port,
    worker_id,
    worker_process,
)
from tests.helpers import count_states, fetch, fetchval, one_success, running_worker, wait_for

# The loggers' names (they stay public while the modules are private).
WORKER_LOG = logging.getLogger("pgqueue.worker").name
NOTIFIER_LOG = logging.getLogger("pgqueue.notifier").name

pytestmark = pytest.mark.slow

FAST = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "2"]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs.jsonl"


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    """Jobs enqueued with gate=str(gate) hold at their start until this file exists."""
    return tmp_path / "gate"


async def job_rows(dsn: str) -> dict[int, dict[str, Any]]:
    rows = await fetch(
        dsn,
        "SELECT id, state, attempts, worker_id, errors, finished_at FROM pgqueue.jobs ORDER BY id",
    )
    return {r["id"]: {**dict(r), "errors": json.loads(r["errors"])} for r in rows}


async def succeeded(dsn: str, ids: list[int]) -> bool:
    n = await fetchval(
        dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'succeeded' AND id = ANY($1)", ids
    )
    return bool(n == len(ids))


async def worker_state(dsn: str, wid: str) -> str | None:
    state = await fetchval(dsn, "SELECT state FROM pgqueue.workers WHERE id = $1::uuid", wid)
    return None if state is None else str(state)


async def worker_in(dsn: str, wid: str, state: str) -> bool:
    return await worker_state(dsn, wid) == state


def started(runs: Path, job_id: int, pid: int | None = None) -> bool:
    return any(r["job"] == job_id and pid in (None, r["pid"]) for r in read_runs(runs))


def ended(runs: Path, ids: list[int]) -> bool:
    return set(ids) <= {r["job"] for r in read_runs(runs, "end")}


def warning_counts(output: str) -> Counter[str]:
    """Warning lines per source: logger and message up to its first parenthesis."""
    found: Counter[str] = Counter()
    for line in output.splitlines():
        if " WARNING " in line:
            found[line.split(" WARNING ", 1)[1].split(" (", 1)[0].split(";", 1)[0].strip()] += 1
    return found


def assert_logs_once_per_step(
    counts: Counter[str], *, outage: float, heartbeat_interval: float
) -> None:
    """No flood: each retrying loop logs once per backoff step (the first delay is at least
    0.25s and doubles), the heartbeat once per beat."""
    steps = math.floor(math.log2(outage / 0.25 + 1)) + 1
    beats = math.floor(outage / heartbeat_interval) + 1
    for source, n in counts.items():
        limit = beats if "heartbeat failed" in source else steps
        assert n <= limit, f"{n} warnings from {source!r} in a {outage}s outage (limit {limit})"


def assert_ran_once(runs: Path, ids: list[int], *, twice: tuple[int, ...] = ()) -> None:
    counts = run_counts(runs)
    assert {i: counts[i] for i in ids} == {i: 2 if i in twice else 1 for i in ids}
    assert set(counts) <= set(ids), "a run for a job that was never enqueued"


# -- 1. SIGKILL mid-job --------------------------------------------------------------------------


async def test_sigkill_mid_job_is_rescued_by_another_worker(
    dsn: str, runs: Path, gate: Path, tmp_path: Path
) -> None:
    async with worker_process(dsn, [*FAST, "-c", "4"], tmp_path / "a.log") as a:
        wid_a = await worker_id(dsn, a.pid)
        [held] = await enqueue_work(dsn, runs, gate=str(gate))
        before = await enqueue_work(dsn, runs, 10)
        await wait_for(lambda: succeeded(dsn, before), message="jobs before the kill")
        await wait_for(lambda: started(runs, held, a.pid), message="held job running on A")

        async with worker_process(dsn, [*FAST, "-c", "4"], tmp_path / "b.log") as b:
            wid_b = await worker_id(dsn, b.pid)
            a.send(signal.SIGKILL)
            killed_at = time.monotonic()
            assert await a.wait_exit(15) == -signal.SIGKILL
            open_gate(gate)  # the second attempt may finish
            after = await enqueue_work(dsn, runs, 10)
            await wait_for(lambda: succeeded(dsn, [held]), 30, message="rescue of held job")
            rescue_time = time.monotonic() - killed_at
            await wait_for(lambda: succeeded(dsn, after), message="jobs after the kill")
            # Marked lost by B's rescuer in the pass that rescued its job (rescuer.py).
            await wait_for(lambda: worker_in(dsn, wid_a, "lost"), 10, message="A marked lost")
            assert b.alive

    # The point: rescued by its worker's own 2 s ttl. One rescue pass (every 0.5 s) after the
    # ttl, a claim and the job make about 3 s; 12 s leaves a loaded machine room and still
    # tells the 2 s ttl from the 30 s default or a job left to a poll.
    assert rescue_time < 12, f"rescued after {rescue_time:.1f}s with a 2s ttl"
    rows = await job_rows(dsn)
    assert await count_states(dsn) == {"succeeded": 21}
    assert rows[held]["attempts"] == 2
    assert [e["kind"] for e in rows[held]["errors"]] == ["worker_lost"]
    assert all(rows[i]["attempts"] == 1 for i in before + after)
    assert_ran_once(runs, [held, *before, *after], twice=(held,))
    held_runs = [r for r in read_runs(runs) if r["job"] == held]
    assert [(r["attempt"], r["pid"]) for r in held_runs] == [(1, a.pid), (2, b.pid)]
    assert await worker_state(dsn, wid_a) == "lost"
    assert await worker_state(dsn, wid_b) == "stopped"


# -- 2. SIGTERM mid-job ------------------------------------------------------------------------


async def test_sigterm_lets_a_short_job_finish(dsn: str, runs: Path, tmp_path: Path) -> None:
    async with worker_process(dsn, [*FAST, "--shutdown-timeout", "10"], tmp_path / "w.log") as w:
        wid = await worker_id(dsn, w.pid)
        [job] = await enqueue_work(dsn, runs, seconds=1.0)
        await wait_for(lambda: started(runs, job), message="job running")
        w.send(signal.SIGTERM)
        await wait_for(lambda: worker_in(dsn, wid, "stopping"), message="worker stopping")
        assert await w.wait_exit(30) == 0
        assert "finishing running jobs" in w.output()
    rows = await job_rows(dsn)
    assert (rows[job]["state"], rows[job]["attempts"], rows[job]["errors"]) == ("succeeded", 1, [])
    assert_ran_once(runs, [job])
    assert await worker_state(dsn, wid) == "stopped"


@pytest.mark.parametrize(
    ("task", "second_signal"),
    [("work", False), ("work_sync", False), ("work", True)],
    ids=["timeout", "timeout-sync-task", "second-signal"],
)
async def test_sigterm_requeues_a_long_job_without_rescue(
    dsn: str, runs: Path, gate: Path, tmp_path: Path, task: str, second_signal: bool
) -> None:
    # A 60s ttl: if the job were left to the rescuer, it would stay running for a minute.
    timeout = "30" if second_signal else "0.5"
    args = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "60", "--shutdown-timeout", timeout]
    async with worker_process(dsn, args, tmp_path / "w.log") as w:
        wid = await worker_id(dsn, w.pid)
        async with build_app(dsn) as client:
            job = await client.enqueue(task, kwargs={"runs": str(runs), "gate": str(gate)})
        await wait_for(lambda: started(runs, job), message="job running")
        w.send(signal.SIGTERM)
        signalled = time.monotonic()
        if second_signal:
            await wait_for(lambda: worker_in(dsn, wid, "stopping"), message="stopping")
            w.send(signal.SIGTERM)
        # A sync task's thread cannot be interrupted: the process exits without waiting for it.
        assert await w.wait_exit(30) == 0
        took = time.monotonic() - signalled
        if second_signal:
            assert "stopping now" in w.output()
    # The point: out at once, well before the 30 s shutdown timeout (second signal) and the
    # 60 s ttl a rescue would need. A 0.5 s timeout plus the exit take about 1 s; 15 s holds
    # on a loaded machine and still cannot be met by waiting for either of them.
    assert took < 15, f"exit took {took:.1f}s"
    assert not ended(runs, [job])
    rows = await job_rows(dsn)
    assert (rows[job]["state"], rows[job]["attempts"], rows[job]["worker_id"]) == (
        "queued",
        0,
        None,
    )
    assert [e["kind"] for e in rows[job]["errors"]] == ["shutdown"]
    assert await count_states(dsn) == {"queued": 1}
    assert await worker_state(dsn, wid) == "stopped"
    assert_ran_once(runs, [job])

    # Back in the queue, it runs again as a fresh first attempt.
    open_gate(gate)
    fresh = build_app(dsn)
    try:
        async with running_worker(fresh):
            await wait_for(lambda: succeeded(dsn, [job]), message="requeued job to run")
    finally:
        await fresh.close()
    rows = await job_rows(dsn)
    assert (rows[job]["state"], rows[job]["attempts"]) == ("succeeded", 1)
    assert_ran_once(runs, [job], twice=(job,))


# -- 3. pg_terminate_backend -------------------------------------------------------------------


async def test_worker_survives_pg_terminate_backend_and_listens_again(
    dsn: str, runs: Path, gate: Path, tmp_path: Path
) -> None:
    # A 30s poll: only a NOTIFY on a working LISTEN connection starts a new job promptly.
    args = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "5", "--poll-interval", "30"]
    async with worker_process(dsn, args, tmp_path / "w.log") as w:
        wid = await worker_id(dsn, w.pid)

        async def listening_since(t: float) -> bool:
            return any(is_listener(b["query"]) and b["started"] > t for b in await backends(dsn))

        await wait_for(lambda: listening_since(0), message="LISTEN connection")
        before = await enqueue_work(dsn, runs, 5)
        [held] = await enqueue_work(dsn, runs, gate=str(gate))
        await wait_for(lambda: succeeded(dsn, before), message="jobs before")
        await wait_for(lambda: started(runs, held), message="held job running")

        killed_at = time.time()
        killed = await terminate_backends(dsn)
        assert all(k["terminated"] for k in killed)
        assert len(killed) >= 2 and any(is_listener(k["query"]) for k in killed), killed
        await wait_for(lambda: listening_since(killed_at), message="LISTEN reconnected")

        enqueued_at = time.monotonic()
        after = await enqueue_work(dsn, runs, 5)
        # The poll comes every 30 s (22.5 s at the earliest): 15 s can only be met by NOTIFY.
        await wait_for(lambda: succeeded(dsn, after), 15, message="jobs after (woken by NOTIFY)")
        assert time.monotonic() - enqueued_at < 15
        open_gate(gate)
        await wait_for(lambda: succeeded(dsn, [held]), message="held job")
        assert w.alive
        assert await worker_state(dsn, wid) == "running"
        assert "listener reconnected" in w.output()

    rows = await job_rows(dsn)
    assert await count_states(dsn) == {"succeeded": 11}
    assert all(r["attempts"] == 1 and r["errors"] == [] for r in rows.values())
    assert_ran_once(runs, [*before, held, *after])
    assert await worker_state(dsn, wid) == "stopped"


# -- 4. a database restart ---------------------------------------------------------------------

OUTAGE = 2.0  # seconds the throwaway cluster stays down


@contextlib.contextmanager
def throwaway_cluster(settings: tuple[str, ...] = ()) -> Iterator[Cluster]:
    """A started throwaway cluster (skips the test where none can run), destroyed afterwards."""
    reason = cluster_unavailable_reason()
    if reason is not None:
        pytest.skip(f"cannot run a throwaway PostgreSQL cluster here: {reason}")
    instance = Cluster(settings)
    try:
        instance.init()
        instance.start()
        yield instance
    finally:
        instance.destroy()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as instance:
        yield instance


@contextlib.contextmanager
def cluster_database(cluster: Cluster) -> Iterator[str]:
    """A migrated database on the throwaway cluster, dropped afterwards."""
    import uuid

    import psycopg

    from pgqueue import migrate

    if not cluster.running:
        cluster.start()
    name = f"pgqueue_fault_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    migrate.upgrade(cluster.dsn(name))
    try:
        yield cluster.dsn(name)
    finally:
        if not cluster.running:
            cluster.start()
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def cluster_dsn(cluster: Cluster) -> Iterator[str]:
    with cluster_database(cluster) as dsn:
        yield dsn


async def test_worker_carries_on_across_a_database_restart(
    cluster: Cluster, cluster_dsn: str, runs: Path, gate: Path, tmp_path: Path
) -> None:
    dsn = cluster_dsn
    args = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "3", "-c", "10"]
    async with worker_process(dsn, args, tmp_path / "w.log") as w:
        wid = await worker_id(dsn, w.pid)
        before = await enqueue_work(dsn, runs, 10)
        await wait_for(lambda: succeeded(dsn, before), message="jobs before the restart")
        # Return while the database is down (their gate opens once it is), and after it is back.
        down_gate = tmp_path / "down-gate"
        away = await enqueue_work(dsn, runs, 3, gate=str(down_gate))
        held = await enqueue_work(dsn, runs, 3, gate=str(gate))
        await wait_for(lambda: all(started(runs, i) for i in away + held), message="in flight")

        cluster.stop("fast")
        down_at = time.monotonic()
        open_gate(down_gate)
        await wait_for(lambda: ended(runs, away), 10, message="jobs returning while it is down")
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))  # the outage
        assert w.alive
        up_at = cluster.start()
        open_gate(gate)
        await wait_for(lambda: succeeded(dsn, away + held), 20, message="in-flight outcomes")
        first = await fetchval(
            dsn,
            "SELECT min(extract(epoch FROM finished_at))::float8 FROM pgqueue.jobs WHERE id = ANY($1)",
            away + held,
        )
        after = await enqueue_work(dsn, runs, 10)
        await wait_for(lambda: succeeded(dsn, after), message="jobs after the restart")
        assert w.alive
        assert await worker_state(dsn, wid) == "running"
        output = w.output()

    resume = first - up_at
    print(f"database accepting connections -> first outcome written: {resume:.2f}s")
    # up_at is read when the start-up command reports the server ready, which can be a moment
    # after the server already took the worker's reconnect: a few ms early is on time.
    assert -1.0 < resume < 10
    rows = await job_rows(dsn)
    assert await count_states(dsn) == {"succeeded": 26}
    assert all(r["attempts"] == 1 and r["errors"] == [] for r in rows.values())
    # Written once the server was back (the same few ms of slack as above), never while it was down.
    assert all(rows[i]["finished_at"].timestamp() > up_at - 1.0 for i in away + held)
    assert_ran_once(runs, [*before, *away, *held, *after])
    assert "could not record 3 outcomes" in output
    assert_logs_once_per_step(warning_counts(output), outage=OUTAGE + 2, heartbeat_interval=0.5)
    assert await worker_state(dsn, wid) == "stopped"


# -- 4b. a crash of PostgreSQL: claims commit asynchronously ------------------------------------

CLAIMER = "00000000-0000-4000-8000-00000000c1a1"


@pytest.fixture(scope="module")
def crashing_cluster() -> Iterator[Cluster]:
    """A throwaway cluster that commits as a production server does (synchronous_commit on),
    with no autovacuum and no timed checkpoint: nothing but a commit and the WAL writer writes
    the WAL out, and the test holds the WAL writer still (SIGSTOP) around the claim it means to
    lose."""
    with throwaway_cluster(
        ("synchronous_commit=on", "autovacuum=off", "checkpoint_timeout=1d")
    ) as instance:
        yield instance


@pytest.fixture
def crashing_dsn(crashing_cluster: Cluster) -> Iterator[str]:
    with cluster_database(crashing_cluster) as dsn:
        yield dsn


async def claim(dsn: str, limit: int) -> list[int]:
    rows = await fetch(dsn, query("job_claim"), ["default"], limit, CLAIMER)
    return sorted(r["id"] for r in rows)


async def wal_writer(dsn: str) -> int | None:
    pid = await fetchval(dsn, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'")
    return None if pid is None else int(pid)


async def restarted(dsn: str, old_writer: int) -> bool:
    """The cluster answers with a new WAL writer: the postmaster has seen the old one die and
    restarted every process (a connection before that would still reach the old server)."""
    try:
        writer = await wal_writer(dsn)
    except (OSError, asyncpg.PostgresError):
        return False  # still recovering, or not listening yet
    return writer is not None and writer != old_writer


async def record_success(dsn: str, job_id: int) -> int:
    """job_complete_many.sql for attempt 1 of `job_id` by CLAIMER: how many rows it wrote."""
    return int(await fetchval(dsn, query("job_complete_many"), *one_success(job_id, CLAIMER)))


async def test_a_claim_lost_in_a_crash_leaves_its_job_queued_and_its_outcome_refused(
    crashing_dsn: str, runs: Path
) -> None:
    """docs/reliability.md, "Claims commit asynchronously": what a crash of PostgreSQL right
    after claims does. The claim of `lost` is gone (the job is queued, its attempt uncounted, so
    the outcome of the attempt that ran is refused and the job runs again); the claim of `kept`
    was written out by the synchronous outcome after it, so neither is lost."""
    dsn = crashing_dsn
    kept, lost = (await enqueue_work(dsn, runs, 1))[0], (await enqueue_work(dsn, runs, 1))[0]
    assert await claim(dsn, 1) == [kept]
    assert await record_success(dsn, kept) == 1  # synchronous: the claim before it too
    # The WAL writer, stopped, cannot write the claim out on its own schedule; killed, it takes
    # the server down with it (the postmaster restarts every process and replays the WAL on
    # disk), as a crash of PostgreSQL does.
    writer = await wal_writer(dsn)
    assert writer is not None
    os.kill(writer, signal.SIGSTOP)
    try:
        assert await claim(dsn, 1) == [lost]
    finally:
        os.kill(writer, signal.SIGKILL)
    await wait_for(lambda: restarted(dsn, writer), 60, message="the cluster back after its crash")
    rows = await job_rows(dsn)
    assert {i: (r["state"], r["attempts"]) for i, r in rows.items()} == {
        kept: ("succeeded", 1),
        lost: ("queued", 0),
    }
    assert await record_success(dsn, lost) == 0  # the attempt that ran: refused
    assert await count_states(dsn) == {"succeeded": 1, "queued": 1}
    assert await claim(dsn, 5) == [lost]  # runs again, as attempt 1
    assert await record_success(dsn, lost) == 1
    assert await count_states(dsn) == {"succeeded": 2}


# -- 5. network cut and stall through a proxy --------------------------------------------------

CUT = 5.0  # seconds the proxy refuses connections


@pytest.fixture
def proxy(dsn: str) -> Iterator[Proxy]:
    from urllib.parse import urlsplit

    instance = Proxy(urlsplit(dsn).port or 5432).start()
    try:
        yield instance
    finally:
        instance.close()


async def test_network_cut_worker_backs_off_and_resumes(
    dsn: str, proxy: Proxy, runs: Path, gate: Path, tmp_path: Path
) -> None:
    args = ["--heartbeat-interval", "1", "--heartbeat-ttl", "20", "--poll-interval", "1"]
    async with worker_process(with_port(dsn, proxy.port), args, tmp_path / "w.log") as w:
        wid = await worker_id(dsn, w.pid)
        before = await enqueue_work(dsn, runs, 10)
        await wait_for(lambda: succeeded(dsn, before), message="jobs before the cut")
        held = await enqueue_work(dsn, runs, 2, gate=str(gate))
        await wait_for(lambda: all(started(runs, i) for i in held), message="held jobs running")
        mark = len(w.output())

        proxy.cut()
        cut_at = time.monotonic()
        open_gate(gate)  # the held jobs return while the network is down
        during = await enqueue_work(dsn, runs, 5)  # cannot be claimed until it is back
        await wait_for(lambda: ended(runs, held), message="held jobs returning")
        await asyncio.sleep(max(0.0, CUT - (time.monotonic() - cut_at)))  # the outage
        assert w.alive, w.output()
        assert await count_states(dsn) == {"succeeded": 10, "running": 2, "queued": 5}
        outage_log = w.output()[mark:]
        proxy.restore()

        await wait_for(lambda: succeeded(dsn, held + during), 20, message="jobs after restore")
        after = await enqueue_work(dsn, runs, 5)
        await wait_for(lambda: succeeded(dsn, after), message="new jobs")
        assert w.alive
        assert await worker_state(dsn, wid) == "running"

    counts = warning_counts(outage_log)
    assert counts[f"{WORKER_LOG}: could not record 2 outcomes"] >= 1
    assert counts[f"{NOTIFIER_LOG}: listener connection lost"] >= 1
    assert_logs_once_per_step(counts, outage=CUT, heartbeat_interval=1.0)
    rows = await job_rows(dsn)
    assert await count_states(dsn) == {"succeeded": 22}
    assert all(r["attempts"] == 1 and r["errors"] == [] for r in rows.values())
    assert_ran_once(runs, [*before, *held, *during, *after])
    assert await worker_state(dsn, wid) == "stopped"


@pytest.mark.parametrize("seconds", [1.0, 6.0], ids=["shorter-than-timeout", "longer"])
async def test_network_stall(
    dsn: str, proxy: Proxy, runs: Path, gate: Path, tmp_path: Path, seconds: float
) -> None:
    args = ["--heartbeat-interval", "1", "--heartbeat-ttl", "20", "--poll-interval", "1"]
    env = {"FAULT_COMMAND_TIMEOUT": "2"}
    async with worker_process(with_port(dsn, proxy.port), args, tmp_path / "w.log", env=env) as w:
        wid = await worker_id(dsn, w.pid)
        before = await enqueue_work(dsn, runs, 5)
        await wait_for(lambda: succeeded(dsn, before), message="jobs before the stall")
        held = await enqueue_work(dsn, runs, 2, gate=str(gate))
        await wait_for(lambda: all(started(runs, i) for i in held), message="held jobs running")
        mark = len(w.output())

        proxy.stall()
        stalled_at = time.monotonic()
        open_gate(gate)
        during = await enqueue_work(dsn, runs, 3)
        await wait_for(lambda: ended(runs, held), message="held jobs returning")
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - stalled_at)))  # the stall
        stall_log = w.output()[mark:]
        proxy.resume()

        await wait_for(lambda: succeeded(dsn, held + during), 20, message="jobs after the stall")
        after = await enqueue_work(dsn, runs, 3)
        await wait_for(lambda: succeeded(dsn, after), message="new jobs")
        assert w.alive
        assert await worker_state(dsn, wid) == "running"
        print(w.output()[mark:])

    counts = warning_counts(stall_log)
    if seconds < 2:
        assert counts == Counter(), stall_log  # slow, not broken: nothing to report
    else:
        # Longer than command_timeout (2 s): what hit the stall says so. The held jobs'
        # outcomes were due during it, and the heartbeat (every 1 s) had three seconds or
        # more to time out in; both retried, each once per backoff step, not in a flood.
        assert counts[f"{WORKER_LOG}: could not record 2 outcomes"] >= 1, stall_log
        assert counts[f"{WORKER_LOG}: heartbeat failed"] >= 1, stall_log
        assert_logs_once_per_step(counts, outage=seconds, heartbeat_interval=1.0)
    rows = await job_rows(dsn)
    assert await count_states(dsn) == {"succeeded": 13}
    assert all(r["attempts"] == 1 and r["errors"] == [] for r in rows.values())
    assert_ran_once(runs, [*before, *held, *during, *after])


async def test_claim_whose_answer_is_lost_is_not_stuck(
    dsn: str, proxy: Proxy, runs: Path, tmp_path: Path
) -> None:
    args = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "2", "--poll-interval", "0.5"]
    async with worker_process(with_port(dsn, proxy.port), args, tmp_path / "w.log") as w:
        await worker_id(dsn, w.pid)
        # Only the claim answers "UPDATE <n>" with n > 0 (the other statements are SELECTs and
        # an INSERT); drop that answer and cut its connection, after the server committed it.
        proxy.lose_response(rb"UPDATE [1-9]")
        [job] = await enqueue_work(dsn, runs)
        await wait_for(proxy.tripped.is_set, message="a claim answer lost")
        assert w.alive
        # Broken, the job stays running under a live worker for good; any deadline tells.
        await wait_for(lambda: succeeded(dsn, [job]), 30, message="the claimed job to run")
    assert_ran_once(runs, [job])
    assert await count_states(dsn) == {"succeeded": 1}


# -- 6. enqueue while the database is unreachable ----------------------------------------------


async def test_enqueue_while_unreachable_names_host_never_password(
    dsn: str, proxy: Proxy, runs: Path
) -> None:
    # The server's own password where it wants one; under trust auth any password does.
    secret = urlsplit(dsn).password or "s3cret-Passw0rd"
    through_proxy = with_port(dsn, proxy.port, password=secret)
    where = f"127.0.0.1:{proxy.port}"

    async def enqueue(app: Any) -> int:
        return int(await app.enqueue("work", kwargs={"runs": str(runs)}))

    for opened_before_cut in (False, True):
        app = build_app(through_proxy)
        try:
            if opened_before_cut:
                await app.open()  # a pool whose connections the cut kills
                await enqueue(app)
            proxy.cut()
            with pytest.raises(DatabaseUnavailableError) as failure:
                await enqueue(app)
            message = str(failure.value)
            assert where in message and secret not in message, message
            assert "cannot reach the database" in message
            assert all(secret not in repr(e) for e in (failure.value, failure.value.__cause__))
            proxy.restore()
            await enqueue(app)  # the same App works again once the network is back
        finally:
            await app.close()
    # Nothing half-written: exactly the jobs whose enqueue returned.
    assert await count_states(dsn) == {"queued": 3}


# -- 7. --processes: the supervisor ------------------------------------------------------------


async def live_workers(dsn: str) -> list[Any]:
    return await fetch(
        dsn, "SELECT id::text AS id, pid, state FROM pgqueue.workers WHERE state = 'running'"
    )


async def test_supervisor_restarts_a_killed_child_and_stops_gracefully(
    dsn: str, runs: Path, tmp_path: Path
) -> None:
    args = [*FAST, "--processes", "2", "--shutdown-timeout", "5"]
    async with worker_process(dsn, args, tmp_path / "sup.log") as sup:

        async def running(n: int) -> bool:
            rows = await live_workers(dsn)
            return len(rows) == n and {r["pid"] for r in rows} == set(children_of(sup.pid))

        await wait_for(lambda: running(2), message="two worker processes")
        first = await live_workers(dsn)
        assert sup.pid not in {r["pid"] for r in first}
        victim = first[0]
        assert victim["pid"] in children_of(sup.pid)  # only ever signal our own children
        os.kill(victim["pid"], signal.SIGKILL)
        # The dead child's row ages out (ttl 2s) and is marked lost; a new child replaces it.
        await wait_for(lambda: running(2), message="a replacement child")
        await wait_for(
            lambda: worker_in(dsn, victim["id"], "lost"), message="the killed child marked lost"
        )
        now = await live_workers(dsn)
        assert len({r["id"] for r in first} | {r["id"] for r in now}) == 3
        assert "restarting" in sup.output()

        jobs = await enqueue_work(dsn, runs, 20)
        await wait_for(lambda: succeeded(dsn, jobs), message="jobs on the children")
        children = children_of(sup.pid)

        sup.send(signal.SIGTERM)
        assert await sup.wait_exit(30) == 0
        assert not set(children) & set(running_pids())
    states = await fetch(dsn, "SELECT state, count(*) AS n FROM pgqueue.workers GROUP BY state")
    assert {r["state"]: r["n"] for r in states} == {"stopped": 2, "lost": 1}
    assert_ran_once(runs, jobs)
    assert await count_states(dsn) == {"succeeded": 20}


async def test_supervisor_refuses_a_bad_app_before_starting_children(
    dsn: str, tmp_path: Path
) -> None:
    async with worker_process(
        dsn, ["--processes", "2"], tmp_path / "sup.log", app_spec="tests.fault_app:no_such_app"
    ) as sup:
        code = await sup.wait_exit(30)
        output = sup.output()
    assert code == 2, output  # a usage error, found once, before any child is started
    assert "has no attribute 'no_such_app'" in output and "started worker process" not in output
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.workers") == 0


async def test_supervisor_gives_up_on_a_child_that_always_crashes(dsn: str, tmp_path: Path) -> None:
    """Children that import fine but die at once (here: an unknown database) are restarted a
    bounded number of times, then the supervisor gives up with a non-zero exit."""
    missing = dsn.rsplit("/", 1)[0] + "/pgqueue_no_such_database"
    started_at = time.monotonic()
    async with worker_process(missing, ["--processes", "2"], tmp_path / "sup.log") as sup:
        code = await sup.wait_exit(60)
        output = sup.output()
    took = time.monotonic() - started_at
    assert code == 1, output
    assert "giving up" in output and "does not exist" in output
    assert took < 30, f"gave up after {took:.1f}s"


async def test_pg_terminate_backend_right_before_an_outcome_never_stalls_the_worker(
    dsn: str, runs: Path, tmp_path: Path
) -> None:
    # Killing the backends just before the worker writes an outcome makes its next query run on
    # a connection the driver has not yet seen close; that error must be retried like any
    # other, never end the loop that writes outcomes (which would leave every later job running).
    args = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "5"]
    jobs: list[int] = []
    async with worker_process(dsn, args, tmp_path / "w.log") as w:
        await worker_id(dsn, w.pid)
        for _ in range(12):
            jobs += await enqueue_work(dsn, runs)  # the kill lands while the worker runs it
            await terminate_backends(dsn)
            jobs += await enqueue_work(dsn, runs)
            await wait_for(lambda: succeeded(dsn, list(jobs)), 30, message="jobs after a kill")  # noqa: B023
        assert w.alive
    assert_ran_once(runs, jobs)
    assert await count_states(dsn) == {"succeeded": 24}


# -- an outcome the database cannot store ------------------------------------------------------


@pytest.mark.parametrize("char", ["nul", "lone-surrogate"])
async def test_an_unstorable_error_message_does_not_stop_outcomes(
    dsn: str, runs: Path, tmp_path: Path, char: str
) -> None:
    async with worker_process(dsn, [], tmp_path / "w.log") as w:
        wid = await worker_id(dsn, w.pid)
        async with build_app(dsn) as client:
            bad = await client.enqueue(
                "fail_with", kwargs={"runs": str(runs), "char": char}, max_attempts=1
            )
        await wait_for(lambda: started(runs, bad), message="the failing job ran")
        [good] = await enqueue_work(dsn, runs)
        # Broken, the flush would retry the batch forever: the later job never recorded.
        await wait_for(lambda: succeeded(dsn, [good]), 20, message="a later job recorded")
        assert w.alive
        # And the worker still stops cleanly: nothing left to flush, exit 0.
        w.send(signal.SIGTERM)
        assert await w.wait_exit(30) == 0, w.output()
        output = w.output()
    assert "could not record" not in output and "Traceback" not in output, output
    assert await worker_state(dsn, wid) == "stopped"
    rows = await job_rows(dsn)
    assert (rows[bad]["state"], rows[good]["state"]) == ("dead", "succeeded")
    assert_ran_once(runs, [bad, good])
