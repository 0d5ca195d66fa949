"""Queries on pgqueue.jobs: claim, outcomes, promotion, rescue, cancel, lookups, operator
actions on dead letters, retention and progress. One method per named .sql file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from pgqueue import _serialization as serialization
from pgqueue._enqueue import (
    Enqueued,
    batch_parameters,
    enqueue_asyncpg,
    enqueue_one_asyncpg,
    insert_batch_asyncpg,
    insert_one_asyncpg,
    insert_plain_asyncpg,
    new_jobs,
    one_job_parameters,
)
from pgqueue._job import ClaimedJob, ClaimKey, JobInfo, JobRequest, JobState
from pgqueue._repository.claim_connection import ClaimConnection
from pgqueue._repository.driver import TRANSLATED, Database, Row, translate_error, translated
from pgqueue._sql import query
from pgqueue.errors import PgQueueError

_FINAL_STATES = frozenset(s.value for s in JobState if s.is_finished)

_Given = TypeVar("_Given")
_Written = TypeVar("_Written")


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
class DeadLetterScope:
    """Which dead letters one batch of an operator action touches (None fields match all),
    in the order pgqueue.requeue_dead / purge_dead take them."""

    ids: list[int] | None
    task: str | None
    queue: str | None
    error_kind: str | None
    died_before: datetime
    died_after: datetime | None

    @property
    def arguments(self) -> tuple[object, ...]:
        return (
            self.ids,
            self.task,
            self.queue,
            self.error_kind,
            self.died_before,
            self.died_after,
        )


def claimed_job_from_row(r: Row) -> ClaimedJob:
    """A row of job_claim.sql, job_claim_after.sql or pgqueue.claim_limited (which returns no
    run_at: a limited job never moves the claim cursor)."""
    return ClaimedJob(
        id=r["id"],
        task=r["task"],
        queue=r["queue"],
        args=r["args"],
        kwargs=r["kwargs"],
        priority=r["priority"],
        attempts=r["attempts"],
        max_attempts=r["max_attempts"],
        enqueued_at=r["enqueued_at"],
        metadata=r["metadata"],
        run_at=r.get("run_at"),
    )


class Jobs(Database):
    """Named queries on jobs."""

    async def enqueue(self, requests: Sequence[JobRequest]) -> list[Enqueued]:
        """Enqueue on the lane (driver.Lane) or else a pooled connection, committed at once; a
        caller's own connection goes through pgqueue._enqueue directly, inside its transaction."""
        return await self._committed(self._enqueue_committed, requests)

    async def enqueue_plain(self, parameters: tuple[Any, ...]) -> Enqueued | None:
        """One job from `plain_job_parameters` as the plain INSERT (job_insert_plain.sql) on the
        lane or a pooled connection, or None (nothing written): this role may not insert, or the
        table refused the job, and the caller takes the JobRequest path, which names the error."""
        if self.insert_one is False:
            return None
        return await self._committed(self._insert_plain, parameters)

    async def enqueue_batch_plain(self, requests: Sequence[JobRequest]) -> list[int] | None:
        """A batch without unique keys or parents as the plain INSERT (job_insert_batch.sql) on
        the lane or a pooled connection: its ids in order, without an Enqueued per job (half a
        millisecond of a 1,000-job batch, for `app.enqueue_many`, which returns ids), or None,
        nothing written: another path applies (one job, keys or parents, a role that may not
        insert, a job the table refused), and `enqueue` takes the batch."""
        if self.insert_one is False or len(requests) < 2:
            return None
        columns = batch_parameters(requests)
        if columns is None:
            return None
        return await self._committed(self._insert_batch, columns)

    async def _committed(
        self, write: Callable[[Any, _Given], Awaitable[_Written]], given: _Given
    ) -> _Written:
        """`write(connection, given)` on the lane if it is free, else on the pool. Driver errors
        are translated as `translated` does, caught here without its context manager (every
        single enqueue passes here)."""
        lane = self.lane
        conn = None if lane is None else lane.take()
        try:
            if lane is None or conn is None:
                return await write(self.pool, given)
            try:
                done = await write(conn, given)
            except BaseException as exc:
                timed_out = lane.give_back(conn, exc)
                if timed_out is not None:
                    raise translate_error(timed_out, self.dsn) from exc
                raise
            lane.give_back(conn, None)
            return done
        except PgQueueError:
            raise
        except TRANSLATED as exc:
            raise translate_error(exc, self.dsn) from exc

    async def _enqueue_committed(
        self, connection: Any, requests: Sequence[JobRequest]
    ) -> list[Enqueued]:
        """On an autocommit connection (the pool's or the lane's): a single job goes to
        pgqueue.enqueue_one, a batch without unique keys or parents to pgqueue.enqueue_batch,
        everything else to pgqueue.enqueue_many; without a unique key or parents, a role that
        may insert into pgqueue.jobs writes the job or the batch with a plain INSERT first
        (`_as_owner`), and the functions see only what it refuses. A schema older than revision 0015_enqueue_fast
        (no enqueue_one) or 0017_enqueue_batch (no enqueue_batch) is found out by the first call
        that needs the function (a failed autocommit statement changes nothing), and from then
        on those jobs go to pgqueue.enqueue_many, as on that schema. A job one_job_parameters
        leaves to enqueue_many (parents, a value only its checks name) says nothing about the
        schema: `enqueue_one` stays as it was."""
        if self.enqueue_one is not False and len(requests) == 1:
            parameters = one_job_parameters(requests[0])
            if parameters is not None and requests[0].unique_key is None:
                done = await self._insert_one(connection, parameters)
                if done is not None:
                    return [done]
            if parameters is not None:
                try:
                    done = await enqueue_one_asyncpg(connection, parameters)
                except asyncpg.UndefinedFunctionError as exc:
                    if "pgqueue.enqueue_one" not in str(exc):
                        raise
                    self.enqueue_one = False
                else:
                    self.enqueue_one = True
                    return [done]
        if self.insert_one is not False and len(requests) > 1:
            columns = batch_parameters(requests)
            if columns is not None:
                ids = await self._insert_batch(connection, columns)
                if ids is not None:
                    return new_jobs(ids)
        batch = self.enqueue_batch is not False
        try:
            return await enqueue_asyncpg(connection, requests, batch=batch)
        except asyncpg.UndefinedFunctionError as exc:
            if not batch or "pgqueue.enqueue_batch" not in str(exc):
                raise
            self.enqueue_batch = False
            return await enqueue_asyncpg(connection, requests)

    async def _insert_one(self, connection: Any, parameters: tuple[Any, ...]) -> Enqueued | None:
        """A single job without a unique key as the plain INSERT (job_insert_one.sql), or None
        (see `_as_owner`); the table's constraints refused it, then enqueue_one names why."""
        return await self._as_owner(insert_one_asyncpg, connection, parameters)

    async def _insert_plain(self, connection: Any, parameters: tuple[Any, ...]) -> Enqueued | None:
        """A job without options as the plain INSERT (job_insert_plain.sql), or None (see
        `_as_owner`)."""
        return await self._as_owner(insert_plain_asyncpg, connection, parameters)

    async def _insert_batch(self, connection: Any, columns: tuple[Any, ...]) -> list[int] | None:
        """A batch without unique keys or parents as the plain INSERT (job_insert_batch.sql), its
        ids in order, or None (see `_as_owner`); the table's constraints refused a job, then
        enqueue_batch names the first bad one."""
        return await self._as_owner(insert_batch_asyncpg, connection, columns)

    async def _as_owner(
        self,
        insert: Callable[[Any, _Given], Awaitable[_Written]],
        connection: Any,
        given: _Given,
    ) -> _Written | None:
        """A plain INSERT into pgqueue.jobs in the connection's own role, when that role may
        write the table (the owner's usual case), or None, nothing written (one autocommit
        statement): the role may not (found out once, then never tried again), the schema lacks
        a column or table of head, or the table's constraints refused a job."""
        if self.insert_one is False:
            return None
        try:
            written = await insert(connection, given)
        except (
            asyncpg.InsufficientPrivilegeError,
            asyncpg.UndefinedTableError,
            asyncpg.UndefinedColumnError,
        ):
            self.insert_one = False
            return None
        except (asyncpg.CheckViolationError, asyncpg.NotNullViolationError):
            return None
        self.insert_one = True
        return written

    def lend_claim_connection(self) -> ClaimConnection | None:
        """A pool connection lent to one worker's claims, planned once (see ClaimConnection), or
        None where the claims stay on the pool; the worker closes it when its fetch loop ends,
        and `close` takes back any still lent."""
        return ClaimConnection.lend(
            self.pool, self.lent, prepared_statements=self.prepared_statements
        )

    async def claim(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        *,
        via: ClaimConnection | None = None,
    ) -> list[ClaimedJob]:
        """Up to `limit` runnable jobs from `queues`, now running for `worker_id`
        (job_claim.sql), on `via` if given, else on the pool."""
        fetch = self.pool.fetch if via is None else via.fetch
        with translated(self.dsn):
            rows = await fetch(query("job_claim"), list(queues), limit, worker_id)
        return [claimed_job_from_row(r) for r in rows]

    async def claim_after(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        keys: Mapping[str, ClaimKey],
        *,
        via: ClaimConnection | None = None,
    ) -> list[ClaimedJob]:
        """`claim`, but from each queue with a key in `keys` only the jobs after that key in
        claim order (job_claim_after.sql: its scan starts there); a queue without one from its
        head. Jobs before a key are left for the next `claim`."""
        queue_list = list(queues)
        bounds = [keys.get(q) for q in queue_list]
        fetch = self.pool.fetch if via is None else via.fetch
        with translated(self.dsn):
            rows = await fetch(
                query("job_claim_after"),
                queue_list,
                limit,
                worker_id,
                [None if k is None else k.priority for k in bounds],
                [None if k is None else k.run_at for k in bounds],
                [None if k is None else k.id for k in bounds],
            )
        return [claimed_job_from_row(r) for r in rows]

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

    async def promote_due(self, limit: int = 1000, now: datetime | None = None) -> dict[str, int]:
        """Queue the scheduled jobs and retries due by `now` (default: the database's now());
        returns jobs promoted per queue."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_promote_due"), limit, now)
        return {r["queue"]: int(r["jobs"]) for r in rows}

    async def rescue_jobs(self, limit: int = 1000, connection: Any = None) -> dict[int, str]:
        """Requeue or dead-letter jobs held by dead workers; returns job id -> new state. On
        `connection` when given (Repository.rescue_pass: in its transaction), else on the pool."""
        with translated(self.dsn):
            on = self.pool if connection is None else connection
            rows = await on.fetch(query("job_rescue"), limit)
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

    async def parent_results(self, job_id: int) -> list[tuple[str, Any]]:
        """The task and result of each of the job's parents, in its depends_on order (None for a
        parent that did not succeed, under on_parent_failure="run")."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_parent_results"), job_id)
        return [(r["task"], serialization.loads(r["result"])) for r in rows]

    async def job_states(self, job_ids: Sequence[int]) -> dict[int, JobState]:
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_states"), list(job_ids))
        return {r["id"]: JobState(r["state"]) for r in rows}

    async def waiting_unregistered(
        self, queues: Sequence[str], registered: Sequence[str], limit: int = 20
    ) -> dict[str, int]:
        """Task name -> jobs waiting on `queues` for tasks not in `registered` (at most `limit`
        names): the worker's start-up report of tasks no imported module registers."""
        with translated(self.dsn):
            rows = await self.pool.fetch(
                query("job_waiting_unregistered"), list(queues), list(registered), limit
            )
        return {r["task"]: int(r["jobs"]) for r in rows}

    async def list_jobs(
        self, queue: str | None, task: str | None, states: list[str] | None, limit: int
    ) -> list[Row]:
        """Jobs newest first, each filter optional (`pgqueue jobs list`)."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_list"), queue, task, states, limit)
        return [dict(r) for r in rows]

    async def record_progress(
        self, job_id: int, value: float | None, message: str | None, worker_id: str
    ) -> bool:
        """Store a progress report while `worker_id` still holds the job; False if it no longer
        does (rescued, cancelled or finished meanwhile)."""
        with translated(self.dsn):
            row = await self.pool.fetchrow(query("job_progress"), job_id, value, message, worker_id)
        return row is not None

    # -- operator actions ---------------------------------------------------------------------

    async def cancel_waiting(self, job_ids: Sequence[int], message: str) -> list[int]:
        """Cancel the given jobs that are not running yet; returns the ids cancelled."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_cancel_waiting"), list(job_ids), message)
        return [r["id"] for r in rows]

    async def retry_jobs(self, job_ids: Sequence[int]) -> list[int]:
        """Queue the given dead, cancelled or waiting-to-retry jobs to run now; returns the ids."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("job_retry"), list(job_ids))
        return [r["id"] for r in rows]

    async def requeue_dead(self, scope: DeadLetterScope, limit: int) -> int:
        """One batch of at most `limit` dead letters requeued (pgqueue.requeue_dead); returns
        how many."""
        with translated(self.dsn):
            n = await self.pool.fetchval(query("job_requeue_dead"), *scope.arguments, limit)
        return int(n)

    async def purge_dead(self, scope: DeadLetterScope, limit: int) -> int:
        """One batch of at most `limit` dead letters deleted (pgqueue.purge_dead); returns how
        many."""
        with translated(self.dsn):
            n = await self.pool.fetchval(query("job_purge_dead"), *scope.arguments, limit)
        return int(n)

    async def count_dead(self, scope: DeadLetterScope) -> int:
        """How many dead letters `scope` matches (what a purge would delete)."""
        with translated(self.dsn):
            n = await self.pool.fetchval(query("job_count_dead"), *scope.arguments)
        return int(n)

    async def list_dead_letters(self, queue: str | None, task: str | None, limit: int) -> list[Row]:
        """Dead letters, latest deaths first (`pgqueue dlq list`)."""
        with translated(self.dsn):
            rows = await self.pool.fetch(query("dead_letter_list"), queue, task, limit)
        return [dict(r) for r in rows]

    # -- retention ----------------------------------------------------------------------------

    async def prune_jobs(self, state: JobState, older_than: float, limit: int) -> int:
        """One batch of at most `limit` jobs in finished `state` deleted; returns how many."""
        with translated(self.dsn):
            return int(await self.pool.fetchval(query("job_prune"), state.value, older_than, limit))

    async def count_prunable(self, state: JobState, older_than: float) -> int:
        """How many jobs in finished `state` a prune would delete."""
        with translated(self.dsn):
            return int(await self.pool.fetchval(query("job_prune_count"), state.value, older_than))


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
        parents=tuple(row["parents"]) if "parents" in keys else (),
        children=tuple(row["children"]) if "children" in keys else (),
    )
