"""The worker's and App's access to the database: named queries over an asyncpg pool.

Driver errors are translated here, at the boundary, into pgqueue's own errors (chained with
`from exc`), so nothing above this module needs to know asyncpg.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from pgqueue import serialization
from pgqueue.errors import (
    AuthenticationError,
    ConfigurationError,
    DatabaseError,
    DatabaseNotFoundError,
    DatabaseUnavailableError,
    PgQueueError,
    SchemaMissingError,
)
from pgqueue.job import ClaimedJob, JobInfo, JobState
from pgqueue.settings import dsn_host
from pgqueue.sql import query

# Errors that mean "the database or the network went away": retry later, never crash.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    ConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # A query on a pooled connection the server has just terminated, before the driver saw
    # it close ("cannot switch to state ..."): not an Exception subclass of the above.
    asyncpg.InternalClientError,
)


def translate_error(exc: BaseException, dsn: str | None) -> PgQueueError:
    """The pgqueue error for a driver error, with a message an operator can act on."""
    where = dsn_host(dsn)
    if isinstance(exc, PgQueueError):
        return exc
    if isinstance(exc, asyncpg.ClientConfigurationError):
        return ConfigurationError(f"bad connection settings for {where}: {exc}")
    if isinstance(
        exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        return AuthenticationError(f"the database at {where} refused the credentials: {exc}")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return DatabaseNotFoundError(f"the database at {where} does not exist: {exc}")
    if isinstance(
        exc,
        asyncpg.UndefinedTableError
        | asyncpg.InvalidSchemaNameError
        | asyncpg.UndefinedFunctionError,
    ) and "pgqueue" in str(exc):
        return SchemaMissingError(
            f"the pgqueue schema is missing or out of date at {where}: run `pgqueue migrate` ({exc})"
        )
    if isinstance(exc, _UNAVAILABLE):
        detail = str(exc) or type(exc).__name__
        return DatabaseUnavailableError(f"cannot reach the database at {where}: {detail}")
    error = DatabaseError(f"database error at {where}: {exc}")
    error.sqlstate = getattr(exc, "sqlstate", None)
    return error


@contextlib.contextmanager
def translated(dsn: str | None) -> Any:
    try:
        yield
    except PgQueueError:
        raise
    except (asyncpg.PostgresError, asyncpg.ClientConfigurationError, *_UNAVAILABLE) as exc:
        raise translate_error(exc, dsn) from exc


async def connect(
    dsn: str | None, *, timeout: float = 10.0, command_timeout: float | None = None
) -> asyncpg.Connection:
    """One connection of its own (LISTEN, heartbeats), errors translated. `command_timeout` is
    asyncpg's own per-query bound: it gives up at once and cancels the query in the background,
    where an outer `wait_for` would wait for that cancel request too (on a stalled network, until
    the network comes back)."""
    with translated(dsn):
        return await asyncpg.connect(dsn, timeout=timeout, command_timeout=command_timeout)


async def create_pool(
    dsn: str | None,
    *,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 10.0,
    command_timeout: float | None = 30.0,
) -> asyncpg.Pool:
    """The pool for pgqueue's own short queries. `command_timeout` bounds each one, so a network
    that stalls without closing the socket surfaces as an error (and a reconnect), not a hang."""
    with translated(dsn):
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            command_timeout=command_timeout,
            reset=_keep_session,
        )


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL):
    a second round trip after every pooled call. asyncpg still rolls back an open transaction.
    Nothing of pgqueue's keeps session state on a pooled connection: LISTEN and anything
    session-scoped (SET, session advisory locks) use a connection of their own (`connect`)."""


