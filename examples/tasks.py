"""Example tasks: `pgqueue worker examples.tasks:app` serves them."""

from __future__ import annotations

import asyncio
import time

from pgqueue import App, Retry, current_job

app = App()


@app.task
async def greet(name: str) -> str:
    await asyncio.sleep(0.01)
    return f"hello, {name}"


@app.task(queue="default", max_attempts=5)
def add(a: int, b: int) -> int:
    """A plain `def` task: it runs in the worker's thread pool, never blocking the event loop."""
    time.sleep(0.01)
    return a + b


@app.task(max_attempts=3)
async def flaky(fail_times: int) -> str:
    job = current_job()
    if job.attempt <= fail_times:
        raise Retry(delay=0.1, reason=f"failing on purpose, attempt {job.attempt}")
    return f"succeeded on attempt {job.attempt}"
