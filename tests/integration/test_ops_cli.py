"""Operator CLI commands run as subprocesses against a real database; `--json` output is
asserted exactly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pgqueue import App, current_job
from tests.helpers import count_states, fetch, fetchval, running_worker, wait_for

ROOT = Path(__file__).parents[2]
T0 = "2020-01-01T00:00:00+00:00"
T1 = "2020-01-01T00:01:00+00:00"
T2 = "2020-01-01T00:02:00+00:00"


def env(dsn: str) -> dict[str, str]:
    return {**os.environ, "PGQUEUE_DSN": dsn, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


async def cli(dsn: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pgqueue",
        *args,
        cwd=ROOT,
        env=env(dsn),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def cli_json(dsn: str, *args: str, code: int = 0) -> Any:
    rc, out, err = await cli(dsn, *args, "--json")
    assert rc == code, (rc, out, err)
    return json.loads(out)


async def insert_job(conn: asyncpg.Connection, **values: Any) -> int:
    """A job with fixed timestamps, so JSON output can be compared exactly."""
    row = {
        "task": "t",
        "queue": "default",
        "state": "queued",
        "attempts": 0,
        "run_at": datetime.fromisoformat(T0),
        "enqueued_at": datetime.fromisoformat(T0),
        **values,
    }
    if row["state"] == "running":
        row.setdefault("worker_id", "00000000-0000-0000-0000-000000000001")
    for key in ("errors", "args", "kwargs", "result", "progress"):
        if key in row:
            row[key] = json.dumps(row[key])
    cols = ", ".join(row)
    params = ", ".join(
        f"${n}::jsonb" if k in ("errors", "args", "kwargs", "result", "progress") else f"${n}"
        for n, k in enumerate(row, start=1)
    )
    job_id: int = await conn.fetchval(
        f"INSERT INTO pgqueue.jobs ({cols}) VALUES ({params}) RETURNING id", *row.values()
    )
    return job_id


ERROR = {
    "at": T1,
    "attempt": 3,
    "kind": "exception",
    "type": "ValueError",
    "message": "bad",
    "traceback": "Traceback ...\nValueError: bad\n",
}


async def setup_state(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    t0, t1 = datetime.fromisoformat(T0), datetime.fromisoformat(T1)
    try:
        return {
            "ready": await insert_job(conn, queue="a", task="send"),
            "ready2": await insert_job(conn, queue="a", task="send", run_at=t1),
            "later": await insert_job(
                conn,
                queue="b",
                task="report",
                state="scheduled",
                run_at=datetime(2999, 1, 1, tzinfo=UTC),
            ),
            "running": await insert_job(
                conn, queue="b", task="report", state="running", attempts=1, started_at=t0
            ),
            "dead": await insert_job(
                conn,
                queue="b",
                task="report",
                state="dead",
                attempts=3,
                max_attempts=3,
                started_at=t0,
                finished_at=t1,
                errors=[ERROR],
                args=[1, "x"],
                kwargs={"k": True},
                unique_key="report:1",
            ),
        }
    finally:
        await conn.close()


async def has_workers_table(dsn: str) -> bool:
    return bool(await fetchval(dsn, "SELECT to_regclass('pgqueue.workers') IS NOT NULL"))


async def test_status_json_and_health_checks(dsn: str) -> None:
    await setup_state(dsn)
    status = await cli_json(dsn, "status")
    lag = status["queues"][0].pop("lag_seconds")
    assert lag > 365 * 86400  # the oldest ready job is from 2020
    assert status == {
        "queues": [
            {
                "queue": "a",
                "ready": 2,
                "scheduled": 0,
                "running": 0,
                "retrying": 0,
                "dead": 0,
                "succeeded_5m": 0,
                "failed_5m": 0,
                "oldest_ready_at": T0,
                "waiting": 0,
            },
            {
                "queue": "b",
                "ready": 0,
                "scheduled": 1,
                "running": 1,
                "retrying": 0,
                "dead": 1,
                "succeeded_5m": 0,
                "failed_5m": 0,
                "oldest_ready_at": None,
                "lag_seconds": 0.0,
                "waiting": 0,
            },
        ],
        "workers": [] if await has_workers_table(dsn) else None,
        "unserved": ["a"] if await has_workers_table(dsn) else [],
        "unserved_tasks": [],
        "limits": [],
        "healthy": True,
        "problems": [],
    }
    rc, out, err = await cli(dsn, "status", "--fail-if-lag", "60")
    assert rc == 3
    assert err.startswith("unhealthy: queue a: lag ") and err.endswith("s is over 60s\n")
    assert "QUEUE" in out and " a " in out  # the table is still printed
    rc, _, err = await cli(dsn, "status", "--queue", "b", "--fail-if-lag", "1m")
    assert (rc, err) == (0, "")
    checked = await cli_json(dsn, "status", "-q", "b", "--fail-if-dead", "0", code=3)
    assert checked["healthy"] is False
    assert checked["problems"] == ["1 dead-lettered jobs (more than 0)"]
    rc, out, _ = await cli(dsn, "status", "--json", "--watch", "0.05", "--count", "2")
    assert rc == 0 and len(out.splitlines()) == 2
    rc, _, err = await cli(dsn, "status", "--fail-if-lag", "soon")
    assert rc == 2 and "cannot read duration 'soon'" in err


async def add_worker(dsn: str, queues: list[str], state: str = "running") -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, state,"
            " heartbeat_ttl) VALUES (gen_random_uuid(), 'h', 1, $1, 1, 'x', $2, '1 hour')",
            queues,
            state,
        )
    finally:
        await conn.close()


async def test_status_flags_queues_no_live_worker_serves(dsn: str) -> None:
    """Issue 14 item 3: ready jobs in a queue nobody serves wait forever; status says so."""
    await setup_state(dsn)  # queue a: 2 ready; queue b: none ready
    await add_worker(dsn, ["b"])
    await add_worker(dsn, ["a"], state="stopping")  # stopping: claims nothing more
    rc, out, err = await cli(dsn, "status")
    line = "queue a: 2 ready jobs and no live worker serves it (start one with "
    assert (rc, err) == (0, "")
    assert f"unserved: {line}`pgqueue worker MODULE:APP --queue a`)" in out
    assert "queue b" not in out
    checked = await cli_json(dsn, "status", "--fail-if-unserved", code=3)
    assert checked["unserved"] == ["a"]
    assert checked["problems"] == [f"{line}`pgqueue worker MODULE:APP --queue a`)"]
    rc, _, err = await cli(dsn, "status", "--fail-if-unserved")
    assert rc == 3 and err == f"unhealthy: {line}`pgqueue worker MODULE:APP --queue a`)\n"
    await add_worker(dsn, ["a", "c"])
    rc, out, err = await cli(dsn, "status", "--fail-if-unserved")
    assert (rc, err) == (0, "") and "unserved" not in out
    assert (await cli_json(dsn, "status"))["unserved"] == []


async def test_status_unreachable_database_exits_1(dsn: str) -> None:
    rc, _, err = await cli(dsn, "status", "--dsn", "postgresql://postgres@127.0.0.1:1/x")
    assert rc == 1 and err.startswith("error: cannot reach the database at 127.0.0.1:1")


async def test_jobs_list_and_show(dsn: str) -> None:
    ids = await setup_state(dsn)
    listed = await cli_json(dsn, "jobs", "list", "--state", "dead")
    assert listed == [
        {
            "id": ids["dead"],
            "task": "report",
            "queue": "b",
            "state": "dead",
            "priority": 0,
            "attempts": 3,
            "max_attempts": 3,
            "run_at": T0,
            "enqueued_at": T0,
            "started_at": T0,
            "finished_at": T1,
            "unique_key": "report:1",
            "error_type": "ValueError",
            "error_message": "bad",
        },
    ]
    both = await cli_json(dsn, "jobs", "list", "-q", "a", "--limit", "5")
    assert [j["id"] for j in both] == [ids["ready2"], ids["ready"]]
    assert await cli_json(dsn, "jobs", "list", "--task", "nope") == []
    shown = await cli_json(dsn, "jobs", "show", str(ids["dead"]))
    assert shown == {
        "id": ids["dead"],
        "task": "report",
        "queue": "b",
        "state": "dead",
        "priority": 0,
        "args": [1, "x"],
        "kwargs": {"k": True},
        "attempts": 3,
        "max_attempts": 3,
        "run_at": T0,
        "enqueued_at": T0,
        "started_at": T0,
        "finished_at": T1,
        "result": None,
        "errors": [ERROR],
        "worker_id": None,
        "unique_key": "report:1",
        "progress": None,
        "parents": [],
        "children": [],
    }
    rc, out, _ = await cli(dsn, "jobs", "show", str(ids["dead"]))
    assert rc == 0 and "ValueError: bad" in out and "Traceback ..." in out
    rc, _, err = await cli(dsn, "jobs", "show", "999999")
    assert (rc, err) == (4, "error: no job with id 999999\n")
    rc, out, _ = await cli(dsn, "jobs", "list")
    assert rc == 0 and out.count("\n") >= 6 and "report" in out


async def test_jobs_cancel_and_retry(dsn: str) -> None:
    ids = await setup_state(dsn)
    cancelled = await cli_json(
        dsn,
        "jobs",
        "cancel",
        str(ids["ready"]),
        str(ids["later"]),
        str(ids["running"]),
        "999999",
        code=4,
    )
    assert cancelled == {
        "cancelled": [ids["ready"], ids["later"]],
        "cancelling": [ids["running"]],  # flagged; its worker is told and cancels it
        "not_cancelled": [{"id": 999999, "state": None}],
    }
    assert await fetchval(
        dsn,
        "SELECT cancel_requested_at IS NOT NULL FROM pgqueue.jobs WHERE id = $1",
        ids["running"],
    )
    retried = await cli_json(dsn, "jobs", "retry", str(ids["ready"]), str(ids["dead"]))
    assert retried == {"retried": [ids["ready"], ids["dead"]], "not_retried": []}
    assert await count_states(dsn) == {"queued": 3, "cancelled": 1, "running": 1}
    rc, out, err = await cli(dsn, "jobs", "cancel", str(ids["ready"]), str(ids["later"]))
    assert rc == 4
    assert out == f"cancelled 1: {ids['ready']}\n"
    assert err == f"job {ids['later']} not cancelled: state is cancelled\n"


async def test_dead_letter_queue(dsn: str) -> None:
    ids = await setup_state(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        t1, t2 = datetime.fromisoformat(T1), datetime.fromisoformat(T2)
        more = [
            await insert_job(
                conn,
                queue="c",
                task="sync",
                state="dead",
                attempts=1,
                finished_at=t2,
                errors=[ERROR],
            )
            for _ in range(3)
        ]
        other = await insert_job(
            conn, queue="d", task="mail", state="dead", attempts=1, finished_at=t1, errors=[]
        )
    finally:
        await conn.close()
    letters = await cli_json(dsn, "dlq", "list", "--queue", "b")
    assert letters == [
        {
            "id": ids["dead"],
            "queue": "b",
            "task": "report",
            "args": [1, "x"],
            "kwargs": {"k": True},
            "attempts": 3,
            "max_attempts": 3,
            "unique_key": "report:1",
            "enqueued_at": T0,
            "died_at": T1,
            "error_type": "ValueError",
            "error_message": "bad",
            "last_error": ERROR,
        },
    ]
    everything = await cli_json(dsn, "dlq", "list")
    assert [d["id"] for d in everything] == [*reversed(more), other, ids["dead"]]
    assert (await cli_json(dsn, "dlq", "show", str(other)))["errors"] == []
    rc, _, err = await cli(dsn, "dlq", "show", str(ids["ready"]))
    assert (rc, err) == (4, f"error: job {ids['ready']} is not dead-lettered (state: queued)\n")

    rc, _, err = await cli(dsn, "dlq", "requeue")
    assert rc == 2 and "name job ids, --queue, --task or --kind, or pass --all" in err
    assert await cli_json(dsn, "dlq", "requeue", str(ids["dead"])) == {"requeued": 1}
    assert await cli_json(dsn, "dlq", "requeue", str(ids["dead"]), code=4) == {"requeued": 0}
    assert await cli_json(dsn, "dlq", "requeue", "--task", "sync") == {"requeued": 3}
    row = await fetchval(
        dsn,
        "SELECT row(state, attempts, finished_at IS NULL)::text FROM pgqueue.jobs WHERE id = $1",
        ids["dead"],
    )
    assert row == "(queued,0,t)"

    # Purge asks first; declining deletes nothing.
    rc, out, err = await cli(dsn, "dlq", "purge", "--all", stdin="n\n")
    assert rc == 1 and "Delete 1 dead letters for good? [y/N]" in err and "Aborted!" in err
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'dead'") == 1
    rc, out, _ = await cli(dsn, "dlq", "purge", "--all", stdin="y\n")
    assert (rc, out) == (0, "purged 1 dead letters\n")
    assert await cli_json(dsn, "dlq", "purge", "--older-than", "1d", "--yes") == {"purged": 0}
    assert await count_states(dsn) == {"queued": 6, "scheduled": 1, "running": 1}


async def test_prune(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    t1 = datetime.fromisoformat(T1)
    try:
        for state in ("succeeded", "succeeded", "succeeded", "cancelled", "dead"):
            await insert_job(conn, state=state, finished_at=t1)
        await conn.execute(
            "INSERT INTO pgqueue.jobs (task, state, finished_at) VALUES ('t', 'succeeded', now())"
        )
    finally:
        await conn.close()
    dry = await cli_json(dsn, "prune", "--older-than", "1d", "--dry-run")
    assert dry == {
        "deleted": {"succeeded": 3, "cancelled": 1},
        "older_than_seconds": 86400.0,
        "dry_run": True,
    }
    done = await cli_json(dsn, "prune", "--older-than", "1d", "--batch-size", "2")
    assert done == {
        "deleted": {"succeeded": 3, "cancelled": 1},
        "older_than_seconds": 86400.0,
        "dry_run": False,
    }
    rc, out, _ = await cli(dsn, "prune", "--older-than", "1h", "--state", "dead")
    assert (rc, out) == (0, "deleted 1 dead jobs finished more than 1h00m ago\n")
    assert await count_states(dsn) == {"succeeded": 1}
    rc, _, err = await cli(dsn, "prune")
    assert rc == 2 and "--older-than" in err


async def test_periodic_list(dsn: str) -> None:
    await fetchval(
        dsn,
        "INSERT INTO pgqueue.schedules (name, task, cron, timezone, registered_at, updated_at, "
        "last_tick) VALUES ('new-year', 'greet', '0 0 1 1 *', 'UTC', $1, $1, $2) RETURNING name",
        datetime.fromisoformat(T0),
        datetime.fromisoformat(T1),
    )
    next_year = datetime.now(UTC).year + 1
    assert await cli_json(dsn, "periodic", "list") == [
        {
            "name": "new-year",
            "task": "greet",
            "cron": "0 0 1 1 *",
            "timezone": "UTC",
            "registered_at": T0,
            "updated_at": T0,
            "last_tick": T1,
            "next_run": f"{next_year}-01-01T00:00:00+00:00",
        },
    ]
    rc, out, _ = await cli(dsn, "periodic", "list")
    assert rc == 0 and "new-year" in out and f"{next_year}-01-01 00:00:00" in out


async def test_watch_prints_progress_live(dsn: str) -> None:
    app = App(dsn)
    gate = asyncio.Event()

    @app.task(name="steps")
    async def steps() -> str:
        await current_job().progress(0.25, "first")
        await gate.wait()
        await current_job().progress(1, "last")
        return "all done"

    try:
        job_id = await app.enqueue("steps")
        async with running_worker(app):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "pgqueue",
                "watch",
                str(job_id),
                "--json",
                cwd=ROOT,
                env=env(dsn),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert proc.stdout is not None
            first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
            gate.set()  # only now does the task report again: the watcher must get it live
            rest, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        gate.set()
        await app.close()
    events = [first, *(json.loads(line) for line in rest.decode().splitlines())]
    # Each progress report carries the database time it was stored: after the job started,
    # before it finished, in order; the final event carries none.
    [row] = await fetch(dsn, "SELECT started_at, finished_at FROM pgqueue.jobs")
    times = [datetime.fromisoformat(e.pop("at")) for e in events if e["event"] == "progress"]
    assert row["started_at"] <= times[0] <= times[1] <= row["finished_at"], times
    assert "at" not in events[-1]
    assert events == [
        {"event": "progress", "job_id": job_id, "seq": 1, "value": 0.25, "message": "first"},
        {"event": "progress", "job_id": job_id, "seq": 2, "value": 1.0, "message": "last"},
        {
            "event": "finished",
            "job_id": job_id,
            "state": "succeeded",
            "result": "all done",
            "error": None,
        },
    ]
    assert proc.returncode == 0, err
    # A finished job prints its last progress and outcome at once.
    rc, out, _ = await cli(dsn, "watch", str(job_id))
    assert rc == 0
    assert out == f"job {job_id} progress #2: 1 last\njob {job_id} succeeded: all done\n"
    rc, _, err = await cli(dsn, "watch", "999999")
    assert (rc, err) == (4, "error: no job with id 999999\n")


async def test_watch_exit_code_for_a_dead_job(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        job_id = await insert_job(
            conn, state="dead", finished_at=datetime.fromisoformat(T1), errors=[ERROR]
        )
    finally:
        await conn.close()
    rc, out, _ = await cli(dsn, "watch", str(job_id))
    assert (rc, out) == (5, f"job {job_id} dead: ValueError: bad\n")


async def test_worker_json_logs_and_operations_flags(dsn: str) -> None:
    """`pgqueue worker --log-format json`: every job line carries job_id, task, queue and
    attempt (the task's own lines too); --metrics-port serves metrics."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pgqueue",
        "worker",
        "tests.integration.ops_app:app",
        "--log-format",
        "json",
        "--metrics-port",
        "0",
        "--metrics-host",
        "127.0.0.1",
        "--retention-succeeded",
        "1h",
        "--retention-dead",
        "keep",
        "--prune-interval",
        "1s",
        "--poll-interval",
        "0.2",
        cwd=ROOT,
        env=env(dsn),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[dict[str, Any]] = []

    async def read() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            lines.append(json.loads(raw))  # every line must be JSON

    reader = asyncio.create_task(read())
    try:
        await wait_for(lambda: any("metrics on" in line["message"] for line in lines), timeout=30)
        conn = await asyncpg.connect(dsn)
        try:
            ok = await conn.fetchval("SELECT pgqueue.enqueue('chatty', '[21]')")
            bad = await conn.fetchval("SELECT pgqueue.enqueue('broken', queue => 'default')")
        finally:
            await conn.close()
        await wait_for(
            lambda: _finished(dsn, 2), timeout=30, message="the worker process to run both jobs"
        )
        url = next(line["message"] for line in lines if "metrics on" in line["message"]).split()[-1]
        metrics = await asyncio.to_thread(_get, url)
        assert (
            'pgqueue_job_executions_total{outcome="dead",queue="default",task="broken"} 1.0'
            in metrics
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        await reader
    assert proc.returncode == 0
    chatty = [line for line in lines if line.get("job_id") == ok]
    assert chatty and all(
        (line["task"], line["queue"], line["attempt"]) == ("chatty", "default", 1)
        for line in chatty
    )
    assert any(
        line["logger"] == "ops_app" and line["message"] == "working on 21" for line in chatty
    )
    failed = [line for line in lines if line.get("job_id") == bad and line["level"] == "ERROR"]
    assert [(line["task"], line["queue"], line["attempt"]) for line in failed] == [
        ("broken", "default", 1)
    ]
    assert "broken on purpose" in failed[0]["message"]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


async def _finished(dsn: str, n: int) -> bool:
    done = await fetchval(
        dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state IN ('succeeded', 'dead')"
    )
    return bool(done == n)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--retention-succeeded", "0", "retention_succeeded must be positive"),
        ("--metrics-port", "99999", "99999 is not in the range"),
        ("--retention-dead", "soon", "cannot read duration"),
    ],
)
async def test_worker_rejects_bad_operations_flags(
    dsn: str, flag: str, value: str, message: str
) -> None:
    rc, _, err = await cli(dsn, "worker", "tests.integration.ops_app:app", flag, value)
    assert rc == 2 and message in err
