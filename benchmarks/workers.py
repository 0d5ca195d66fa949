"""Worker processes as users run them: `python -m pgqueue worker benchmarks.app:app`.

A start gate makes every process begin at the same moment: the benchmark holds an ACCESS
EXCLUSIVE lock on pgqueue.jobs until each process's first claim is waiting on it, so a rate
measured from the rows' timestamps does not count one process starting later than another.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
APP_SPEC = "benchmarks.app:app"
NAME = "pgqueue-bench-w"


class WorkerCrashedError(RuntimeError):
    pass


def _with_app_name(dsn: str, name: str) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}application_name={name}"


class WorkerProcesses:
    def __init__(self, procs: list[asyncio.subprocess.Process], logs: list[Path]) -> None:
        self.procs = procs
        self.logs = logs

    def check(self) -> None:
        """Raise if a worker process died (with the end of its log)."""
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.returncode is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise WorkerCrashedError(f"worker exited with {proc.returncode}:\n{tail}")


@contextlib.asynccontextmanager
async def worker_processes(
    dsn: str,
    processes: int = 1,
    concurrency: int | None = None,
    *,
    gate: bool = False,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    app_spec: str = APP_SPEC,
) -> AsyncIterator[WorkerProcesses]:
    """Start `processes` workers; with `gate`, return once all are waiting on their first claim
    and let them go together. `concurrency` None passes no --concurrency: the worker's default
    (WorkerSettings().concurrency), as a plain `pgqueue worker` runs."""
    gate_conn: asyncpg.Connection | None = None
    gate_tx = None
    if gate:
        gate_conn = await asyncpg.connect(dsn)
        gate_tx = gate_conn.transaction()
        await gate_tx.start()
        await gate_conn.execute("LOCK TABLE pgqueue.jobs IN ACCESS EXCLUSIVE MODE")
    procs: list[asyncio.subprocess.Process] = []
    logs: list[Path] = []
    tmpdir = tempfile.TemporaryDirectory(prefix="pgqueue-bench-")
    try:
        for n in range(processes):
            log = Path(tmpdir.name) / f"worker{n}.log"
            logs.append(log)
            with log.open("wb") as out:
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "pgqueue",
                        "worker",
                        app_spec,
                        "--dsn",
                        _with_app_name(dsn, f"{NAME}{n}"),
                        *(() if concurrency is None else ("--concurrency", str(concurrency))),
                        "--log-level",
                        "WARNING",
                        *extra_args,
                        cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=out,
                        stderr=asyncio.subprocess.STDOUT,
                    )
                )
        workers = WorkerProcesses(procs, logs)
        if gate_conn is not None and gate_tx is not None:
            await _wait_for_waiters(gate_conn, processes, workers)
            await gate_tx.commit()
            gate_tx = None
        yield workers
    finally:
        if gate_tx is not None:
            await gate_tx.rollback()
        if gate_conn is not None:
            await gate_conn.close()
        await _stop(procs)
        tmpdir.cleanup()


async def _wait_for_waiters(
    conn: asyncpg.Connection, processes: int, workers: WorkerProcesses
) -> None:
    query = """
        SELECT count(DISTINCT a.application_name)
        FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
        WHERE NOT l.granted AND l.relation = 'pgqueue.jobs'::regclass
          AND a.application_name LIKE $1
    """
    for _ in range(1200):
        # Activity statistics are a snapshot per transaction; the gate's transaction is open.
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        if await conn.fetchval(query, f"{NAME}%") >= processes:
            return
        workers.check()
        await asyncio.sleep(0.05)
    raise TimeoutError("worker processes did not start within 60s")


async def _stop(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
