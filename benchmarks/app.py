"""The app the benchmark workers serve: `pgqueue worker benchmarks.app:app`.

Tasks do nothing, so what is measured is pgqueue's own overhead. `probe` returns how long
after its enqueue (a wall-clock time passed as its argument) it started, for latency.
"""

from __future__ import annotations

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
