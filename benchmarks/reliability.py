"""How long pgqueue takes to recover from faults, measured with real worker processes.

    python benchmarks/reliability.py [--repeat 3] [--server-dsn postgresql://postgres@127.0.0.1/postgres]

(a) rescue after SIGKILL: a worker is killed mid-job (heartbeat every 1s, ttl 5s); time from the
    kill to the job succeeding on a second worker, against the ttl.
(b) resume after a database restart: a throwaway cluster (initdb as the postgres user, its own
    port) is stopped for a while and started again under a running worker; time from the database
    accepting connections to (1) the first outcome written of a job that finished while it was
    down and (2) the completion of a job enqueued the moment it is back.
(c) resume after pg_terminate_backend on every connection of a worker: time to the LISTEN
    connection being back, and from enqueue to completion of a job enqueued just after the kill.

It creates (and drops) its own databases on the server; it never stops or reconfigures it. Run it
from the repository root; it uses the worker app and tools of the fault tests
(tests/fault_app.py, tests/faults_support.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from pgqueue import migrate  # noqa: E402
from tests.fault_app import read_runs  # noqa: E402
from tests.faults_support import (  # noqa: E402
    Cluster,
    WorkerProcess,
    backends,
    cluster_unavailable_reason,
    enqueue_work,
    is_listener,
    terminate_backends,
    worker_id,
)

DEFAULT_SERVER = os.environ.get("PGQUEUE_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> float:
    """Poll every 10ms; returns time.monotonic() when `condition` first held."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)
    return time.monotonic()


async def job_state(dsn: str, job_id: int) -> str | None:
    conn = await asyncpg.connect(dsn)
    try:
        state = await conn.fetchval("SELECT state FROM pgqueue.jobs WHERE id = $1", job_id)
        return None if state is None else str(state)
    finally:
        await conn.close()


async def finished_at(dsn: str, job_id: int) -> float | None:
    """When the job's outcome was written (database clock, same host: comparable to time.time())."""
    conn = await asyncpg.connect(dsn)
    try:
        value = await conn.fetchval(
            "SELECT extract(epoch FROM finished_at)::float8 FROM pgqueue.jobs "
            "WHERE id = $1 AND state = 'succeeded'",
            job_id,
        )
        return None if value is None else float(value)
    finally:
        await conn.close()


class Database:
    """A fresh migrated database on a server, dropped on exit."""

    def __init__(self, server_dsn: str) -> None:
        self.server_dsn = server_dsn
        self.name = f"pgqueue_bench_{uuid.uuid4().hex[:8]}"
        base, _, _ = server_dsn.rpartition("/")
        self.dsn = f"{base}/{self.name}"

    async def __aenter__(self) -> str:
        conn = await asyncpg.connect(self.server_dsn)
        try:
            await conn.execute(f"CREATE DATABASE {self.name}")
        finally:
            await conn.close()
        await migrate.upgrade_async(self.dsn)
        return self.dsn

    async def __aexit__(self, *exc: object) -> None:
        conn = await asyncpg.connect(self.server_dsn)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        finally:
            await conn.close()


async def ran(runs: Path, job_id: int, pid: int | None = None) -> bool:
    return any(r["job"] == job_id and pid in (None, r["pid"]) for r in read_runs(runs))


# -- (a) rescue after SIGKILL --------------------------------------------------------------------


async def rescue_after_sigkill(server: str, tmp: Path, interval: float, ttl: float) -> float:
    args = ["--heartbeat-interval", str(interval), "--heartbeat-ttl", str(ttl)]
    runs, gate = tmp / f"runs-{uuid.uuid4().hex}", tmp / f"gate-{uuid.uuid4().hex}"
    async with Database(server) as dsn:
        a = WorkerProcess(dsn, args, tmp / "a.log")
        b: WorkerProcess | None = None
        try:
            await worker_id(dsn, a.pid)
            [job] = await enqueue_work(dsn, runs, gate=str(gate))
            await until(lambda: ran(runs, job, a.pid))
            b = WorkerProcess(dsn, args, tmp / "b.log")
            await worker_id(dsn, b.pid)
            gate.touch()
            a.send(signal.SIGKILL)
            killed = time.monotonic()

            async def done() -> bool:
                return await job_state(dsn, job) == "succeeded"

            return await until(done, ttl * 4) - killed
        finally:
            a.close()
            if b is not None:
                b.close()


# -- (b) resume after a database restart ---------------------------------------------------------


