from typing import Any

from django.tasks import TaskContext, task

from tests.django.shop.models import Event, Order


@task(queue_name="mail", priority=10)
def send_confirmation(reference: str) -> str:
    Order.objects.filter(reference=reference).update(confirmed=True)
    return f"order {reference} confirmed"


@task
async def count_orders() -> int:
    return await Order.objects.acount()


@task(takes_context=True)
def describe_attempt(context: TaskContext, label: str) -> dict[str, Any]:
    return {"id": context.task_result.id, "attempt": context.attempt, "label": label}


@task
def record(label: str) -> None:
    Event.objects.create(label=label)


@task
def fail(message: str) -> None:
    raise ValueError(message)
