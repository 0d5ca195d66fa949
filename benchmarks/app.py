"""The app the benchmark workers serve: `pgqueue worker benchmarks.app:app`.

Tasks do nothing, so what is measured is pgqueue's own overhead. `probe` returns how long
after its enqueue (a wall-clock time passed as its argument) it started, for latency.
"""

from __future__ import annotations

import asyncio
import random
import time

from pgqueue import App

app = App()


@app.task
async def noop() -> None:
    return None


@app.task
def noop_sync() -> None:
    return None


@app.task
async def probe(enqueued_at: float) -> float:
    return time.time() - enqueued_at


@app.task
async def sleepy(low_ms: float, high_ms: float) -> None:
    """Sleeps a random time: completions that trickle in one at a time, as real jobs do."""
    await asyncio.sleep(random.uniform(low_ms, high_ms) / 1000.0)
