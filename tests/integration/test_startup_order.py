"""Start-up order (issue 18 goal 6): the first claim runs before any background service's first
pass, and the job it claims starts before them too, so a job waiting when a worker starts is not
queued behind the services' connections (docs/benchmarks.md, "Start-up"). The calls are the real
ones against PostgreSQL; the test only records their order."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from pgqueue import App
from tests.helpers import count_states, wait_for

SERVICE_CALLS = ("promote_due", "rescue_pass", "cancel_requested", "acquire_lease")


async def test_the_first_claim_and_its_job_go_before_the_services(app: App, dsn: str) -> None:
    order: list[str] = []
    ran = asyncio.Event()

    @app.task(name="first")
    async def first() -> None:
        order.append("job")
        ran.set()

    await first.enqueue()
    await app.open()
    repository = app.repository

    def recorded(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            order.append(name)
            return await method(*args, **kwargs)

        return call

    for name in ("claim", *SERVICE_CALLS):
        setattr(repository, name, recorded(name, getattr(repository, name)))

    worker = app.worker(poll_interval=30)
    await worker.start()
    try:
        await asyncio.wait_for(ran.wait(), 10)
        # The services do start, right after.
        await wait_for(
            lambda: {"promote_due", "cancel_requested"} <= set(order), message="services"
        )
    finally:
        await worker.stop(timeout=10)
    assert order[:2] == ["claim", "job"], order
    assert {"promote_due", "cancel_requested"} <= set(order), order
    assert await count_states(dsn) == {"succeeded": 1}
