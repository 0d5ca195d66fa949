"""Test helpers: wait on conditions with a deadline (never fixed sleeps), run workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

import pgqueue
from pgqueue import App, Worker


async def wait_for(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 15.0,
    interval: float = 0.02,
    message: str = "condition",
) -> None:
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running_worker(
    app: App, *, stop_timeout: float = 10, **settings: Any
) -> AsyncIterator[Worker]:
    """A started worker, stopped on the way out; `stop_timeout` is how long its running jobs
    get to finish before the stop interrupts them (short for a test that leaves one blocking)."""
    settings.setdefault("poll_interval", 0.2)
    settings.setdefault("schedule_interval", 0.1)
    worker = app.worker(**settings)
    await worker.start()
    if worker.listener_connected is not None:
        await asyncio.wait_for(worker.listener_connected.wait(), 10)
    try:
        yield worker
    finally:
        await worker.stop(timeout=stop_timeout)


async def fetchval(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def count_states(dsn: str) -> dict[str, int]:
    rows = await fetch(dsn, "SELECT state, count(*) AS n FROM pgqueue.jobs GROUP BY state")
    return {r["state"]: r["n"] for r in rows}


async def all_finished(dsn: str, expected: int) -> bool:
    n = await fetchval(
        dsn,
        "SELECT count(*) FROM pgqueue.jobs WHERE state IN ('succeeded', 'dead', 'cancelled')",
    )
    return bool(n == expected)


def mypy_error_lines(snippet: str, tmp_path: Path) -> tuple[list[int], str]:
    """Type-check `snippet` with mypy --strict and the project's config (as a user's code
    importing the installed pgqueue would be): the line numbers of its errors, and the output."""
    (tmp_path / "snippet.py").write_text(snippet)
    root = Path(pgqueue.__file__).resolve().parents[1]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--no-color-output",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--config-file",
            str(root / "pyproject.toml"),
            "snippet.py",
        ],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    return [int(line.split(":")[1]) for line in errors], done.stdout


def one_success(job_id: int, worker_id: str, attempt: int = 1) -> tuple[object, ...]:
    """The arguments of job_complete_many.sql for one outcome: attempt `attempt` of `job_id`
    by `worker_id` succeeded, returning None."""
    return (
        [job_id],
        [attempt],
        ["succeeded"],
        ["null"],
        [None],
        [None],
        [False],
        [True],
        worker_id,
    )


async def lose_claim(dsn: str, job_id: int) -> None:
    """The row as a claim lost in a crash of PostgreSQL leaves it: queued, the attempt uncounted
    (docs/reliability.md, "Claims commit asynchronously")."""
    await fetch(
        dsn,
        "UPDATE pgqueue.jobs SET state = 'queued', attempts = attempts - 1, worker_id = NULL, "
        "started_at = NULL WHERE id = $1",
        job_id,
    )


# Where a session's synchronous_commit came from ("client": its connection's startup options).
SYNCHRONOUS_COMMIT = "SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'"
# pg_settings.source of a setting a session has from the server itself (not from its client, its
# role or its database).
SERVER_WIDE = frozenset({"default", "configuration file", "command line", "environment variable"})
