"""`pgqueue worker MODULE:APP --import MODULE ...` and PGQUEUE_IMPORTS, run as real worker
processes against a real database: the tasks the imported modules register are served, a task
with waiting jobs that no imported module registers is named at start-up, and a module that
fails to import is one clear line and exit 2."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.helpers import fetch, fetchval, wait_for
from tests.integration.test_cli import REPO_ROOT, assert_one_clean_error, cli_env, pgqueue, rows

APP = "examples.task_modules.app:app"
BILLING = "examples.task_modules.billing"
MAIL = "examples.task_modules.mail"


def text(path: Path) -> str:
    return path.read_text()


@asynccontextmanager
async def worker(dsn: str, log_path: Path, *args: str, **env: str) -> AsyncIterator[None]:
    """A worker process, serving once this yields; stopped with SIGTERM (exit 0) after."""
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "pgqueue", "worker", APP, *args),
            cwd=REPO_ROOT,
            env=cli_env(dsn, PGQUEUE_POLL_INTERVAL="0.2", **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        await wait_for(
            lambda: "serving queues default" in log_path.read_text(),
            timeout=30,
            message=f"the worker to start; log: {log_path}",
        )
        yield
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=30)
        output = text(log_path)
        assert code == 0, output
        assert "Traceback" not in output
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def wait_succeeded(dsn: str, job_id: int) -> object:
    async def done() -> bool:
        [row] = await fetch(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id)
        return bool(row["state"] == "succeeded")

    await wait_for(done, timeout=30, message=f"job {job_id} to succeed")
    return json.loads(
        await fetchval(dsn, "SELECT result::text FROM pgqueue.jobs WHERE id = $1", job_id)
    )


async def test_imported_modules_tasks_are_served_and_a_missing_one_is_named(
    dsn: str, tmp_path: Path
) -> None:
    charge = await fetchval(dsn, """SELECT pgqueue.enqueue('billing.charge', '["ada", 250]')""")
    send = await fetchval(dsn, """SELECT pgqueue.enqueue('mail.send', '["ada@example.com"]')""")

    # PGQUEUE_IMPORTS names billing only: its job runs; the mail job is named at start-up,
    # before anything is claimed, then dead-lettered as an unknown task (as always).
    first = tmp_path / "first.log"
    async with worker(dsn, first, PGQUEUE_IMPORTS=BILLING):
        assert await wait_succeeded(dsn, charge) == "charged ada 250"
    output = first.read_text()
    assert "serving 1 task(s): billing.charge" in output
    report = "no imported module registers: mail.send (1 job)"
    assert output.index(report) < output.index("serving queues default"), output
    assert rows(dsn, "SELECT state, errors->-1->>'kind' FROM pgqueue.jobs WHERE id = %s", send) == [
        ("dead", "unknown_task")
    ]

    # --import beats PGQUEUE_IMPORTS; repeated, every module's tasks are served.
    again = await fetchval(dsn, """SELECT pgqueue.enqueue('mail.send', '["ada@example.com"]')""")
    second = tmp_path / "second.log"
    async with worker(dsn, second, "--import", BILLING, "--import", MAIL, PGQUEUE_IMPORTS="nope"):
        assert await wait_succeeded(dsn, again) == "sent to ada@example.com"
    assert "serving 2 task(s): billing.charge, mail.send" in second.read_text()
    assert "no imported module registers" not in second.read_text()
    assert rows(dsn, "SELECT task, state, attempts FROM pgqueue.jobs ORDER BY id") == [
        ("billing.charge", "succeeded", 1),
        ("mail.send", "dead", 1),
        ("mail.send", "succeeded", 1),
    ]


async def test_comma_separated_imports_serve_every_module(dsn: str, tmp_path: Path) -> None:
    send = await fetchval(dsn, """SELECT pgqueue.enqueue('mail.send', '["bob@example.com"]')""")
    log = tmp_path / "worker.log"
    async with worker(dsn, log, PGQUEUE_IMPORTS=f"{BILLING}, {MAIL}"):
        assert await wait_succeeded(dsn, send) == "sent to bob@example.com"
        assert "serving 2 task(s): billing.charge, mail.send" in log.read_text()


def test_a_module_that_fails_to_import_exits_2_with_one_line(dsn: str) -> None:
    done = pgqueue("worker", APP, "--import", "examples.task_modules.broken", dsn=dsn)
    stderr = assert_one_clean_error(done, 2)
    assert (
        "importing 'examples.task_modules.broken' raised RuntimeError: billing is misconfigured"
        in stderr
    )
    assert "examples/task_modules/broken.py:5" in stderr
    done = pgqueue("worker", APP, dsn=dsn, PGQUEUE_IMPORTS=f"{BILLING},examples.no_such")
    stderr = assert_one_clean_error(done, 2)
    assert "cannot import 'examples.no_such': No module named 'examples.no_such'" in stderr
    done = pgqueue("worker", APP, "--import", "examples/task_modules/mail.py", dsn=dsn)
    stderr = assert_one_clean_error(done, 2)
    assert "'examples/task_modules/mail.py' is not a dotted module name" in stderr
    assert rows(dsn, "SELECT count(*) FROM pgqueue.workers") == [(0,)]


async def test_every_process_of_processes_imports_the_modules(dsn: str, tmp_path: Path) -> None:
    ids = [
        await fetchval(dsn, f"""SELECT pgqueue.enqueue('mail.send', '["p{i}@example.com"]')""")
        for i in range(4)
    ]
    log = tmp_path / "worker.log"
    async with worker(dsn, log, "--processes", "2", "--import", MAIL):
        for i, job_id in enumerate(ids):
            assert await wait_succeeded(dsn, job_id) == f"sent to p{i}@example.com"
        await wait_for(
            lambda: text(log).count("serving 1 task(s): mail.send") == 2,
            timeout=30,
            message=f"both processes to serve; log: {log}",
        )
