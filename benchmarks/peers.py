"""Workload 9: PgQueuer, Procrastinate, arq and Celery (both on Redis) beside pgqueue, same
workloads, same run (`python -m benchmarks.run --only peers`, with enqueue,batch,drain for the
raw rows).

Every system runs through its own public API with its defaults, the PostgreSQL ones in a
throwaway database of their own (the schema installed by their own installer), arq and Celery
each in a Redis database of its own (`REDIS_DB`, flushed before and after every measurement;
nothing else on the server is touched), with the same number of no-op jobs:

- enqueue, one job per transaction: pgqueue `app.enqueue`, PgQueuer `Queries.enqueue(name,
  None)`, Procrastinate `task.defer_async()`, arq `ArqRedis.enqueue_job(name)` (a WATCH/MULTI
  transaction per job), Celery `task.delay()`, each before the next;
- enqueue in batches: `app.enqueue_many`, `Queries.enqueue([...], [...], [...])`,
  `task.batch_defer_async(...)`; arq has no batch API, so `asyncio.gather` of `enqueue_job` over
  the batch (its pool opens the connections the concurrent transactions need); Celery
  `group(task.s() for ...).apply_async()`;
- drain a pre-filled queue with one worker process at its defaults, until the queue is empty:
  `app.worker().run(until_empty=True)` (concurrency 50), `PgQueuer(...).run(mode=drain)`
  (batch 10, no concurrency limit), `app.run_worker_async(wait=False)` (concurrency 1), arq
  `Worker(functions, burst=True)` (max_jobs 10, poll_delay 0.5 s), `celery -A
  benchmarks.celery_app worker` (prefork, one pool process per core; stopped by a warm shutdown
  once the queue and the unacked set are empty).

The enqueue workloads are interleaved (`enqueue`): every system's client is open at once, and
the jobs go in blocks, one system's block after another's, so that a slow minute of this
machine's disk falls on all of them alike. The single enqueue also times, in the same blocks:

- the durable floor: goal 1's raw INSERT + NOTIFY, committed to disk job by job. A system on a
  Redis that writes nothing to disk can be ahead of it on a machine whose disk flush is slow;
  the row shows when it is;
- arq on a Redis of its own that fsyncs every write before it answers (`appendfsync always`),
  the durability a PostgreSQL commit has: an info row, beside the issue's comparison with the
  shared Redis.

Drains are timed inside the worker process, from the first task's start to the last task's end,
for all of them alike (their outcome tables differ: PgQueuer deletes finished jobs and logs them
in batches, arq keeps results for an hour; Celery's pool processes each keep a clock), so
process start-up and the end of the drain are not counted.

arq and Celery need Redis at `PGQUEUE_BENCH_REDIS` (default redis://127.0.0.1:6379): if it does
not answer, their rows say so and the other systems still run.

    python -m benchmarks.peers drain SYSTEM TARGET JOBS   (one worker process; prints JSON;
    TARGET is a PostgreSQL DSN, or for arq a Redis URL; Celery's drain runs `celery worker`)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import asyncpg

from benchmarks.baselines import INSERT_NOTIFY
from benchmarks.db import RAW_TABLE_DDL, admin, dsn_for
from benchmarks.measure import Rate
from benchmarks.report import INFO, Row, rate, verdict
from benchmarks.workers import ROOT

SYSTEMS = ("pgqueue", "pgqueuer", "procrastinate", "arq", "celery")
TITLES = {
    "pgqueuer": "PgQueuer",
    "procrastinate": "Procrastinate",
    "arq": "arq (Redis)",
    "celery": "Celery (Redis)",
}
# The systems on Redis, each with a database number of its own on the server at REDIS: only
# that database is flushed.
REDIS = os.environ.get("PGQUEUE_BENCH_REDIS", "redis://127.0.0.1:6379")
REDIS_DB = {"arq": 14, "celery": 15}
TASK = "noop"
# The enqueue workloads time every system in this many blocks, interleaved (`enqueue`).
ENQUEUE_BLOCKS = 10
# The durable floor timed beside the systems (`_raw_enqueuer`), under this key of the figures.
RAW = "raw"
# arq on a Redis that fsyncs every write (`enqueue`), under this key; measured when
# arq runs and this server binary is installed (Debian's redis-server package).
DURABLE_ARQ = "arq_durable"
DURABLE_REDIS_SERVER = "redis-server"
# pgqueue with the opt-in docs/enqueue.md describes (an enqueue that does not wait for the disk,
# as arq on a Redis that keeps nothing on disk), under this key: the DSN's `options` turn
# synchronous_commit off for the App's connections.
ASYNC_COMMIT = "pgqueue_async_commit"
ASYNC_COMMIT_OPTIONS = "options=-c%20synchronous_commit%3Doff"
# Procrastinate drains about 300 jobs/s at its default concurrency of 1: a few thousand jobs
# keep every round under a minute and are plenty for the others' windows.
MAX_JOBS = 5000


class Clocked:
    """The time of the first task's start and of the last task's end in a worker process."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last = 0.0
        self.count = 0

    def start(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def end(self) -> None:
        self.count += 1
        self.last = time.perf_counter()

    def result(self) -> dict[str, float]:
        return {"jobs": self.count, "seconds": self.last - (self.first or self.last)}


# -- each system's public API ---------------------------------------------------------------


async def _install(system: str, dsn: str) -> None:
    """The system's own schema, by its own installer (pgqueue: its migrations)."""
    if system in REDIS_DB:
        await _flush(dsn)
    elif system == "pgqueue":
        from pgqueue import migrate

        await migrate.upgrade_async(dsn)
    elif system == "pgqueuer":
        from pgqueuer import Queries

        conn = await asyncpg.connect(dsn)
        try:
            await Queries.from_asyncpg_connection(conn).install()
        finally:
            await conn.close()
    else:
        app = _procrastinate_app(dsn)
        async with app.open_async():
            await app.schema_manager.apply_schema_async()


def _redis_url(system: str) -> str:
    return f"{REDIS.rstrip('/')}/{REDIS_DB[system]}"


async def _flush(url: str) -> None:
    """Empty the one Redis database `url` names (FLUSHDB, not FLUSHALL)."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def redis_reachable(url: str | None = None) -> str | None:
    """None if Redis answers PING at `url` (default REDIS) within 2 s, else why not."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url or REDIS, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None


def _procrastinate_app(dsn: str, clock: Clocked | None = None) -> Any:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name=TASK)
    async def noop() -> None:
        if clock is not None:
            clock.start()
            clock.end()

    return app


