"""`pgqueue workers`, `pgqueue cancel` and what the `--retention-*` flags of `pgqueue worker`
do, run as real subprocesses against a real database: the exact output, the exit code and the
rows left behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import asyncpg

from pgqueue import App, JobFailedError
from tests.helpers import fetch, fetchval, running_worker, wait_for

ROOT = Path(__file__).parents[2]
WORKER_APP = "tests.integration.ops_app:app"


def env(dsn: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PGQUEUE_")}
    clean.pop("DATABASE_URL", None)
    return {**clean, "PGQUEUE_DSN": dsn, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


async def cli(dsn: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pgqueue",
        *args,
        cwd=ROOT,
        env=env(dsn),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# -- pgqueue workers ---------------------------------------------------------------------------

LIVE = "00000000-0000-0000-0000-00000000000a"
SILENT = "00000000-0000-0000-0000-00000000000b"
STOPPED = "00000000-0000-0000-0000-00000000000c"


async def add_workers(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, state,
                heartbeat_ttl, started_at, last_heartbeat, stopped_at, processed, failed, active)
            VALUES ($1, 'host-live', 11, '{a,b}', 10, '0.1.0', 'running', '30 seconds',
                    '2020-01-01 00:00:00+00', now() - interval '2 seconds', NULL, 100, 3, 2),
                   ($2, 'host-silent', 22, '{a}', 5, '0.1.0', 'running', '30 seconds',
                    '2020-01-01 00:01:00+00', now() - interval '5 minutes', NULL, 50, 0, 1),
                   ($3, 'host-stopped', 33, '{c}', 1, '0.1.0', 'stopped', '30 seconds',
                    '2020-01-01 00:02:00+00', now() - interval '1 hour',
                    '2020-01-01 01:00:00+00', 7, 7, 0)
            """,
            LIVE,
            SILENT,
            STOPPED,
        )
    finally:
        await conn.close()


