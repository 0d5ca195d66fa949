"""PgQueueBackend: Django's task framework (django.tasks) on pgqueue.

Enqueueing goes through Django's own database connection, so inside `transaction.atomic()` the
job commits or rolls back with the view's writes; results are read back from the job row. The
worker side (running the tasks) is pgqueue's: see pgqueue.contrib.django.worker.
"""

from __future__ import annotations

import builtins
import contextlib
import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import DEFAULT_DB_ALIAS, connections
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import TaskError
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

from pgqueue import JobRequest, JobState
from pgqueue._repository import dbapi

__all__ = ["PgQueueBackend", "result_status"]

# A job's state as Django names it: waiting in any form is READY ("enqueued, or ready to be
# executed again"), and both ways of ending without a result are FAILED.
_STATUS = {
    JobState.SCHEDULED: TaskResultStatus.READY,
    JobState.QUEUED: TaskResultStatus.READY,
    JobState.RETRYING: TaskResultStatus.READY,
    JobState.RUNNING: TaskResultStatus.RUNNING,
    JobState.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    JobState.DEAD: TaskResultStatus.FAILED,
    JobState.CANCELLED: TaskResultStatus.FAILED,
}


def result_status(state: str) -> Any:
    """The TaskResultStatus for a pgqueue job state."""
    return _STATUS[JobState(state)]


class PgQueueBackend(BaseTaskBackend):  # type: ignore[misc]  # Django ships no type hints
    """`TASKS = {"default": {"BACKEND": "pgqueue.contrib.django.PgQueueBackend"}}`.

    OPTIONS: "DATABASE", the Django database alias whose connection enqueues and reads results
    (default "default", a PostgreSQL database with pgqueue's schema migrated into it);
    "DSN", the DSN workers connect with (default: built from that database's settings);
    "MAX_ATTEMPTS", the attempts a job gets before it is dead-lettered (default: the worker's,
    3); "MODULES", modules the worker imports to find tasks beyond each app's `tasks` module.
    QUEUES, as Django documents it, lists the queue names tasks may use (an empty list: any).
    """

    supports_defer = True  # run_after becomes the job's run_at
    supports_async_task = True  # the worker awaits coroutine functions on its event loop
    supports_get_result = True  # results live in the job row, readable from any process
    supports_priority = True  # Django's -100..100 is pgqueue's priority as is: higher first

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.database: str = self.options.get("DATABASE", DEFAULT_DB_ALIAS)
        self.max_attempts: int | None = self.options.get("MAX_ATTEMPTS")
        self.modules: list[str] = list(self.options.get("MODULES", []))

    def worker_dsn(self) -> str | None:
        """The DSN a worker connects with: OPTIONS "DSN", else the libpq parameters of the
        Django database (NAME, USER, PASSWORD, HOST, PORT and libpq's own OPTIONS such as
        sslmode); None leaves it to PGQUEUE_DSN, DATABASE_URL and libpq's defaults."""
        if self.options.get("DSN"):
            return str(self.options["DSN"])
        database = settings.DATABASES[self.database]
        params = {key: database.get(setting) for setting, key in _DATABASE_PARAMS.items()}
        extra = database.get("OPTIONS", {})
        params.update({key: extra[key] for key in _LIBPQ_OPTIONS if key in extra})
        given = {key: str(value) for key, value in params.items() if value not in (None, "")}
        return " ".join(f"{key}={_conninfo_value(value)}" for key, value in given.items()) or None

    # -- validation ------------------------------------------------------------------------------

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        try:  # pgqueue's own limits on names, checked where Django checks its own
            JobRequest(task=task.module_path, args=[], kwargs={}, queue=task.queue_name)
        except ValueError as exc:
            raise InvalidTask(f"{task.module_path}: {exc}") from None

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages = list(super().check(**kwargs))
        if self.database not in settings.DATABASES:
            messages.append(
                checks.Error(
                    f"task backend {self.alias!r}: no database {self.database!r} in DATABASES",
                    id="pgqueue.E001",
                )
            )
        elif connections[self.database].vendor != "postgresql":
            messages.append(
                checks.Error(
                    f"task backend {self.alias!r}: database {self.database!r} is not PostgreSQL",
                    hint="pgqueue keeps its jobs in PostgreSQL (pgqueue migrate).",
                    id="pgqueue.E002",
                )
            )
        return messages

    # -- enqueue ---------------------------------------------------------------------------------

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Write the job through Django's connection: inside `transaction.atomic()` it commits
        or rolls back with the rest of the transaction; outside, it commits at once."""
        self.validate_task(task)
        # Django's own rule for arguments: JSON values only, refused here before any SQL.
        args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        request = JobRequest(
            task=task.module_path,
            args=args,
            kwargs=kwargs,
            queue=task.queue_name,
            priority=task.priority,
            run_at=_aware(task.run_after),
            max_attempts=self.max_attempts,
        )
        job_id, enqueued_at = dbapi.enqueue_one(
            connections[self.database], json.dumps([request.as_json_object()])
        )
        result = TaskResult(
            task=task,
            id=str(job_id),
            status=TaskResultStatus.READY,
            enqueued_at=enqueued_at,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        task_enqueued.send(type(self), task_result=result)
        return result

    # -- results ---------------------------------------------------------------------------------

    def get_result(self, result_id: str) -> TaskResult:
        """The job `result_id` (its pgqueue job id) as a TaskResult, read through Django's
        connection. Raises TaskResultDoesNotExist for an unknown id or a job that is not a
        Django task's."""
        try:
            job_id = int(result_id)
        except (TypeError, ValueError):
            raise TaskResultDoesNotExist(result_id) from None
        row = dbapi.job_row(connections[self.database], job_id)
        if row is None:
            raise TaskResultDoesNotExist(result_id)
        name, queue, state, priority, args, kwargs, attempts = row[:7]
        enqueued_at, started_at, finished_at, result, errors, worker_id = row[7:]
        task = self._task(name, result_id)
        # The task as this job was enqueued (.using() may have changed both), or as defined
        # when the job's queue has since been dropped from QUEUES.
        with contextlib.suppress(InvalidTask):
            task = task.using(queue_name=queue, priority=priority, backend=self.alias)
        task_result = TaskResult(
            task=task,
            id=str(job_id),
            status=result_status(state),
            enqueued_at=enqueued_at,
            # pgqueue keeps the start of the latest attempt only: it is both of these.
            started_at=started_at,
            last_attempted_at=started_at,
            finished_at=finished_at,
            args=json.loads(args),
            kwargs=json.loads(kwargs),
            backend=self.alias,
            errors=[_task_error(error) for error in json.loads(errors)],
            # pgqueue keeps the latest worker's id only: once per attempt, so `attempts` is true.
            worker_ids=[worker_id or ""] * attempts,
        )
        if result is not None and task_result.status == TaskResultStatus.SUCCESSFUL:
            object.__setattr__(task_result, "_return_value", json.loads(result))
        return task_result

    def _task(self, name: str, result_id: str) -> Task:
        try:
            found = import_string(name)
        except ImportError:
            found = None
        if not isinstance(found, Task):
            raise TaskResultDoesNotExist(
                f"{result_id}: job of {name!r}, which is not a Django task importable here"
            )
        return found


