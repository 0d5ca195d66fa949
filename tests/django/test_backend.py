"""PgQueueBackend as Django documents a task backend: enqueue through Django's own connection
(committed or rolled back with transaction.atomic()), run_after, priorities, queues, results."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("django.tasks", reason="Django 6 (django.tasks) needs Python 3.12+")

from django.db import transaction
from django.tasks import TaskResultStatus, default_task_backend, task_backends
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.test import Client

from pgqueue.contrib.django import PgQueueBackend
from tests.django.shop.models import Order
from tests.django.shop.tasks import count_orders, record, send_confirmation
from tests.django.support import jobs, rows

CONFIRMATION = "tests.django.shop.tasks.send_confirmation"


def post_order(reference: str, quantity: int) -> tuple[int, dict[str, str]]:
    response = Client().post(
        "/orders/", json.dumps({"reference": reference, "quantity": quantity}), "application/json"
    )
    return response.status_code, response.json()


def test_the_view_commits_the_order_and_its_job_together(shop_db: str) -> None:
    status, body = post_order("A-1", 2)
    assert status == 201
    assert list(Order.objects.values_list("reference", "quantity")) == [("A-1", 2)]
    assert jobs(shop_db) == [(CONFIRMATION, ["A-1"], {}, "mail", 10, "queued", 1)]
    assert rows(shop_db, "SELECT id FROM pgqueue.jobs") == [(int(body["task_result"]),)]


def test_a_refused_order_rolls_its_job_back(shop_db: str) -> None:
    status, body = post_order("A-2", 11)
    assert (status, body) == (409, {"error": "only 10 in stock"})
    assert Order.objects.count() == 0
    assert jobs(shop_db) == []


def test_an_enqueue_inside_atomic_is_seen_by_others_only_at_commit(shop_db: str) -> None:
    with transaction.atomic():
        result = record.enqueue("kept")
        # This transaction sees its own job; another connection does not, yet.
        assert record.get_result(result.id).status == TaskResultStatus.READY
        assert rows(shop_db, "SELECT count(*) FROM pgqueue.jobs") == [(0,)]
    assert rows(shop_db, "SELECT id FROM pgqueue.jobs") == [(int(result.id),)]


def test_an_enqueue_inside_a_rolled_back_atomic_is_gone(shop_db: str) -> None:
    with pytest.raises(RuntimeError, match="changed my mind"), transaction.atomic():
        Order.objects.create(reference="B-1", quantity=1)
        record.enqueue("dropped")
        raise RuntimeError("changed my mind")
    assert Order.objects.count() == 0
    assert jobs(shop_db) == []
    # The connection is usable after the rollback, and outside atomic() commits at once.
    result = record.enqueue("next")
    assert jobs(shop_db) == [
        ("tests.django.shop.tasks.record", ["next"], {}, "default", 0, "queued", 1)
    ]
    assert result.id == str(rows(shop_db, "SELECT id FROM pgqueue.jobs")[0][0])


def test_the_task_result_of_an_enqueue(shop_db: str) -> None:
    sent = []

    def on_enqueued(sender: object, task_result: object, **kwargs: object) -> None:
        sent.append((sender, task_result))

    task_enqueued.connect(on_enqueued)
    try:
        result = send_confirmation.enqueue(reference="C-1")
    finally:
        task_enqueued.disconnect(on_enqueued)
    assert sent == [(PgQueueBackend, result)]
    [(job_id, enqueued_at)] = rows(shop_db, "SELECT id, enqueued_at FROM pgqueue.jobs")
    assert result.id == str(job_id)
    assert result.enqueued_at == enqueued_at
    assert (result.status, result.backend, result.args, result.kwargs) == (
        TaskResultStatus.READY,
        "default",
        [],
        {"reference": "C-1"},
    )
    assert (result.started_at, result.finished_at, result.attempts, result.errors) == (
        None,
        None,
        0,
        [],
    )
    assert result.task is send_confirmation
    with pytest.raises(ValueError, match="not finished yet"):
        _ = result.return_value

    fetched = send_confirmation.get_result(result.id)
    assert fetched.status == TaskResultStatus.READY
    assert (fetched.id, fetched.enqueued_at, fetched.args, fetched.kwargs) == (
        result.id,
        enqueued_at,
        [],
        {"reference": "C-1"},
    )
    assert (fetched.task.func, fetched.task.queue_name, fetched.task.priority) == (
        send_confirmation.func,
        "mail",
        10,
    )
    assert fetched.attempts == 0


def test_run_after_becomes_the_jobs_run_at(shop_db: str) -> None:
    later = datetime.now(UTC).replace(microsecond=123456) + timedelta(hours=1)
    record.using(run_after=later).enqueue("later")
    assert rows(shop_db, "SELECT state, run_at FROM pgqueue.jobs") == [("scheduled", later)]
    with pytest.raises(InvalidTask, match="aware"):
        record.using(run_after=datetime(2030, 1, 1))  # naive, with USE_TZ = True


def test_priorities_and_queues(shop_db: str) -> None:
    record.using(priority=100).enqueue("top")
    record.using(priority=-100, queue_name="mail").enqueue("bottom")
    assert rows(shop_db, "SELECT priority, queue FROM pgqueue.jobs ORDER BY id") == [
        (100, "default"),
        (-100, "mail"),
    ]
    with pytest.raises(InvalidTask, match="priority"):
        record.using(priority=101)
    with pytest.raises(InvalidTask, match="Queue 'reports' is not valid"):
        record.using(queue_name="reports")
    assert len(jobs(shop_db)) == 2


def test_arguments_must_be_json(shop_db: str) -> None:
    with pytest.raises(TypeError):
        record.enqueue(object())  # type: ignore[arg-type]
    assert jobs(shop_db) == []


def test_unknown_results(shop_db: str) -> None:
    for missing in ("999999", "not-a-number"):
        with pytest.raises(TaskResultDoesNotExist):
            default_task_backend.get_result(missing)
    # A job of a pgqueue task that is not a Django task is no Django result either.
    [(job_id,)] = rows(shop_db, "SELECT pgqueue.enqueue('billing.charge', '[1]')")
    with pytest.raises(TaskResultDoesNotExist, match="not a Django task"):
        default_task_backend.get_result(str(job_id))


def test_the_backend_says_what_it_supports(shop_db: str) -> None:
    backend = task_backends["default"]
    assert isinstance(backend, PgQueueBackend)
    assert (
        backend.supports_defer,
        backend.supports_async_task,
        backend.supports_get_result,
        backend.supports_priority,
    ) == (True, True, True, True)
    assert backend.queues == {"default", "mail"}
    assert backend.check() == []


def test_aenqueue_and_aget_result(shop_db: str) -> None:
    async def both() -> tuple[str, TaskResultStatus]:
        result = await count_orders.aenqueue()
        fetched = await count_orders.aget_result(result.id)
        return result.id, fetched.status

    result_id, status = asyncio.run(both())
    assert status == TaskResultStatus.READY
    assert rows(shop_db, "SELECT id, task FROM pgqueue.jobs") == [
        (int(result_id), "tests.django.shop.tasks.count_orders")
    ]


def test_the_worker_dsn_comes_from_the_django_database(shop_db: str) -> None:
    from pgqueue import App

    backend = task_backends["default"]
    app = App(backend.worker_dsn())
    assert app.dsn is not None
    assert app.dsn.split("?")[0].rsplit("/", 1)[1] == shop_db.rsplit("/", 1)[1]


def test_a_result_whose_queue_was_dropped_from_queues(shop_db: str) -> None:
    from django.test import override_settings

    result = send_confirmation.enqueue("D-1")
    narrower = {"BACKEND": "pgqueue.contrib.django.PgQueueBackend", "QUEUES": ["default"]}
    with override_settings(TASKS={"default": narrower}):
        fetched = send_confirmation.get_result(result.id)
    assert (fetched.status, fetched.args, fetched.task.func) == (
        TaskResultStatus.READY,
        ["D-1"],
        send_confirmation.func,
    )


def test_the_system_check_names_a_missing_database(shop_db: str) -> None:
    from django.test import override_settings

    misplaced = {
        "BACKEND": "pgqueue.contrib.django.PgQueueBackend",
        "OPTIONS": {"DATABASE": "queue"},
    }
    with override_settings(TASKS={"default": misplaced}):
        [error] = task_backends["default"].check()
    assert (error.id, error.msg) == (
        "pgqueue.E001",
        "task backend 'default': no database 'queue' in DATABASES",
    )