def without_clock(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without the fields that depend on the time of the test."""
    clocked = ("heartbeat_age", "last_heartbeat", "uptime_seconds")
    return [{k: v for k, v in r.items() if k not in clocked} for r in rows]


EXPECTED_LIVE = {
    "id": LIVE,
    "hostname": "host-live",
    "pid": 11,
    "queues": ["a", "b"],
    "concurrency": 10,
    "version": "0.1.0",
    "state": "running",
    "alive": True,
    "processed": 100,
    "failed": 3,
    "active": 2,
    "started_at": "2020-01-01 00:00:00+00:00",
    "stopped_at": None,
    # Worker health (0005_worker_health): the rows are inserted with the column defaults.
    "abandoned_threads": 0,
    "claiming": True,
    "loop_stall_seconds": 0.0,
    "loop_stalls": 0,
    "tasks": [],  # 0010_worker_tasks: none recorded by these hand-made rows
}
EXPECTED_SILENT = {
    **EXPECTED_LIVE,
    "id": SILENT,
    "hostname": "host-silent",
    "pid": 22,
    "queues": ["a"],
    "concurrency": 5,
    "alive": False,  # still says running, but beat 5 minutes ago with a 30 s ttl
    "processed": 50,
    "failed": 0,
    "active": 1,
    "started_at": "2020-01-01 00:01:00+00:00",
}
EXPECTED_STOPPED = {
    **EXPECTED_LIVE,
    "id": STOPPED,
    "hostname": "host-stopped",
    "pid": 33,
    "queues": ["c"],
    "concurrency": 1,
    "state": "stopped",
    "alive": False,
    "processed": 7,
    "failed": 7,
    "active": 0,
    "started_at": "2020-01-01 00:02:00+00:00",
    "stopped_at": "2020-01-01 01:00:00+00:00",
}


async def test_workers_lists_running_workers_and_all_with_the_flag(dsn: str) -> None:
    await add_workers(dsn)
    rc, out, err = await cli(dsn, "workers", "--json")
    assert rc == 0, err
    listed = json.loads(out)
    assert without_clock(listed) == [EXPECTED_LIVE, EXPECTED_SILENT]
    ages = [r["heartbeat_age"] for r in listed]
    assert 2 <= ages[0] < 30 and 300 <= ages[1] < 330

    rc, out, err = await cli(dsn, "workers", "--json", "--all")
    assert rc == 0, err
    everyone = json.loads(out)
    assert without_clock(everyone) == [EXPECTED_LIVE, EXPECTED_SILENT, EXPECTED_STOPPED]
    # Uptime (issue 14 item 14): until now while running, until stopped_at once stopped.
    uptimes = [r["uptime_seconds"] for r in everyone]
    since_2020 = await fetchval(dsn, "SELECT extract(epoch FROM now() - '2020-01-01+00')::float8")
    assert since_2020 - 5 < uptimes[0] < since_2020 + 60
    assert since_2020 - 65 < uptimes[1] < since_2020  # started a minute later
    assert uptimes[2] == 3480.0  # 00:02 to 01:00

    rc, out, err = await cli(dsn, "workers")
    assert rc == 0, err
    lines = [line for line in out.splitlines() if "host-" in line]
    assert [_cells(line)[:6] for line in lines] == [
        ["00000000", "host-live", "11", "a,b", "running", "yes"],
        ["00000000", "host-silent", "22", "a", "running", "no"],
    ]


def _cells(line: str) -> list[str]:
    # The table has no borders: cells are separated by spaces (none of these cells holds one).
    return line.split()


async def test_workers_shows_a_real_worker_with_its_counters(app: App, dsn: str) -> None:
    @app.task(name="job")
    async def job() -> None:
        return None

    async with running_worker(
        app, concurrency=3, queues=("x", "y"), heartbeat_interval=0.2, heartbeat_ttl=30.0
    ) as worker:
        await app.result(await job.using(queue="x").enqueue(), timeout=15)
        await wait_for(
            lambda: fetchval(
                dsn, "SELECT processed = 1 FROM pgqueue.workers WHERE id = $1::uuid", worker.id
            ),
            message="a heartbeat carrying the count",
        )
        rc, out, err = await cli(dsn, "workers", "--json")
    assert rc == 0, err
    [row] = json.loads(out)
    assert (row["id"], row["queues"], row["concurrency"], row["state"], row["alive"]) == (
        worker.id,
        ["x", "y"],
        3,
        "running",
        True,
    )
    assert (row["processed"], row["failed"], row["pid"]) == (1, 0, os.getpid())
    # Once stopped it is listed only with --all.
    rc, out, _ = await cli(dsn, "workers", "--json")
    assert (rc, json.loads(out)) == (0, [])
    rc, out, _ = await cli(dsn, "workers", "--json", "--all")
    assert [(r["id"], r["state"], r["alive"]) for r in json.loads(out)] == [
        (worker.id, "stopped", False)
    ]


# -- pgqueue cancel ----------------------------------------------------------------------------


async def test_cancel_answers_for_each_state_and_changes_the_row(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        queued = await conn.fetchval("SELECT pgqueue.enqueue('t')")
        scheduled = await conn.fetchval("SELECT pgqueue.enqueue('t', run_at => now() + '1 h')")
        running = await conn.fetchval(
            "INSERT INTO pgqueue.jobs (task, state, attempts, worker_id) "
            "VALUES ('t', 'running', 1, gen_random_uuid()) RETURNING id"
        )
        done = await conn.fetchval(
            "INSERT INTO pgqueue.jobs (task, state, attempts, finished_at) "
            "VALUES ('t', 'succeeded', 1, now()) RETURNING id"
        )
    finally:
        await conn.close()

    assert await cli(dsn, "cancel", str(queued)) == (0, f"job {queued} cancelled\n", "")
    assert await cli(dsn, "cancel", str(scheduled)) == (0, f"job {scheduled} cancelled\n", "")
    assert await cli(dsn, "cancel", str(running)) == (
        0,
        f"job {running} is running: its worker was told to cancel it\n",
        "",
    )
    assert await cli(dsn, "cancel", str(done)) == (
        0,
        f"job {done} had already finished: succeeded\n",
        "",
    )
    # Idempotent, and says so: a job already cancelled is left as it is (issue 14 item 8).
    assert await cli(dsn, "cancel", str(queued)) == (
        0,
        f"job {queued} was already cancelled: nothing to do\n",
        "",
    )
    # No such job: exit 4, as for every command given a job id (docs/cli.md, issue 14 item 9).
    assert await cli(dsn, "cancel", "999999") == (4, "", "error: no job with id 999999\n")
    rows = await fetch(
        dsn,
        "SELECT id, state, cancel_requested_at IS NOT NULL AS requested, "
        "finished_at IS NOT NULL AS finished FROM pgqueue.jobs ORDER BY id",
    )
    assert [(r["id"], r["state"], r["requested"], r["finished"]) for r in rows] == [
        (queued, "cancelled", True, True),
        (scheduled, "cancelled", True, True),
        (running, "running", True, False),  # its worker ends it
        (done, "succeeded", False, True),
    ]


async def test_cancel_stops_a_job_running_on_a_worker(app: App, dsn: str) -> None:
    started = asyncio.Event()

    @app.task(name="forever")
    async def forever() -> None:
        started.set()
        await asyncio.sleep(120)

    async with running_worker(app):
        job_id = await forever.enqueue()
        await asyncio.wait_for(started.wait(), 15)
        rc, out, err = await cli(dsn, "cancel", str(job_id))
        assert (rc, out, err) == (
            0,
            f"job {job_id} is running: its worker was told to cancel it\n",
            "",
        )
        try:
            await app.result(job_id, timeout=15, poll_interval=0.2)
        except JobFailedError as failure:
            assert failure.state == "cancelled"
        else:
            raise AssertionError("the job was not cancelled")
    [row] = await fetch(dsn, "SELECT state, errors -> -1 ->> 'kind' AS kind FROM pgqueue.jobs")
    assert (row["state"], row["kind"]) == ("cancelled", "cancelled")


# -- pgqueue worker --retention-* ----------------------------------------------------------------


async def add_finished(dsn: str, rows: dict[str, tuple[str, str]]) -> dict[str, int]:
    """Finished jobs, name -> (state, age); returns name -> id."""
    conn = await asyncpg.connect(dsn)
    try:
        return {
            name: await conn.fetchval(
                "INSERT INTO pgqueue.jobs (task, state, attempts, finished_at) "
                "VALUES ($1, $2, 1, now() - $3::text::interval) RETURNING id",
                name,
                state,
                age,
            )
            for name, (state, age) in rows.items()
        }
    finally:
        await conn.close()


async def remaining(dsn: str) -> set[str]:
    return {r["task"] for r in await fetch(dsn, "SELECT task FROM pgqueue.jobs")}


async def run_worker_until(dsn: str, args: list[str], gone: set[str]) -> str:
    """`pgqueue worker` with `args` until the jobs named in `gone` are deleted; its log."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pgqueue",
        "worker",
        WORKER_APP,
        "--poll-interval",
        "0.2",
        *args,
        cwd=ROOT,
        env=env(dsn),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:

        async def deleted() -> bool:
            return not (gone & await remaining(dsn))

        await wait_for(deleted, timeout=30, message=f"retention to delete {sorted(gone)}")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_retention_flags_decide_which_finished_jobs_remain(dsn: str) -> None:
    await add_finished(
        dsn,
        {
            "succeeded-2h": ("succeeded", "2 hours"),
            "succeeded-10m": ("succeeded", "10 minutes"),
            "cancelled-30d": ("cancelled", "30 days"),
            "dead-3d": ("dead", "3 days"),
            "dead-1d": ("dead", "1 day"),
        },
    )
    log = await run_worker_until(
        dsn,
        [
            "--retention-succeeded",
            "1h",
            "--retention-cancelled",
            "keep",
            "--retention-dead",
            "2d",
            "--prune-interval",
            "0.2",
        ],
        # dead is the last state of a pass: once its row is gone the whole pass has run.
        gone={"succeeded-2h", "dead-3d"},
    )
    # A cancelled job of 30 days is kept ("keep"); the default (7 days) would have deleted it.
    assert await remaining(dsn) == {"succeeded-10m", "cancelled-30d", "dead-1d"}
    assert "retention deleted 1 succeeded, 1 dead" in log


async def test_retention_defaults_without_flags(dsn: str) -> None:
    await add_finished(
        dsn,
        {
            "succeeded-2d": ("succeeded", "2 days"),
            "succeeded-20h": ("succeeded", "20 hours"),
            "cancelled-8d": ("cancelled", "8 days"),
            "cancelled-6d": ("cancelled", "6 days"),
            "dead-1y": ("dead", "365 days"),
        },
    )
    # Defaults: succeeded 1 day, cancelled 7 days, dead kept until requeued or purged.
    await run_worker_until(dsn, ["--prune-interval", "0.2"], gone={"succeeded-2d", "cancelled-8d"})
    assert await remaining(dsn) == {"succeeded-20h", "cancelled-6d", "dead-1y"}
