"""Django tasks as pgqueue tasks: what a worker needs to run them.

Every Django Task that uses a PgQueueBackend is found in each installed app's `tasks` module (and
in the backend's OPTIONS "MODULES") and registered on a pgqueue App under its Django module path,
the name the backend enqueues it under. Running it, the worker does what Django's own backends do:
passes a TaskContext to a task that takes one, stores the return value as Django normalizes it,
sends task_started and task_finished, and gives a sync task fresh database connections.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from importlib import import_module
from inspect import iscoroutinefunction
from traceback import format_exception
from types import ModuleType
from typing import Any

from asgiref.sync import sync_to_async
from django.apps import apps
from django.db import close_old_connections
from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus, task_backends
from django.tasks.base import TaskError
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.json import normalize_json
from django.utils.module_loading import module_has_submodule

from pgqueue import App, ConfigurationError, current_job
from pgqueue.contrib.django.backend import PgQueueBackend

__all__ = ["create_app", "django_tasks", "register"]

# Which process ran an attempt, for TaskResult.worker_ids (Django's word for it).
_WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def create_app(backend: str = "default", **app_options: Any) -> App:
    """An App for the workers of the Django task backend `backend`, every Django task that uses
    it registered. Call it with Django set up; `app_options` go to App (pool sizes, timeouts)."""
    found = task_backends[backend]
    if not isinstance(found, PgQueueBackend):
        raise ConfigurationError(
            f"TASKS[{backend!r}] is {type(found).__module__}.{type(found).__qualname__}, "
            "not pgqueue.contrib.django.PgQueueBackend"
        )
    app = App(found.worker_dsn(), **app_options)
    for task in django_tasks(found):
        register(app, task)
    return app


def django_tasks(backend: PgQueueBackend) -> list[Task]:
    """The Django tasks that enqueue to `backend`, from each installed app's `tasks` module and
    the backend's MODULES, each once."""
    modules: list[ModuleType] = []
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, "tasks"):
            modules.append(import_module(f"{config.name}.tasks"))
    modules.extend(import_module(name) for name in backend.modules)
    found: dict[str, Task] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Task) and value.backend == backend.alias:
                found.setdefault(value.module_path, value)
    return [found[name] for name in sorted(found)]


def register(app: App, task: Task) -> None:
    """Register the Django `task` on `app` under the name the backend enqueues it with."""
    app.task(name=task.module_path, queue=task.queue_name, priority=task.priority)(_runner(task))


def _runner(task: Task) -> Callable[..., Any]:
    if iscoroutinefunction(task.func):

        async def run_async(*args: Any, **kwargs: Any) -> Any:
            # The ORM's async calls run in one shared thread: its connections checked as below.
            await _close_old_connections()
            try:
                result = _started(task, args, kwargs)
                try:
                    value = normalize_json(
                        await task.func(*_context(task, result), *args, **kwargs)
                    )
                except BaseException as exc:
                    _failed(result, exc)
                    raise
                return _succeeded(result, value)
            finally:
                await _close_old_connections()

        return run_async

    def run_sync(*args: Any, **kwargs: Any) -> Any:
        # The worker's threads outlive a task: connections are checked as Django does around a
        # request (CONN_MAX_AGE, CONN_HEALTH_CHECKS), so a task never gets a broken one.
        close_old_connections()
        try:
            result = _started(task, args, kwargs)
            try:
                value = normalize_json(task.func(*_context(task, result), *args, **kwargs))
            except BaseException as exc:
                _failed(result, exc)
                raise
            return _succeeded(result, value)
        finally:
            close_old_connections()

    return run_sync


async def _close_old_connections() -> None:
    await sync_to_async(close_old_connections, thread_sensitive=True)()


def _started(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskResult:
    job = current_job()
    now = timezone.now()
    result = TaskResult(
        task=task,
        id=str(job.job_id),
        status=TaskResultStatus.RUNNING,
        enqueued_at=None,
        started_at=now,
        last_attempted_at=now,
        finished_at=None,
        args=list(args),
        kwargs=dict(kwargs),
        backend=task.backend,
        errors=[],
        worker_ids=[_WORKER_ID] * job.attempt,
    )
    task_started.send(sender=PgQueueBackend, task_result=result)
    return result


def _context(task: Task, result: TaskResult) -> tuple[Any, ...]:
    return (TaskContext(task_result=result),) if task.takes_context else ()


def _succeeded(result: TaskResult, value: Any) -> Any:
    object.__setattr__(result, "_return_value", value)
    object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
    object.__setattr__(result, "finished_at", timezone.now())
    task_finished.send(sender=PgQueueBackend, task_result=result)
    return value


def _failed(result: TaskResult, exc: BaseException) -> None:
    # This attempt failed; pgqueue decides whether the job is retried (see MAX_ATTEMPTS).
    kind = type(exc)
    result.errors.append(
        TaskError(
            exception_class_path=f"{kind.__module__}.{kind.__qualname__}",
            traceback="".join(format_exception(exc)),
        )
    )
    object.__setattr__(result, "status", TaskResultStatus.FAILED)
    object.__setattr__(result, "finished_at", timezone.now())
    task_finished.send(sender=PgQueueBackend, task_result=result)
