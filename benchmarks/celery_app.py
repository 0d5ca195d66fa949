"""The Celery app of the peers harness (benchmarks/peers.py): one no-op task, the broker at
PGQUEUE_BENCH_CELERY_BROKER (a Redis URL), everything else at Celery's defaults (no result
backend).

In a worker, every pool process keeps its own clock (the first task's start, the last task's
end, the count, on CLOCK_MONOTONIC, which all processes share) and writes it as JSON to
PGQUEUE_BENCH_CELERY_CLOCKS/<pid>.json when it exits; the harness adds them up.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_process_shutdown  # type: ignore[import-untyped]

app = Celery("benchmarks", broker=os.environ.get("PGQUEUE_BENCH_CELERY_BROKER"))

_first: float | None = None
_last = 0.0
_count = 0


@app.task(name="noop")  # type: ignore[untyped-decorator]
def noop() -> None:
    global _first, _last, _count
    if _first is None:
        _first = time.perf_counter()
    _count += 1
    _last = time.perf_counter()


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _write_clock(**_: Any) -> None:
    folder = os.environ.get("PGQUEUE_BENCH_CELERY_CLOCKS")
    if folder and _count:
        clock = {"first": _first, "last": _last, "jobs": _count}
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps(clock))
