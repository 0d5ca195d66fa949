"""assert_enqueued / refute_enqueued / enqueued_jobs: what is waiting in the jobs table.

They read the table (through the test's own connection when given one, so the jobs of an
uncommitted transaction show), compare arguments after the same JSON round trip enqueue makes,
and on failure list what is enqueued, closest match first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pgqueue import _serialization as serialization
from pgqueue._client import App
from pgqueue._registry import Task
from pgqueue._repository.testkit import waiting_jobs_on, waiting_jobs_sync

ANY: Any = object()  # "any value": the default of every filter
_LISTED = 20  # jobs shown in a failure message
_LIMIT = 10_000  # jobs read at most for one assertion


@dataclass(frozen=True, slots=True)
class EnqueuedJob:
    """A job waiting to run (queued or scheduled), as assert_enqueued sees it."""

    id: int
    task: str
    queue: str
    state: str
    priority: int
    args: list[Any]
    kwargs: dict[str, Any]
    run_at: datetime
    max_attempts: int | None
    unique_key: str | None

    def describe(self) -> str:
        call = ", ".join(
            [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        )
        return f"#{self.id} {self.task}({call}) queue={self.queue!r} {self.state}"


@dataclass(frozen=True, slots=True)
class _Want:
    task: str | None
    args: Any
    kwargs: Any
    queue: Any
    priority: Any

    def score(self, job: EnqueuedJob) -> int:
        """How many of the asked-for fields `job` matches (all of them: a match)."""
        return sum(
            (
                self.task is None or job.task == self.task,
                self.args is ANY or job.args == self.args,
                self.kwargs is ANY or job.kwargs == self.kwargs,
                self.queue is ANY or job.queue == self.queue,
                self.priority is ANY or job.priority == self.priority,
            )
        )

    def describe(self) -> str:
        parts = [self.task or "any task"]
        for name in ("args", "kwargs", "queue", "priority"):
            value = getattr(self, name)
            if value is not ANY:
                parts.append(f"{name}={value!r}")
        return " ".join(parts)


def _want(
    task: Task[Any, Any] | str | None, args: Any, kwargs: Any, queue: Any, priority: Any
) -> _Want:
    name = task.name if isinstance(task, Task) else task
    # Compared as the worker will see them: after the JSON round trip (a tuple is a list).
    if args is not ANY:
        args = serialization.loads(serialization.dumps(list(args), what="args"))
    if kwargs is not ANY:
        kwargs = serialization.loads(serialization.dumps(dict(kwargs), what="kwargs"))
    return _Want(name, args, kwargs, queue, priority)


def _job(row: dict[str, Any]) -> EnqueuedJob:
    return EnqueuedJob(
        **{
            **row,
            "args": serialization.loads(row["args"]),
            "kwargs": serialization.loads(row["kwargs"]),
        }
    )


async def _read(where: App | Any) -> list[EnqueuedJob]:
    if isinstance(where, App):
        await where.open()  # it opens lazily, as for an enqueue
        rows = await where.repository.waiting_jobs(_LIMIT)
    else:
        rows = await waiting_jobs_on(where, _LIMIT)
    return [_job(r) for r in rows]


def _read_sync(connection: Any) -> list[EnqueuedJob]:
    rows = waiting_jobs_sync(connection, _LIMIT)
    return [_job(r) for r in rows]


def _matching(jobs: Sequence[EnqueuedJob], want: _Want) -> list[EnqueuedJob]:
    return [j for j in jobs if want.score(j) == 5]


def _listing(jobs: Sequence[EnqueuedJob], want: _Want) -> str:
    if not jobs:
        return "nothing is enqueued"
    ranked = sorted(jobs, key=lambda j: (-want.score(j), j.id))
    lines = [f"  {j.describe()}" for j in ranked[:_LISTED]]
    if len(ranked) > _LISTED:
        lines.append(f"  ... and {len(ranked) - _LISTED} more")
    return f"enqueued ({len(jobs)}, closest first):\n" + "\n".join(lines)


def _check(jobs: list[EnqueuedJob], want: _Want, count: int | None) -> list[EnqueuedJob]:
    found = _matching(jobs, want)
    if (count is None and found) or (count is not None and len(found) == count):
        return found
    expected = "at least 1" if count is None else str(count)
    raise AssertionError(
        f"expected {expected} enqueued job(s) of {want.describe()}, found {len(found)}; "
        + _listing(jobs, want)
    )


def _refute(jobs: list[EnqueuedJob], want: _Want) -> None:
    found = _matching(jobs, want)
    if found:
        raise AssertionError(
            f"expected no enqueued job of {want.describe()}, found {len(found)}; "
            + _listing(found, want)
        )


async def enqueued_jobs(
    where: App | Any,
    task: Task[Any, Any] | str | None = None,
    *,
    args: Any = ANY,
    kwargs: Any = ANY,
    queue: Any = ANY,
    priority: Any = ANY,
) -> list[EnqueuedJob]:
    """The jobs waiting to run (queued or scheduled) that match, oldest first. `where`: an App,
    or the test's asyncpg Connection/Pool or SQLAlchemy AsyncSession/AsyncConnection."""
    want = _want(task, args, kwargs, queue, priority)
    return _matching(await _read(where), want)


async def assert_enqueued(
    where: App | Any,
    task: Task[Any, Any] | str | None = None,
    *,
    args: Any = ANY,
    kwargs: Any = ANY,
    queue: Any = ANY,
    priority: Any = ANY,
    count: int | None = None,
) -> list[EnqueuedJob]:
    """Fail unless a job (exactly `count` jobs, if given) matching is waiting to run; returns
    the matches. The failure lists what is enqueued, closest match first."""
    want = _want(task, args, kwargs, queue, priority)
    return _check(await _read(where), want, count)


async def refute_enqueued(
    where: App | Any,
    task: Task[Any, Any] | str | None = None,
    *,
    args: Any = ANY,
    kwargs: Any = ANY,
    queue: Any = ANY,
    priority: Any = ANY,
) -> None:
    """Fail if any job matching is waiting to run, listing those that do."""
    want = _want(task, args, kwargs, queue, priority)
    _refute(await _read(where), want)


def assert_enqueued_sync(
    connection: Any,
    task: Task[Any, Any] | str | None = None,
    *,
    args: Any = ANY,
    kwargs: Any = ANY,
    queue: Any = ANY,
    priority: Any = ANY,
    count: int | None = None,
) -> list[EnqueuedJob]:
    """`assert_enqueued` on a sync SQLAlchemy Session or Connection."""
    want = _want(task, args, kwargs, queue, priority)
    return _check(_read_sync(connection), want, count)


def refute_enqueued_sync(
    connection: Any,
    task: Task[Any, Any] | str | None = None,
    *,
    args: Any = ANY,
    kwargs: Any = ANY,
    queue: Any = ANY,
    priority: Any = ANY,
) -> None:
    """`refute_enqueued` on a sync SQLAlchemy Session or Connection."""
    want = _want(task, args, kwargs, queue, priority)
    _refute(_read_sync(connection), want)
