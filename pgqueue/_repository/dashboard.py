"""The web dashboard's own reads: pages of jobs and dead letters over a big history.

Everything else the dashboard shows comes from the public Monitor and Admin; these are the
queries that page (keyset cursors, never OFFSET) and the size estimate, each a named file
pgqueue/_sql/dashboard_*.sql. The only code of the dashboard that runs SQL (built on the App's
repository: `DashboardQueries(app.repository)`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pgqueue._job import JobState
from pgqueue._repository.driver import Database, translated
from pgqueue._sql import query

# How many ids one page of the job list may look at: a bounded range of the primary key, so a
# filter that matches one job in a million still answers in milliseconds (it says how far it got).
JOB_WINDOW = 20_000
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class JobRow:
    """One line of the dashboard's job list."""

    id: int
    task: str
    queue: str
    state: str
    priority: int
    attempts: int
    max_attempts: int | None
    run_at: datetime
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: float | None
    error_type: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class JobPage:
    """A page of jobs, newest first. `older` is the cursor of the next page (None at the end);
    `searched_to` is the lowest id this page looked at, when it ran out of window before filling
    up (the next page goes on from there)."""

    jobs: list[JobRow]
    older: int | None
    searched_to: int | None
    newest_id: int | None
    estimate: int


@dataclass(frozen=True, slots=True)
class DeadRow:
    """One line of the dashboard's dead letters."""

    id: int
    queue: str
    task: str
    attempts: int
    max_attempts: int | None
    enqueued_at: datetime
    died_at: datetime | None
    error_type: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class DeadPage:
    """A page of dead letters, latest deaths first; `older` is the next page's cursor."""

    jobs: list[DeadRow]
    older: tuple[datetime, int] | None


class DashboardQueries:
    """The dashboard's paged reads over an App's repository (`DashboardQueries(app.repository)`)."""

    def __init__(self, repository: Database, *, window: int = JOB_WINDOW) -> None:
        self.repository = repository
        self.window = window

    async def jobs_size(self) -> tuple[int | None, int]:
        """(newest id or None, estimated number of jobs)."""
        with translated(self.repository.dsn):
            row = await self.repository.pool.fetchrow(query("dashboard_jobs_size"))
        assert row is not None
        return row["newest_id"], int(row["estimate"])

    async def job_page(
        self,
        *,
        queue: str | None = None,
        task: str | None = None,
        states: Sequence[JobState | str] | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> JobPage:
        """Jobs with ids below `before` (None: from the newest) matching every filter given."""
        limit = max(1, min(limit, MAX_PAGE))
        state_list = [JobState(s).value for s in states] if states else None
        newest, estimate = await self.jobs_size()
        top = (newest or 0) + 1 if before is None else before
        floor = max(1, top - self.window)
        with translated(self.repository.dsn):
            rows = await self.repository.pool.fetch(
                query("dashboard_job_page"), queue, task, state_list, top, floor, limit
            )
        jobs = [JobRow(**dict(r)) for r in rows]
        if len(jobs) == limit:
            return JobPage(jobs, jobs[-1].id, None, newest, estimate)
        # The window ran out before the page filled: the next page searches below it.
        older = floor if floor > 1 else None
        return JobPage(jobs, older, floor if older is not None else None, newest, estimate)

    async def dead_page(
        self,
        *,
        queue: str | None = None,
        task: str | None = None,
        after: tuple[datetime, int] | None = None,
        limit: int = 50,
    ) -> DeadPage:
        """Dead letters that died before the cursor `after` (None: the latest first)."""
        limit = max(1, min(limit, MAX_PAGE))
        died_at, last_id = after if after is not None else (None, None)
        with translated(self.repository.dsn):
            rows = await self.repository.pool.fetch(
                query("dashboard_dead_page"), queue, task, died_at, last_id, limit
            )
        jobs = [DeadRow(**dict(r)) for r in rows]
        older = None
        if len(jobs) == limit and jobs[-1].died_at is not None:
            older = (jobs[-1].died_at, jobs[-1].id)
        return DeadPage(jobs, older)