@contextlib.asynccontextmanager
async def _enqueuer(system: str, dsn: str) -> AsyncIterator[Callable[[int], Awaitable[Any]]]:
    """`send(n)`: enqueue n jobs in one call (n = 1: the single-job API) with the system's own
    client, its connection opened and warmed up before the clock starts."""
    if system == "pgqueue":
        from pgqueue import App

        # App(dsn) at its defaults, as issue 18 prescribes: its pool and the enqueue lane beside
        # it (pgqueue/_repository/driver.py), which `enqueue` below opens before the clock.
        async with App(dsn) as app:
            job = app.request(TASK, allow_unknown=True)

            async def send_pgqueue(n: int) -> Any:
                if n == 1:
                    return await app.enqueue(TASK, allow_unknown=True)
                return await app.enqueue_many([job] * n)

            yield send_pgqueue
    elif system == "pgqueuer":
        from pgqueuer import Queries

        conn = await asyncpg.connect(dsn)
        queries = Queries.from_asyncpg_connection(conn)

        async def send_pgqueuer(n: int) -> Any:
            if n == 1:
                return await queries.enqueue(TASK, None)
            return await queries.enqueue([TASK] * n, [None] * n, [0] * n)

        try:
            yield send_pgqueuer
        finally:
            await conn.close()
    elif system == "arq":
        from arq import create_pool
        from arq.connections import RedisSettings

        redis = await create_pool(RedisSettings.from_dsn(dsn))

        async def send_arq(n: int) -> Any:
            if n == 1:
                return await redis.enqueue_job(TASK)
            return await asyncio.gather(*(redis.enqueue_job(TASK) for _ in range(n)))

        try:
            yield send_arq
        finally:
            await redis.aclose()
    elif system == "celery":
        from celery import group  # type: ignore[import-untyped]

        from benchmarks import celery_app

        celery_app.app.conf.broker_url = dsn
        noop = celery_app.noop

        async def send_celery(n: int) -> Any:
            if n == 1:
                return noop.delay()
            return group(noop.s() for _ in range(n)).apply_async()

        try:
            yield send_celery
        finally:
            celery_app.app.close()
    else:
        app = _procrastinate_app(dsn)
        async with app.open_async():
            task = app.tasks[TASK]

            async def send_procrastinate(n: int) -> Any:
                if n == 1:
                    return await task.defer_async()
                return await task.batch_defer_async(*([{}] * n))

            yield send_procrastinate


