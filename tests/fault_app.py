"""The app that real worker processes run in the fault tests and benchmarks/reliability.py:
`python -m pgqueue worker tests.fault_app:app`.

Every attempt appends a line (job id, attempt, pid, time) to the runs file named in the job's
arguments when it starts, and another when it returns. A file, not a table: it is written even
while the database is away, and O_APPEND keeps the lines of concurrent processes whole, so a test
can count exactly how many times each job ran. A job can be held at its start until a gate file exists, so a test can act mid-job.

FAULT_COMMAND_TIMEOUT (seconds) sets the App's command_timeout, for the network stall tests.
FAULT_FAIL_START names a file: while it exists, importing this module raises, so a worker process
started then fails before it serves (the supervisor tests).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pgqueue import App, current_job


def record_run(runs: str, job_id: int, attempt: int, phase: str = "start") -> None:
    line = {
        "job": job_id,
        "attempt": attempt,
        "pid": os.getpid(),
        "at": time.time(),
        "phase": phase,
    }
    fd = os.open(runs, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


def gate_open(gate: str | Path) -> bool:
    return os.path.exists(gate)


def open_gate(gate: str | Path) -> None:
    Path(gate).touch()


def read_runs(runs: str | Path, phase: str = "start") -> list[dict[str, Any]]:
    """The attempts that started (or, with phase="end", that returned) in order."""
    path = Path(runs)
    if not path.exists():
        return []
    lines = (json.loads(line) for line in path.read_text().splitlines() if line)
    return [line for line in lines if line["phase"] == phase]


def run_counts(runs: str | Path) -> Counter[int]:
    """How many attempts of each job started."""
    return Counter(r["job"] for r in read_runs(runs))


def build_app(dsn: str | None = None) -> App:
    timeout = os.environ.get("FAULT_COMMAND_TIMEOUT")
    app = App(dsn, command_timeout=float(timeout) if timeout else 30.0)

    @app.task(name="work")
    async def work(runs: str, gate: str | None = None, seconds: float = 0.0) -> int:
        ctx = current_job()
        record_run(runs, ctx.job_id, ctx.attempt)
        # Another process opens the gate: a file is the simplest thing both can see.
        while gate is not None and not gate_open(gate):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if seconds:
            await asyncio.sleep(seconds)
        record_run(runs, ctx.job_id, ctx.attempt, "end")
        return ctx.job_id

    @app.task(name="work_sync")
    def work_sync(runs: str, gate: str | None = None, seconds: float = 0.0) -> int:
        """The same in a worker thread (a sync task, which nothing can interrupt)."""
        ctx = current_job()
        record_run(runs, ctx.job_id, ctx.attempt)
        while gate is not None and not gate_open(gate):
            time.sleep(0.01)
        time.sleep(seconds)
        record_run(runs, ctx.job_id, ctx.attempt, "end")
        return ctx.job_id

    @app.task(name="fail_with")
    async def fail_with(runs: str, char: str) -> None:
        """Fail with a message holding a character jsonb cannot store (named, as the job's own
        arguments could not hold it either)."""
        ctx = current_job()
        record_run(runs, ctx.job_id, ctx.attempt)
        raise ValueError(f"bad input: {UNSTORABLE[char]}")

    @app.task(name="crash")
    async def crash(runs: str) -> None:
        """Kill the whole worker process, as a segfault in a C extension or the OOM killer would.
        It waits a moment first so the worker writes the outcomes it holds (the test then counts
        every other job's runs exactly)."""
        ctx = current_job()
        record_run(runs, ctx.job_id, ctx.attempt)
        await asyncio.sleep(0.3)
        os._exit(1)

    @app.task(name="deaf")
    async def deaf(runs: str, gate: str) -> None:
        """Make the worker process ignore SIGTERM and SIGINT (as code that installs its own signal
        handlers might), then hold until the gate opens."""
        ctx = current_job()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        record_run(runs, ctx.job_id, ctx.attempt)
        while not gate_open(gate):  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    return app


_fail_start = os.environ.get("FAULT_FAIL_START")
if _fail_start and os.path.exists(_fail_start):
    raise RuntimeError(f"FAULT_FAIL_START: {_fail_start} exists")

UNSTORABLE = {"nul": "\x00", "lone-surrogate": "\udcff"}

app = build_app()
