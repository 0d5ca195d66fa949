"""A pgqueue worker runs the project's Django tasks with Django set up: sync ones in its threads
with the ORM, async ones on its loop, a TaskContext for those that take one, Django's signals,
priorities in order; results come back through the backend. Also `pgqueue worker
pgqueue.contrib.django.worker` and `django-admin pgqueue_worker` as processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django.tasks", reason="Django 6 (django.tasks) needs Python 3.12+")

from django.tasks import TaskResultStatus
from django.tasks.signals import task_finished, task_started
from django.test import override_settings

from pgqueue import ConfigurationError
from pgqueue.contrib.django.tasks import create_app, django_tasks
from tests.django.shop.models import Event, Order
from tests.django.shop.tasks import count_orders, describe_attempt, fail, record, send_confirmation
from tests.django.support import rows, work_until_finished

ROOT = Path(__file__).resolve().parents[2]


def test_every_django_task_of_the_backend_is_registered(shop_db: str) -> None:
    from django.tasks import task_backends

    names = [t.module_path for t in django_tasks(task_backends["default"])]
    assert names == [
        f"tests.django.shop.tasks.{name}"
        for name in ("count_orders", "describe_attempt", "fail", "record", "send_confirmation")
    ]
    app = create_app()
    assert app.registry.names() == names
    assert app.registry.require("tests.django.shop.tasks.send_confirmation").config.queue == "mail"


def test_the_worker_runs_django_tasks_and_their_results_come_back(shop_db: str) -> None:
    Order.objects.create(reference="A-1", quantity=1)
    Order.objects.create(reference="A-2", quantity=1)
    confirm = send_confirmation.enqueue("A-1")
    counted = count_orders.enqueue()
    described = describe_attempt.enqueue(label="ctx")
    signals: list[tuple[str, str, Any]] = []

    def on_started(sender: object, task_result: Any, **kwargs: object) -> None:
        signals.append(("started", task_result.id, task_result.status))

    def on_finished(sender: object, task_result: Any, **kwargs: object) -> None:
        signals.append(("finished", task_result.id, task_result.status))

    task_started.connect(on_started)
    task_finished.connect(on_finished)
    try:
        work_until_finished(shop_db, 3)
    finally:
        task_started.disconnect(on_started)
        task_finished.disconnect(on_finished)

    assert rows(shop_db, "SELECT state, count(*) FROM pgqueue.jobs GROUP BY state") == [
        ("succeeded", 3)
    ]
    # The sync task used the ORM from the worker's thread.
    assert list(Order.objects.order_by("reference").values_list("confirmed", flat=True)) == [
        True,
        False,
    ]
    assert send_confirmation.get_result(confirm.id).return_value == "order A-1 confirmed"
    assert count_orders.get_result(counted.id).return_value == 2
    assert describe_attempt.get_result(described.id).return_value == {
        "id": described.id,
        "attempt": 1,
        "label": "ctx",
    }
    confirm.refresh()
    assert confirm.status == TaskResultStatus.SUCCESSFUL
    assert confirm.is_finished and confirm.attempts == 1
    assert confirm.started_at is not None and confirm.finished_at is not None
    assert confirm.started_at <= confirm.finished_at
    ids = {confirm.id, counted.id, described.id}
    assert sorted(s for s in signals if s[0] == "started") == sorted(
        ("started", i, TaskResultStatus.RUNNING) for i in ids
    )
    assert sorted(s for s in signals if s[0] == "finished") == sorted(
        ("finished", i, TaskResultStatus.SUCCESSFUL) for i in ids
    )


def test_a_failing_task_is_failed_with_its_error(shop_db: str) -> None:
    result = fail.enqueue("boom")
    work_until_finished(shop_db, 1)
    assert rows(shop_db, "SELECT state, attempts FROM pgqueue.jobs") == [("dead", 1)]
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class is ValueError
    assert "ValueError: boom" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value


def test_higher_priority_runs_first(shop_db: str) -> None:
    record.using(priority=-50).enqueue("low")
    record.enqueue("normal")
    record.using(priority=50).enqueue("high")
    work_until_finished(shop_db, 3, concurrency=1)
    assert list(Event.objects.order_by("id").values_list("label", flat=True)) == [
        "high",
        "normal",
        "low",
    ]


def test_create_app_refuses_another_backend(shop_db: str) -> None:
    other = {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
    with override_settings(TASKS={"default": other}), pytest.raises(ConfigurationError):
        create_app()


def environment(dsn: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PGQUEUE_DSN", "DATABASE_URL")}
    env["PYTHONPATH"] = str(ROOT)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if dsn is not None:
        env["DJANGO_SETTINGS_MODULE"] = "tests.django.project.settings"
        env["SHOP_DATABASE_URL"] = dsn
    return env


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "pgqueue", "worker", "pgqueue.contrib.django.worker", "--poll-interval", "0.2"],
        ["-m", "django", "pgqueue_worker", "--poll-interval", "0.2"],
    ],
    ids=["pgqueue-worker", "django-admin"],
)
def test_a_worker_process_runs_django_tasks(shop_db: str, command: list[str]) -> None:
    result = record.enqueue("from a process")
    worker = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        env=environment(shop_db),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while result.refresh() or not result.is_finished:
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "the worker did not run the task in 60s"
            time.sleep(0.05)  # polling a condition with a deadline
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert result.status == TaskResultStatus.SUCCESSFUL, output
    assert worker.returncode == 0, output
    assert list(Event.objects.values_list("label", flat=True)) == ["from a process"]


def test_the_worker_module_needs_django_settings() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pgqueue", "worker", "pgqueue.contrib.django.worker"],
        cwd=ROOT,
        env=environment(None),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "set DJANGO_SETTINGS_MODULE" in done.stderr