_FINAL_STATES = frozenset(s.value for s in JobState if s.is_finished)


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One finished attempt, as job_complete_many.sql takes it (built from a Transition by
    outcome_writer.outcome_row): the state to write, run_at = now() + run_in when run_in is set,
    the attempt given back when refund_attempt, finished_at set when the state is final."""

    job_id: int
    attempt: int
    state: str
    result_json: str | None
    error_json: str | None
    run_in: float | None
    refund_attempt: bool = False

    @property
    def finished(self) -> bool:
        return self.state in _FINAL_STATES


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
    )
    return str(state)


class Repository:
    """Named queries over a pool. Every method translates driver errors."""

    def __init__(self, pool: asyncpg.Pool, dsn: str | None) -> None:
        self.pool = pool
        self.dsn = dsn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        with translated(self.dsn):
            async with self.pool.acquire() as conn:
                yield conn

    async def claim(self, queues: Sequence[str], limit: int, worker_id: str) -> list[ClaimedJob]:
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_claim"), list(queues), limit, worker_id)
        return [
            ClaimedJob(
                id=r["id"],
                task=r["task"],
                queue=r["queue"],
                args=r["args"],
                kwargs=r["kwargs"],
                priority=r["priority"],
                attempts=r["attempts"],
                max_attempts=r["max_attempts"],
                enqueued_at=r["enqueued_at"],
            )
            for r in rows
        ]

    async def record_outcomes(self, outcomes: Sequence[OutcomeRow], worker_id: str) -> int:
        """Write many outcomes of `worker_id`'s attempts in one statement; returns how many rows
        changed (an outcome whose job was rescued, cancelled or requeued meanwhile changes none)."""
        with translated(self.dsn):
            row = await self.pool.fetchrow(
                query("job_complete_many"),
                [o.job_id for o in outcomes],
                [o.attempt for o in outcomes],
                [o.state for o in outcomes],
                [o.result_json for o in outcomes],
                [o.error_json for o in outcomes],
                [o.run_in for o in outcomes],
                [o.refund_attempt for o in outcomes],
                [o.finished for o in outcomes],
                worker_id,
            )
        return int(row["recorded"]) if row else 0

    async def promote_due(self, limit: int = 1000) -> dict[str, int]:
        """Queue the scheduled jobs and retries that are due; returns jobs promoted per queue."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_promote_due"), limit)
        return {r["queue"]: int(r["jobs"]) for r in rows}

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

    async def reap_workers(self, retention_seconds: float) -> tuple[int, int]:
        """Mark silent workers lost and prune old rows; returns (lost, pruned)."""
        with translated(self.dsn):
            row = await self.pool.fetchrow(query("worker_reap"), retention_seconds)
        return (int(row["lost"]), int(row["pruned"])) if row else (0, 0)

    async def rescue_jobs(self, limit: int = 1000) -> dict[int, str]:
        """Requeue or dead-letter jobs held by dead workers; returns job id -> new state."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_rescue"), limit)
        return {r["id"]: r["state"] for r in rows}

    async def release_unclaimed(self, worker_id: str, known: Sequence[int]) -> list[int]:
        """Requeue jobs claimed for `worker_id` that it does not know it has (a lost answer)."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_release_unclaimed"), worker_id, list(known))
        return [r["id"] for r in rows]

    async def cancel_requested(self, worker_id: str) -> list[int]:
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_cancel_requested"), worker_id)
        return [r["id"] for r in rows]

    async def cancel(self, job_id: int) -> str:
        with translated(self.dsn):
            return str(await self.pool.fetchval(query("job_cancel"), job_id))

    async def get_job(self, job_id: int) -> JobInfo | None:
        with translated(self.dsn):
            row = await self.pool.fetchrow(query("job_get"), job_id)
        return job_info_from_row(row) if row else None

    async def job_states(self, job_ids: Sequence[int]) -> dict[int, JobState]:
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_states"), list(job_ids))
        return {r["id"]: JobState(r["state"]) for r in rows}


def job_info_from_row(row: Any) -> JobInfo:
    keys = row.keys()
    return JobInfo(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        state=JobState(row["state"]),
        priority=row["priority"],
        args=serialization.loads(row["args"]),
        kwargs=serialization.loads(row["kwargs"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_at=row["run_at"],
        enqueued_at=row["enqueued_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=serialization.loads(row["result"]),
        errors=serialization.loads(row["errors"]) or [],
        worker_id=row["worker_id"],
        unique_key=row["unique_key"] if "unique_key" in keys else None,
        progress=serialization.loads(row["progress"]) if "progress" in keys else None,
    )
