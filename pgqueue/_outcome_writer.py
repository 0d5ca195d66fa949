"""Writes a batch of outcomes so that one the database refuses never holds back the others.

The batch goes in one statement (job_complete_many.sql). If the database refuses it for a reason
that is not transient (anything but an unreachable database, a deadlock, a timeout or a lack of
resources: those are retried whole, later), the batch is split in halves, and halves again,
until the outcome it refuses is alone. That job then gets a minimal failure instead: `dead`,
error kind `outcome_rejected`, with the database's message. If even that is refused, the
problem is not the outcome (a read-only database, a missing privilege): the error is raised and
the caller retries the whole batch later, as for an outage. Outcomes written before a failure
are harmless to write again: each applies only while its job is `running` in that attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pgqueue import _transitions as transitions
from pgqueue._outcome import error_info
from pgqueue._repository import OutcomeRow, Repository
from pgqueue._transitions import Transition
from pgqueue.errors import DatabaseError, DatabaseUnavailableError

logger = logging.getLogger("pgqueue.worker")

# SQLSTATE classes that say nothing about the data written: retry the batch, never split it.
# 40 transaction rollback (deadlock, serialization), 53 insufficient resources, 55 object not in
# prerequisite state (lock not available), 57 operator intervention (statement timeout,
# shutdown), 58 system error (I/O).
_TRANSIENT_CLASSES = frozenset({"40", "53", "55", "57", "58"})


@dataclass(frozen=True, slots=True)
class Rejected:
    """An outcome the database refused, recorded as a failure of its job instead."""

    job_id: int
    attempt: int
    state: str
    reason: str


def _splittable(exc: DatabaseError) -> bool:
    if isinstance(exc, DatabaseUnavailableError):
        return False
    return exc.sqlstate is None or exc.sqlstate[:2] not in _TRANSIENT_CLASSES


def _reason(exc: DatabaseError) -> str:
    # The database's own words, without pgqueue's "database error at host:port: " prefix.
    return str(exc.__cause__ or exc)


def outcome_row(transition: Transition) -> OutcomeRow:
    """The row job_complete_many.sql takes for `transition`: its target state as given."""
    return OutcomeRow(
        transition.job_id,
        transition.attempt,
        transition.target,
        transition.result_json,
        transition.error_json,
        transition.run_in,
        refund_attempt=transition.refund_attempt,
    )


def _rejection(row: OutcomeRow, reason: str) -> OutcomeRow:
    error = error_info(
        "outcome_rejected",
        row.attempt,
        message=f"the database refused to record this attempt's outcome ({row.state}): {reason}",
    )
    return outcome_row(transitions.dead(row.job_id, row.attempt, error))


async def write_outcomes(
    repository: Repository, rows: Sequence[OutcomeRow], worker_id: str
) -> list[Rejected]:
    """Write `rows` for `worker_id`; returns the outcomes that were refused (and recorded as
    failures). Raises DatabaseError when the batch cannot be written for now."""
    try:
        await repository.record_outcomes(rows, worker_id)
        return []
    except DatabaseError as exc:
        if not _splittable(exc) or not rows:
            raise
        return await _isolate(repository, rows, worker_id, exc)


async def _isolate(
    repository: Repository, rows: Sequence[OutcomeRow], worker_id: str, exc: DatabaseError
) -> list[Rejected]:
    """`rows` were refused with `exc`: find the outcome(s) to blame by bisection."""
    if len(rows) == 1:
        [row] = rows
        reason = _reason(exc)
        # Raises if the minimal failure is refused too: then the outcome was not the problem.
        await repository.record_outcomes([_rejection(row, reason)], worker_id)
        logger.error(
            "the database refused the outcome (%s) of job %d: recorded it as failed (%s)",
            row.state,
            row.job_id,
            reason,
            extra={"job_id": row.job_id, "attempt": row.attempt},
        )
        return [Rejected(row.job_id, row.attempt, row.state, reason)]
    middle = len(rows) // 2
    rejected: list[Rejected] = []
    for half in (rows[:middle], rows[middle:]):
        rejected += await write_outcomes(repository, half, worker_id)
    return rejected
