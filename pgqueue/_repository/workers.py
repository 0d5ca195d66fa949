"""Queries on pgqueue.workers: heartbeats, state changes, reaping silent workers, the list
`pgqueue workers` shows."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import asyncpg

from pgqueue._repository.driver import Database, Row, connect, translated
from pgqueue._sql import query


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """What a worker reports about itself in pgqueue.workers."""

    id: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    version: str
    heartbeat_ttl: float
    processed: int
    failed: int
    active: int
    # Health (docs/reliability.md): threads of given-up sync attempts still running, whether
    # the worker claims, how long its event loop had not answered, stalls so far.
    abandoned_threads: int = 0
    claiming: bool = True
    loop_stall_seconds: float = 0.0
    loop_stalls: int = 0
    # The task names it serves (its registry), sorted.
    tasks: tuple[str, ...] = ()


async def send_heartbeat(executor: Any, worker: WorkerRow) -> str:
    """worker_heartbeat.sql on `executor` (the pool, or a connection of its own); returns the
    state the worker's row was in before ('new', 'running', 'stopping', 'lost', ...)."""
    state = await executor.fetchval(
        query("worker_heartbeat"),
        worker.id,
        worker.hostname,
        worker.pid,
        list(worker.queues),
        worker.concurrency,
        worker.version,
        worker.heartbeat_ttl,
        worker.processed,
        worker.failed,
        worker.active,
        worker.abandoned_threads,
        worker.claiming,
        worker.loop_stall_seconds,
        worker.loop_stalls,
        list(worker.tasks),
    )
    return str(state)


class HeartbeatConnection:
    """The heartbeat thread's connection of its own (pgqueue/_services/heartbeat.py): beats keep going when
    the worker's pool is exhausted or its event loop blocked. Connects on first use; after a
    failed beat, `drop` it and the next beat connects afresh."""

    def __init__(
        self, dsn: str | None, *, connect_timeout: float, command_timeout: float | None
    ) -> None:
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._conn: asyncpg.Connection | None = None

    async def open(self) -> asyncpg.Connection:
        if self._conn is None:
            self._conn = await connect(
                self.dsn, timeout=self.connect_timeout, command_timeout=self.command_timeout
            )
        return self._conn

    async def beat(self, worker: WorkerRow) -> str:
        """worker_heartbeat.sql on this connection; returns the row's state before."""
        conn = await self.open()
        with translated(self.dsn):
            return await send_heartbeat(conn, worker)

    def drop(self) -> None:
        """Forget a connection whose beat failed without a goodbye: on a stalled network a
        graceful close would wait as long as the stall."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)


class Workers(Database):
    """Named queries on workers."""

    async def heartbeat(self, worker: WorkerRow) -> str:
        """Register the worker or record its heartbeat; returns the state its row was in before
        ('new' if it had none; 'lost' if it had been declared lost)."""
        with translated(self.dsn):
            return await send_heartbeat(self.pool, worker)

    async def set_worker_state(self, worker: WorkerRow, state: str) -> None:
        with translated(self.dsn):
            await self.pool.execute(
                query("worker_set_state"),
                worker.id,
                state,
                worker.processed,
                worker.failed,
                worker.active,
            )

    async def reap_workers(
        self, retention_seconds: float, connection: Any = None
    ) -> tuple[int, int]:
        """Mark silent workers lost and prune old rows; returns (lost, pruned). On `connection`
        when given (Repository.rescue_pass: in its transaction), else on the pool."""
        with translated(self.dsn):
            on = self.pool if connection is None else connection
            row = await on.fetchrow(query("worker_reap"), retention_seconds)
        return (int(row["lost"]), int(row["pruned"])) if row else (0, 0)

    async def list_workers(self, include_stopped: bool) -> list[Row]:
        """Live workers, or all of them (`pgqueue workers [--all]`)."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("worker_list"), include_stopped)
        return [dict(r) for r in rows]

    async def task_coverage(self, queue: str, task: str) -> tuple[int, int, int]:
        """Of the live running workers serving `queue`: how many, how many serve `task`, how
        many report no tasks (unknown); `pgqueue enqueue` warns from it."""
        with translated(self.dsn):
            row = await self.pool.fetchrow(query("worker_task_coverage"), queue, task)
        assert row is not None  # an aggregate: always one row
        return int(row["serving"]), int(row["knowing"]), int(row["unknown"])

    async def unserved_tasks(self, limit: int) -> list[Row]:
        """(queue, task, jobs) with waiting jobs that no live worker of the queue serves."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("task_unserved_list"), limit)
        return [dict(r) for r in rows]

    async def worker_tasks_present(self) -> bool:
        """Whether workers record their tasks (the column of revision 0010_worker_tasks)."""
        with translated(self.dsn):
            return bool(await self.pool.fetchval(query("worker_tasks_exists")))
