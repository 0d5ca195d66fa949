"""The job attempts one worker runs: start, cancel, supersede, abandon, and the outcome of each.

Kept apart from the worker's lifecycle (pgqueue/_worker.py) so each half stays small: the worker
claims and hands jobs here; every attempt ends in exactly one outcome given to `record`, except
a superseded one (below), whose outcome the database would refuse anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pgqueue import _transitions as transitions
from pgqueue._clock import Clock
from pgqueue._executor import CANCEL_REQUESTED, SHUTDOWN, SUPERSEDED, JobControl, JobRunner
from pgqueue._job import ClaimedJob
from pgqueue._outcome import error_info
from pgqueue._transitions import Transition

logger = logging.getLogger("pgqueue.worker")

# How long a cancelled job task may take to end at shutdown before it is abandoned.
CANCEL_GRACE = 5.0


def interrupted(job: ClaimedJob, message: str = "worker stopped") -> Transition:
    """Back in the queue, the attempt not counted: the worker stopped under the job."""
    return transitions.interrupted(
        job.id, job.attempts, error_info("shutdown", job.attempts, message=message)
    )


def cancelled_on_request(job: ClaimedJob) -> Transition:
    return transitions.cancelled(
        job.id, job.attempts, error_info("cancelled", job.attempts, message="cancelled on request")
    )


def runner_failed(job: ClaimedJob, exc: Exception) -> Transition:
    """A bug in pgqueue's runner: dead-letter the job, never loop on it."""
    return transitions.dead(job.id, job.attempts, error_info("internal", job.attempts, exc))


@dataclass(slots=True)
class Running:
    task: asyncio.Task[None]
    control: JobControl
    job: ClaimedJob


Finished = Callable[[ClaimedJob, Transition, float], None]