async def _run_worker(system: str, dsn: str, clock: Clocked) -> None:
    """One worker at the system's defaults, until its queue is empty."""
    if system == "pgqueue":
        from pgqueue import App

        app = App(dsn)

        @app.task(name=TASK)
        async def noop() -> None:
            clock.start()
            clock.end()

        async with app:
            await app.worker().run(until_empty=True)
    elif system == "pgqueuer":
        from pgqueuer import PgQueuer
        from pgqueuer.models import Job
        from pgqueuer.types import QueueExecutionMode

        conn = await asyncpg.connect(dsn)
        pgq = PgQueuer.from_asyncpg_connection(conn)

        @pgq.entrypoint(TASK)
        async def noop_job(_job: Job) -> None:
            clock.start()
            clock.end()

        try:
            await pgq.run(mode=QueueExecutionMode.drain)
        finally:
            await conn.close()
    elif system == "arq":
        from arq.connections import RedisSettings
        from arq.worker import Worker, func

        async def noop_arq(ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> None:
            clock.start()
            clock.end()

        worker = Worker(
            functions=[func(noop_arq, name=TASK)],
            redis_settings=RedisSettings.from_dsn(dsn),
            burst=True,
            handle_signals=False,
        )
        try:
            await worker.async_run()
        finally:
            await worker.close()
    else:
        app = _procrastinate_app(dsn, clock)
        async with app.open_async():
            await app.run_worker_async(wait=False)


# -- the measurements -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _database(base: str, system: str) -> AsyncIterator[str]:
    """An empty throwaway database with `system`'s schema; dropped afterwards (for a system on
    Redis: its own Redis database, flushed before and after)."""
    if system in REDIS_DB:
        url = _redis_url(system)
        await _install(system, url)
        try:
            yield url
        finally:
            await _flush(url)
        return
    name = f"pgqueue_bench_peer_{system}_{uuid.uuid4().hex[:8]}"
    await admin(base, f"CREATE DATABASE {name}")
    try:
        dsn = dsn_for(name, base)
        await _install(system, dsn)
        yield dsn
    finally:
        await admin(base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def enqueue(base: str, systems: tuple[str, ...], jobs: int, batch: int) -> dict[str, Rate]:
    """`jobs` enqueued in calls of `batch` by each system, interleaved: every system's client
    open at once (each in its own database), then the jobs in blocks, one system's block after
    another's, so that a minute when this machine's disk flush is slow falls on all of them
    alike (the rest of the suite interleaves the same way). The single enqueue (`batch` 1) also
    times the durable floor (`RAW`), pgqueue with synchronous_commit off (`ASYNC_COMMIT`) and,
    with arq, arq on a Redis that fsyncs (`DURABLE_ARQ`)."""
    async with contextlib.AsyncExitStack() as stack:
        senders: dict[str, Callable[[int], Awaitable[Any]]] = {}
        for system in systems:
            dsn = await stack.enter_async_context(_database(base, system))
            senders[system] = await stack.enter_async_context(_enqueuer(system, dsn))
        if batch == 1:
            senders[RAW] = await stack.enter_async_context(_raw_enqueuer(base))
            if "pgqueue" in systems:
                dsn = await stack.enter_async_context(_database(base, "pgqueue"))
                senders[ASYNC_COMMIT] = await stack.enter_async_context(
                    _enqueuer("pgqueue", async_commit_dsn(dsn))
                )
            if "arq" in systems and shutil.which(DURABLE_REDIS_SERVER):
                url = await stack.enter_async_context(_durable_redis())
                senders[DURABLE_ARQ] = await stack.enter_async_context(_enqueuer("arq", url))
        return await _interleaved(senders, jobs, batch)


def async_commit_dsn(dsn: str) -> str:
    """`dsn` (a URL) with libpq's `options` turning synchronous_commit off for its sessions."""
    return f"{dsn}{'&' if '?' in dsn else '?'}{ASYNC_COMMIT_OPTIONS}"


async def _interleaved(
    senders: dict[str, Callable[[int], Awaitable[Any]]], jobs: int, batch: int
) -> dict[str, Rate]:
    # Three warm-up calls each, before the clock, for every system alike: pgqueue's second
    # enqueue opens its enqueue lane in the background, the pause lets it finish, and the third
    # prepares the statement on it.
    for send in [*senders.values(), *senders.values()]:
        await send(1)
    await asyncio.sleep(0.2)
    for send in senders.values():
        await send(1)
    seconds = dict.fromkeys(senders, 0.0)
    names = list(senders)
    size = max(batch, jobs // ENQUEUE_BLOCKS // batch * batch)
    for turn, first in enumerate(range(0, jobs, size)):
        block = min(size, jobs - first)
        # Each block starts one system later: none always follows the same one (a system that
        # fsyncs leaves the disk busier for whoever comes next).
        shift = turn % len(names)
        for name in names[shift:] + names[:shift]:
            send = senders[name]
            start = time.perf_counter()
            for offset in range(0, block, batch):
                await send(min(batch, block - offset))
            seconds[name] += time.perf_counter() - start
    return {name: Rate(jobs, spent) for name, spent in seconds.items()}


@contextlib.asynccontextmanager
async def _raw_enqueuer(base: str) -> AsyncIterator[Callable[[int], Awaitable[Any]]]:
    """The durable floor of an enqueue in PostgreSQL: goal 1's raw INSERT + NOTIFY (one
    prepared statement, one connection, each job committed before the next) into a copy of
    pgqueue.jobs in a throwaway database. A system that writes nothing to disk (Redis as this
    machine runs it) can be ahead of it; no queue that waits for its commit to be durable can."""
    async with _database(base, "pgqueue") as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(RAW_TABLE_DDL)
            insert = await conn.prepare(INSERT_NOTIFY)

            async def send_raw(n: int) -> Any:
                for _ in range(n):
                    await insert.fetch(TASK, "[]", "{}", "default")

            yield send_raw
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def _durable_redis() -> AsyncIterator[str]:
    """A throwaway redis-server on a free loopback port, its log in a temporary folder; its URL,
    once it answers. Stopped and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="pgqueue-bench-redis-") as folder:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            DURABLE_REDIS_SERVER,
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", ""),
            *("--appendonly", "yes", "--appendfsync", "always"),
            stdout=asyncio.subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            await _answering(url, process)
            yield url
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()


async def _answering(url: str, process: asyncio.subprocess.Process, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while (why := await redis_reachable(url)) is not None:
        if process.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the durable redis-server did not answer at {url}: {why}")
        await asyncio.sleep(0.05)


async def drain(base: str, system: str, jobs: int) -> Rate:
    async with _database(base, system) as dsn:
        async with _enqueuer(system, dsn) as send:
            for offset in range(0, jobs, 1000):
                await send(min(1000, jobs - offset))
        if system == "celery":
            return await _celery_drain(dsn, jobs)
        if system not in REDIS_DB:
            await admin(dsn, "VACUUM (ANALYZE)", "CHECKPOINT")
        # Not `-m benchmarks.peers`: Procrastinate warns about an App built in __main__.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from benchmarks import peers; peers.main(sys.argv[1:])",
            "drain",
            system,
            dsn,
            str(jobs),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 600)
        if process.returncode != 0:
            raise RuntimeError(f"{system} drain exited {process.returncode}")
        seen = json.loads(out.decode().strip().splitlines()[-1])
        if seen["jobs"] != jobs:
            raise RuntimeError(f"{system} drain ran {seen['jobs']} of {jobs} jobs")
        return Rate(jobs, seen["seconds"])


async def _celery_drain(url: str, jobs: int) -> Rate:
    """`celery -A benchmarks.celery_app worker` at its defaults (prefork, one pool process per
    core) until the queue is empty and nothing is unacknowledged (twice in a row), then a warm
    shutdown (SIGTERM); its pool processes' clocks (benchmarks/celery_app.py) added up."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    with tempfile.TemporaryDirectory(prefix="pgqueue-bench-celery-") as clocks:
        env = os.environ | {
            "PGQUEUE_BENCH_CELERY_BROKER": url,
            "PGQUEUE_BENCH_CELERY_CLOCKS": clocks,
        }
        with _log_file(clocks) as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "celery",
                "-A",
                "benchmarks.celery_app",
                "worker",
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
            try:
                deadline = time.monotonic() + 600
                idle = 0
                while idle < 2:
                    if process.returncode is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"celery drain: worker gone or too slow ({clocks})")
                    waiting = await client.llen("celery") + await client.hlen("unacked")
                    idle = idle + 1 if waiting == 0 else 0
                    await asyncio.sleep(0.05)
            finally:
                if process.returncode is None:
                    process.terminate()
                await asyncio.wait_for(process.wait(), 120)
                await client.aclose()
        return _celery_clocks(clocks, jobs)


def _log_file(folder: str) -> IO[bytes]:
    return open(Path(folder, "worker.log"), "wb")


def _celery_clocks(folder: str, jobs: int) -> Rate:
    """The pool processes' clocks added up: first start to last end, all of `jobs` run."""
    seen = [json.loads(p.read_text()) for p in Path(folder).glob("*.json")]
    if sum(c["jobs"] for c in seen) != jobs:
        log_text = Path(folder, "worker.log").read_text()[-2000:]
        raise RuntimeError(f"celery drain ran {seen} of {jobs} jobs:\n{log_text}")
    first = min(c["first"] for c in seen)
    return Rate(jobs, max(c["last"] for c in seen) - first)


async def measure(
    base: str,
    jobs: int,
    batch: int,
    rounds: int,
    log: Callable[[str], None],
    systems: tuple[str, ...] = SYSTEMS,
) -> dict[str, dict[str, Any]]:
    """Median jobs/s per system and workload over `rounds` rounds, each round running every
    system once per workload (interleaved, as the rest of the suite). A system on Redis is left
    out, with the reason under "skipped", when Redis does not answer."""
    jobs = min(jobs, MAX_JOBS)
    skipped: dict[str, str] = {}
    if any(s in REDIS_DB for s in systems):
        why = await redis_reachable()
        if why is not None:
            skipped = dict.fromkeys(REDIS_DB, f"skipped: Redis not reachable at {REDIS} ({why})")
            log(f"peers: {next(iter(skipped.values()))}")
    running = tuple(s for s in systems if s not in skipped)
    seen: dict[str, dict[str, list[float]]] = {s: {} for s in running}
    for round_ in range(rounds):
        for workload, size in (("enqueue", 1), ("batch", batch)):
            log(f"peers: {workload}, round {round_ + 1}/{rounds} ...")
            for name, done in (await enqueue(base, running, jobs, size)).items():
                seen.setdefault(name, {}).setdefault(workload, []).append(done.per_second)
        log(f"peers: drain, round {round_ + 1}/{rounds} ...")
        for system in running:
            per_second = (await drain(base, system, jobs)).per_second
            seen[system].setdefault("drain", []).append(per_second)
    return {
        system: {name: statistics.median(v) for name, v in by_workload.items()}
        for system, by_workload in seen.items()
    } | {"jobs": {"count": float(jobs), "batch": float(batch)}, "skipped": skipped}


LABELS = {
    "enqueue": "enqueue, 1 job/transaction",
    "batch": "enqueue, batches of {batch}",
    "drain": "drain, 1 worker process at its defaults",
}


def rows(figures: dict[str, dict[str, Any]]) -> list[Row]:
    """One row per workload and peer: the peer's rate beside pgqueue's, and whether pgqueue is
    ahead (the issue's target); a peer that could not run says why instead."""
    batch = int(figures["jobs"]["batch"])
    skipped: dict[str, str] = figures.get("skipped", {})
    out: list[Row] = []
    for workload, label in LABELS.items():
        ours = figures["pgqueue"][workload]
        out.append(
            Row(
                f"9. {label.format(batch=batch)}: pgqueue (peer harness)",
                rate(ours),
                f"({int(figures['jobs']['count']):,} jobs)",
                "",
                "",
                INFO,
            )
        )
        if workload == "enqueue" and RAW in figures:
            out.append(_floor_row(ours, figures[RAW][workload]))
        for peer, title in TITLES.items():
            if peer in skipped:
                out.append(Row(f"   {title}", skipped[peer], "", "", "pgqueue ahead", INFO))
                continue
            if peer not in figures:
                continue
            theirs = figures[peer][workload]
            out.append(
                Row(
                    f"   {title} {metadata.version(peer)}",
                    rate(theirs),
                    f"pgqueue {rate(ours)}",
                    f"pgqueue {ours / theirs:.2f}x" if theirs else "",
                    "pgqueue ahead",
                    verdict(ours > theirs),
                )
            )
        if workload == "enqueue" and DURABLE_ARQ in figures:
            durable = figures[DURABLE_ARQ][workload]
            out.append(
                Row(
                    "   arq on a Redis that fsyncs every write (appendfsync always)",
                    rate(durable),
                    f"pgqueue {rate(ours)}",
                    f"pgqueue {ours / durable:.2f}x" if durable else "",
                    "",
                    INFO,
                )
            )
        if workload == "enqueue" and ASYNC_COMMIT in figures:
            out.append(_async_commit_row(figures[ASYNC_COMMIT][workload], figures, skipped))
    return out


def _async_commit_row(
    relaxed: float, figures: dict[str, dict[str, Any]], skipped: dict[str, str]
) -> Row:
    """pgqueue with synchronous_commit off (its opt-in, docs/enqueue.md) beside arq on a Redis
    that keeps nothing on disk: the comparison of two enqueues that both return before the
    disk has the job (against pgqueue's floor when arq did not run)."""
    label = "   pgqueue, synchronous_commit off on its DSN (opt-in, not the default)"
    if "arq" in figures and "arq" not in skipped:
        arq = figures["arq"]["enqueue"]
        return Row(
            label,
            rate(relaxed),
            f"arq {rate(arq)}",
            f"{relaxed / arq:.2f}x arq" if arq else "",
            "",
            INFO,
        )
    floor = figures[RAW]["enqueue"] if RAW in figures else 0.0
    return Row(
        label,
        rate(relaxed),
        f"floor {rate(floor)}",
        f"{relaxed / floor:.2f}x the floor" if floor else "",
        "",
        INFO,
    )


def _floor_row(ours: float, floor: float) -> Row:
    """The raw INSERT + NOTIFY in the peer harness: what a durable enqueue can reach in the same
    run, beside which the peers' single enqueues read (`_raw_enqueuer`)."""
    return Row(
        "   raw INSERT + NOTIFY, committed to disk (the durable floor)",
        rate(floor),
        f"pgqueue {rate(ours)}",
        f"pgqueue {ours / floor:.2f}x" if floor else "",
        "",
        INFO,
    )


async def _drain_main(system: str, dsn: str, jobs: int) -> None:
    clock = Clocked()
    await _run_worker(system, dsn, clock)
    if clock.count != jobs:
        print(f"{system}: ran {clock.count} of {jobs} jobs", file=sys.stderr)
    print(json.dumps(clock.result()), flush=True)


def main(argv: list[str]) -> None:
    if len(argv) != 4 or argv[0] != "drain" or argv[1] not in SYSTEMS:
        raise SystemExit(__doc__)
    asyncio.run(_drain_main(argv[1], argv[2], int(argv[3])))


if __name__ == "__main__":
    main(sys.argv[1:])
