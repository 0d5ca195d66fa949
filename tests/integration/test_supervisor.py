"""`pgqueue worker --processes N` with real processes: crashing jobs do not take the fleet down,
a child that never started is a reason to give up (fast), and a child that ignores SIGTERM is
stopped anyway (the same signal again, then SIGKILL). The fault app (tests/fault_app.py) records
every attempt in a file, so runs are counted exactly."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from pgqueue._supervisor import KILL_GRACE, STOP_MARGIN, Supervisor
from tests.fault_app import build_app, open_gate, read_runs, run_counts
from tests.faults_support import children_of, enqueue_work, running_pids, worker_process
from tests.helpers import count_states, fetch, fetchval, wait_for

pytestmark = pytest.mark.slow

FAST = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "2"]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs.jsonl"


async def serving_children(dsn: str, supervisor_pid: int) -> list[Any]:
    """Rows of running workers that are children of the supervisor."""
    rows = await fetch(
        dsn, "SELECT id::text AS id, pid FROM pgqueue.workers WHERE state = 'running'"
    )
    children = set(children_of(supervisor_pid))
    return [r for r in rows if r["pid"] in children]


async def enqueue(dsn: str, task: str, n: int, **kwargs: Any) -> list[int]:
    async with build_app(dsn) as app:
        return await app.enqueue_many([app.request(task, kwargs=kwargs) for _ in range(n)])


# -- 6. crashing jobs ----------------------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_jobs_that_crash_their_process_do_not_take_the_fleet_down(
    dsn: str, runs: Path, tmp_path: Path
) -> None:
    args = [*FAST, "--processes", "2", "--concurrency", "1", "--restart-backoff-max", "1"]
    async with worker_process(dsn, args, tmp_path / "sup.log") as sup:
        await wait_for(
            lambda: _count(serving_children(dsn, sup.pid), 2), 60, message="two children"
        )
        crashing = await enqueue(dsn, "crash", 6, runs=str(runs))  # claimed first: older
        ordinary = await enqueue_work(dsn, runs, 60)

        async def all_finished() -> bool:
            states = await count_states(dsn)
            return states.get("succeeded", 0) + states.get("dead", 0) == 66

        await wait_for(all_finished, 240, interval=0.2, message="every job to finish")
        assert sup.alive, sup.output()
        await wait_for(lambda: _count(serving_children(dsn, sup.pid), 2), 60, message="2 again")

        # A rescue pass marks a crashed worker lost in the transaction that puts its job back
        # (Repository.rescue_pass); the count is waited for, not read once, so the test does not
        # lean on that timing (CI once read 16 of 18 when the two were separate statements).
        async def every_crashed_worker_marked_lost() -> bool:
            lost = await fetchval(dsn, "SELECT count(*) FROM pgqueue.workers WHERE state = 'lost'")
            return bool(lost >= 18)

        await wait_for(every_crashed_worker_marked_lost, 30, message="18 workers marked lost")
        sup.send(signal.SIGTERM)
        code = await sup.wait_exit(60)
        output = sup.output()
    assert code == 0, output
    # Every crash was one process death, restarted, logged with its exit code, and counted.
    crashes = re.findall(r"exited with code 1 after serving \d+s: restarting it in", output)
    assert len(crashes) == 18, output
    assert "worker processes crashed 18 times (code 1: 18)" in output
    assert "giving up" not in output
    # The poison jobs ran their 3 attempts and ended dead-lettered, as any job whose worker was
    # lost on its last attempt: the rescue requeues it (its max_attempts is the task's default,
    # NULL in the row) and the next worker to claim it (attempt 4) dead-letters it unrun.
    rows = await fetch(
        dsn,
        "SELECT state, attempts, errors -> -1 ->> 'kind' AS kind, errors -> -1 ->> 'message' AS m "
        "FROM pgqueue.jobs WHERE id = ANY($1) ORDER BY id",
        crashing,
    )
    assert [(r["state"], r["attempts"], r["kind"]) for r in rows] == [
        ("dead", 4, "worker_lost")
    ] * 6
    assert all(r["m"].startswith("attempts used up (3/3)") for r in rows)
    counts = run_counts(runs)
    assert {i: counts[i] for i in crashing} == dict.fromkeys(crashing, 3)
    assert {i: counts[i] for i in ordinary} == dict.fromkeys(ordinary, 1)
    assert await count_states(dsn) == {"succeeded": 60, "dead": 6}
    lost = await fetchval(dsn, "SELECT count(*) FROM pgqueue.workers WHERE state = 'lost'")
    assert lost == 18


async def _count(rows: Any, n: int) -> bool:
    return len(await rows) == n


async def test_a_replacement_that_cannot_start_is_retried_not_given_up(
    dsn: str, tmp_path: Path
) -> None:
    """Once the fleet has served, a replacement child that fails before serving (here its import
    fails; in life, a database failover) is an environment problem: retried with backoff."""
    broken = tmp_path / "broken"
    args = [*FAST, "--processes", "2", "--restart-backoff-max", "0.5"]
    env = {"FAULT_FAIL_START": str(broken)}
    async with worker_process(dsn, args, tmp_path / "sup.log", env=env) as sup:
        await wait_for(
            lambda: _count(serving_children(dsn, sup.pid), 2), 60, message="two children"
        )
        broken.touch()
        [victim, _] = await serving_children(dsn, sup.pid)
        os.kill(victim["pid"], signal.SIGKILL)
        await wait_for(
            lambda: sup.output().count("before it served: restarting") >= 3,
            60,
            message="replacements failing to start, restarted",
        )
        assert sup.alive
        broken.unlink()
        await wait_for(lambda: _count(serving_children(dsn, sup.pid), 2), 60, message="healed")
        sup.send(signal.SIGTERM)
        code = await sup.wait_exit(60)
        output = sup.output()
    assert code == 0, output
    assert "exited with signal SIGKILL after serving" in output
    assert "giving up" not in output


# -- 6. a child that never started ---------------------------------------------------------------


async def test_an_unmigrated_database_gives_up_at_once_with_no_restarts(
    empty_db: str, tmp_path: Path
) -> None:
    started_at = time.monotonic()
    async with worker_process(empty_db, ["--processes", "2"], tmp_path / "sup.log") as sup:
        code = await sup.wait_exit(60)
        output = sup.output()
    assert code == 1, output
    assert "before it started serving: giving up" in output
    assert "run `pgqueue migrate`" in output
    assert output.count("started worker process") == 2  # never restarted
    assert "restarting" not in output
    assert time.monotonic() - started_at < 30


async def test_bad_settings_are_refused_before_any_child_starts(dsn: str, tmp_path: Path) -> None:
    # A setting only WorkerSettings checks (click's own ranges would refuse a bad flag earlier).
    env = {"PGQUEUE_SCHEDULE_INTERVAL": "abc"}
    async with worker_process(dsn, ["--processes", "2"], tmp_path / "sup.log", env=env) as sup:
        code = await sup.wait_exit(30)
        output = sup.output()
    assert code == 2, output
    assert output.strip() == "error: PGQUEUE_SCHEDULE_INTERVAL='abc' is not valid: " + (
        "cannot read duration 'abc': use seconds or units like 30s, 15m, 2h, 7d, 1w, 1h30m"
    )


# -- 5. a child that ignores SIGTERM -------------------------------------------------------------


async def test_a_child_that_ignores_sigterm_is_stopped_anyway(dsn: str, tmp_path: Path) -> None:
    runs, gate = tmp_path / "runs.jsonl", tmp_path / "gate"
    shutdown = 1.0
    args = [*FAST, "--processes", "2", "--concurrency", "1", "--shutdown-timeout", str(shutdown)]
    try:
        async with worker_process(dsn, args, tmp_path / "sup.log", stop_timeout=1) as sup:
            await wait_for(
                lambda: _count(serving_children(dsn, sup.pid), 2), 60, message="two children"
            )
            [deaf_job] = await enqueue(dsn, "deaf", 1, runs=str(runs), gate=str(gate))
            await wait_for(lambda: bool(read_runs(runs)), 30, message="the deaf job to start")
            deaf_pid = read_runs(runs)[0]["pid"]
            children = children_of(sup.pid)
            assert deaf_pid in children
            asked_at = time.monotonic()
            sup.send(signal.SIGTERM)
            code = await sup.wait_exit(shutdown + STOP_MARGIN + KILL_GRACE + 30)
            took = time.monotonic() - asked_at
            output = sup.output()
    finally:
        open_gate(gate)
    assert code == 1, output  # a child had to be killed
    assert took >= shutdown + STOP_MARGIN + KILL_GRACE - 1, took
    assert f"worker processes {deaf_pid} did not stop within 11s: sending SIGTERM again" in output
    assert f"worker processes {deaf_pid} did not stop within 10s of the second signal: " in output
    assert "sending SIGKILL" in output
    assert not set(children) & set(running_pids())
    states = await fetch(dsn, "SELECT pid, state FROM pgqueue.workers")
    by_pid = {r["pid"]: r["state"] for r in states}
    assert by_pid[deaf_pid] == "running"  # it never even began to stop: the rescue takes its job
    assert [s for p, s in by_pid.items() if p != deaf_pid] == ["stopped"]
    assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", deaf_job) == (
        "running"
    )


# -- the backoff, without processes --------------------------------------------------------------


def test_restart_backoff_doubles_from_zero_and_is_capped() -> None:
    supervisor = Supervisor(["true"], 1, restart_backoff_max=3.0)
    assert [supervisor._backoff(n) for n in range(1, 8)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