async def resume_after_restart(cluster: Cluster, tmp: Path, outage: float) -> tuple[float, float]:
    args = ["--heartbeat-interval", "1", "--heartbeat-ttl", "5"]
    runs = tmp / f"runs-{uuid.uuid4().hex}"
    async with Database(cluster.dsn()) as dsn:
        w = WorkerProcess(dsn, args, tmp / "w.log")
        try:
            await worker_id(dsn, w.pid)
            [away] = await enqueue_work(dsn, runs, seconds=0.3)
            await until(lambda: ran(runs, away))
            cluster.stop("fast")
            await asyncio.sleep(outage)  # the outage (the job returns during it)
            if w.proc.poll() is not None:
                raise RuntimeError(f"the worker exited during the outage: {w.output()}")
            up = cluster.start()
            [fresh] = await enqueue_work(dsn, runs)
            enqueued = time.time()

            async def both_done() -> bool:
                return await job_state(dsn, away) == await job_state(dsn, fresh) == "succeeded"

            await until(both_done, outage + 60)
            written, completed = await finished_at(dsn, away), await finished_at(dsn, fresh)
            assert written is not None and completed is not None
            return written - up, completed - enqueued
        finally:
            w.close()


# -- (c) resume after pg_terminate_backend -------------------------------------------------------


async def resume_after_terminate(server: str, tmp: Path) -> tuple[float, float]:
    runs = tmp / f"runs-{uuid.uuid4().hex}"
    async with Database(server) as dsn:
        w = WorkerProcess(dsn, [], tmp / "w.log")
        try:
            await worker_id(dsn, w.pid)

            async def listening_since(t: float) -> bool:
                return any(
                    is_listener(b["query"]) and b["started"] > t for b in await backends(dsn)
                )

            await until(lambda: listening_since(0))
            await enqueue_work(dsn, runs)  # warm: the pool has run its queries once
            killed_wall, killed = time.time(), time.monotonic()
            await terminate_backends(dsn)
            [job] = await enqueue_work(dsn, runs)
            enqueued = time.monotonic()
            listening = await until(lambda: listening_since(killed_wall))

            async def done() -> bool:
                return await job_state(dsn, job) == "succeeded"

            completed = await until(done)
            return listening - killed, completed - enqueued
        finally:
            w.close()


# -- report --------------------------------------------------------------------------------------


def row(name: str, settings: str, values: list[float]) -> tuple[str, ...]:
    return (
        name,
        settings,
        str(len(values)),
        f"{min(values):.2f}",
        f"{statistics.median(values):.2f}",
        f"{max(values):.2f}",
    )


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("measure", "settings", "runs", "min s", "median s", "max s")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server-dsn", default=DEFAULT_SERVER)
    parser.add_argument(
        "--outages", default="1,5,15", help="seconds the cluster stays down, comma-separated"
    )
    options = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="pgqueue-bench-") as name:
        tmp = Path(name)

        rescue = [
            await rescue_after_sigkill(options.server_dsn, tmp, 1.0, 5.0)
            for _ in range(options.repeat)
        ]
        rows.append(row("(a) SIGKILL -> job succeeded on another worker", "hb 1s, ttl 5s", rescue))
        print(f"(a) {[round(v, 2) for v in rescue]}", flush=True)

        reason = cluster_unavailable_reason()
        if reason is not None:
            print(f"(b) skipped: {reason}", file=sys.stderr)
        else:
            cluster = Cluster()
            try:
                cluster.init()
                cluster.start()
                for outage in (float(o) for o in options.outages.split(",")):
                    written, fresh = [], []
                    for _ in range(options.repeat):
                        w, f = await resume_after_restart(cluster, tmp, outage)
                        written.append(w)
                        fresh.append(f)
                    print(f"(b) outage {outage}s: {written} {fresh}", flush=True)
                    rows.append(
                        row(
                            "(b) DB up -> buffered outcome written",
                            f"down {outage:g}s",
                            written,
                        )
                    )
                    rows.append(row("(b) DB up -> new job completed", f"down {outage:g}s", fresh))
            finally:
                cluster.destroy()

        listen, job = [], []
        for _ in range(options.repeat):
            ls, jb = await resume_after_terminate(options.server_dsn, tmp)
            listen.append(ls)
            job.append(jb)
        print(f"(c) {listen} {job}", flush=True)
        rows.append(row("(c) terminate -> LISTEN back", "defaults", listen))
        rows.append(row("(c) terminate -> new job completed", "defaults (poll 2s)", job))
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