_DATABASE_PARAMS = {
    "NAME": "dbname",
    "USER": "user",
    "PASSWORD": "password",
    "HOST": "host",
    "PORT": "port",
}
# Django's OPTIONS for PostgreSQL mix libpq's connection parameters with the driver's own
# (isolation_level, pool, server_side_binding, ...): only these mean the same to asyncpg.
_LIBPQ_OPTIONS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "passfile",
    "service",
)


def _conninfo_value(value: str) -> str:
    """A libpq conninfo value, quoted: backslash and single quote escaped."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _aware(run_after: datetime | None) -> datetime | None:
    # With USE_TZ = False Django allows a naive run_after: it means the current time zone.
    if run_after is None or timezone.is_aware(run_after):
        return run_after
    aware: datetime = timezone.make_aware(run_after)
    return aware


def _task_error(error: dict[str, Any]) -> TaskError:
    """A stored attempt error as Django's TaskError, whose exception_class_path must import."""
    kind = str(error.get("kind", "error"))
    path = str(error.get("type") or kind)
    if "." not in path:  # pgqueue stores builtins by bare name, and some kinds have no class
        is_builtin = isinstance(getattr(builtins, path, None), type)
        path = f"builtins.{path}" if is_builtin else "pgqueue.errors.JobFailedError"
    traceback = error.get("traceback") or f"{kind}: {error.get('message', '')}"
    return TaskError(exception_class_path=path, traceback=str(traceback))