class Attempts:
    """The attempts running here: at most one per job (see `_supersede`)."""

    def __init__(
        self,
        *,
        record: Callable[[Transition], None],
        finished: Finished,
        slot_freed: Callable[[], None],
        clock: Clock,
    ) -> None:
        self.record = record
        self.finished = finished  # metrics: the job, its outcome, its run time
        self.slot_freed = slot_freed
        self.clock = clock
        self.running: dict[int, Running] = {}
        # Older attempts the database has since given to this worker again, ending.
        self.superseded: dict[asyncio.Task[None], Running] = {}

    @property
    def active(self) -> int:
        return len(self.running) + len(self.superseded)

    def tasks(self) -> list[asyncio.Task[None]]:
        """Every job task not ended yet: current attempts and superseded ones."""
        tasks = [r.task for r in self.running.values()] + list(self.superseded)
        return [t for t in tasks if not t.done()]

    def spawn(self, job: ClaimedJob, runner: JobRunner) -> None:
        self._supersede_running(job)
        control = JobControl()
        coro = self._execute(job, control, runner)
        task = asyncio.create_task(coro, name=f"pgqueue-job-{job.id}")
        self.running[job.id] = Running(task, control, job)
        task.add_done_callback(lambda t: self._task_done(job, control, t))

    def supersede(self, claimed: Iterable[ClaimedJob]) -> None:
        """Give up the earlier attempts still running here of jobs the database has just handed
        out again, at the claim, not at their start: one held in hand (claimed ahead) would
        otherwise go on and record an outcome under the new claim's attempt and worker."""
        for job in claimed:
            self._supersede_running(job)

    def _supersede_running(self, job: ClaimedJob) -> None:
        earlier = self.running.get(job.id)
        if earlier is not None:
            self._supersede(earlier, job)

    def _supersede(self, earlier: Running, job: ClaimedJob) -> None:
        """The database handed us `job` while an earlier attempt of it still runs here: we were
        declared lost and the job was rescued, or the earlier claim was lost in a crash of
        PostgreSQL (claims commit asynchronously), and we claimed it again. The database knows
        only the new attempt, so the earlier one is cancelled (a sync one's thread is abandoned)
        and records nothing: this worker never holds two attempts of one job."""
        logger.warning(
            "job %d claimed again (attempt %d) while its attempt %d still runs here: this worker "
            "was declared lost and the job rescued, or the earlier claim was lost in a crash of "
            "PostgreSQL; attempt %d is given up",
            job.id,
            job.attempts,
            earlier.job.attempts,
            earlier.job.attempts,
            extra={"job_id": job.id, "task": job.task, "queue": job.queue},
        )
        earlier.control.cancel_reason = SUPERSEDED
        del self.running[job.id]
        if not earlier.task.done():
            self.superseded[earlier.task] = earlier
            earlier.task.cancel()

    def _forget(self, job: ClaimedJob, task: asyncio.Task[None] | None) -> None:
        """The attempt run by `task` has ended: free its slot (and only its own entry)."""
        running = self.running.get(job.id)
        if running is not None and running.task is task:
            del self.running[job.id]
        if task is not None:
            self.superseded.pop(task, None)
        self.slot_freed()

    def _task_done(self, job: ClaimedJob, control: JobControl, task: asyncio.Task[None]) -> None:
        """Backstop for a job task that ended without recording an outcome: a cancel that lands
        before the task first runs is raised before any of its code (and its try blocks) runs."""
        if task in self.superseded:
            self._forget(job, task)
            return
        running = self.running.get(job.id)
        if running is None or running.task is not task:
            return
        if control.cancel_reason == CANCEL_REQUESTED:
            self.record(cancelled_on_request(job))
        else:
            self.record(interrupted(job))
        self._forget(job, task)

    async def _execute(self, job: ClaimedJob, control: JobControl, runner: JobRunner) -> None:
        started = self.clock.monotonic()
        result: Transition | None
        try:
            result = await runner.run(job, control)
        except asyncio.CancelledError:
            result = None if control.cancel_reason == SUPERSEDED else interrupted(job)
        except Exception as exc:
            logger.exception("job runner failed", extra={"job_id": job.id, "task": job.task})
            result = runner_failed(job, exc)
        try:
            if result is not None:
                self.record(result)
                self.finished(job, result, self.clock.monotonic() - started)
        finally:
            self._forget(job, asyncio.current_task())

    def cancel(self, job_id: int) -> bool:
        """Cancel a job running here (on a cancel request); False if it isn't here."""
        running = self.running.get(job_id)
        if running is None or running.task.done():
            return False
        logger.info(
            "cancelling running job on request",
            extra={
                "job_id": job_id,
                "task": running.job.task,
                "queue": running.job.queue,
                "attempt": running.job.attempts,
            },
        )
        running.control.cancel_reason = CANCEL_REQUESTED
        running.task.cancel()
        return True

    def interrupt_all(self) -> None:
        """Cancel every running attempt: the worker is stopping (they are requeued)."""
        for running in self.running.values():
            if not running.task.done():
                running.control.cancel_reason = SHUTDOWN
                running.task.cancel()

    async def end_all(self, timeout: float) -> None:
        """Shutdown: let running attempts finish for `timeout` seconds, interrupt the rest, and
        abandon the ones that ignore it for CANCEL_GRACE."""
        running = self.tasks()
        if running:
            logger.info("waiting up to %.1fs for %d running jobs", timeout, len(running))
            await asyncio.wait(running, timeout=timeout)
        self.interrupt_all()
        if self.tasks():
            _, stuck = await asyncio.wait(self.tasks(), timeout=CANCEL_GRACE)
            self._abandon(set(stuck))

    def _abandon(self, stuck: set[asyncio.Task[None]]) -> None:
        """Requeue jobs whose task ignored cancellation (it swallowed CancelledError or hangs in
        a finally): shutdown must end. Their late outcome, if any, is refused by the guard."""
        for task in stuck & set(self.superseded):
            self.superseded.pop(task, None)  # no outcome of its own to record
        for job_id, running in list(self.running.items()):
            if running.task in stuck:
                logger.error(
                    "job did not stop within %.0fs of being cancelled: requeued, abandoned",
                    CANCEL_GRACE,
                    extra={
                        "job_id": job_id,
                        "task": running.job.task,
                        "queue": running.job.queue,
                        "attempt": running.job.attempts,
                    },
                )
                self.running.pop(job_id, None)
                self.record(interrupted(running.job, "did not stop when cancelled"))

    def describe(self, name: str | None) -> str:
        """What an asyncio task is, for a stall warning (called on the heartbeat thread)."""
        if name is None:
            return "a callback outside any task"
        job_id = name.removeprefix("pgqueue-job-")
        running = self.running.get(int(job_id)) if job_id.isdigit() else None
        if running is None:
            return f"asyncio task {name}"
        return f"{name} (task {running.job.task}, attempt {running.job.attempts})"
