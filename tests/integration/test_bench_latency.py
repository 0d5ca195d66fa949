"""The latency workload (benchmarks/workloads.py, `latency`, row 4 of docs/benchmarks.md) with a
handful of probes: the raw LISTEN loop and a pgqueue worker process are up together and take
their probes in alternating blocks; each side reports one latency per timed probe (the warm-up
left out), in enqueue order, and every probe ran."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from benchmarks import workloads
from benchmarks.db import Databases
from tests.conftest import TEST_DSN

SAMPLES = 12
WARMUP = 3


async def _measure() -> dict[str, list[float]]:
    dbs = Databases(TEST_DSN)
    try:
        return await workloads.latency(dbs, SAMPLES, 0.002, None, blocks=3, warmup=WARMUP)
    finally:
        await dbs.close()


def test_both_sides_time_every_probe_once_warm() -> None:
    seen = asyncio.run(_measure())
    assert set(seen) == {"raw", "pgqueue"}
    for side, latencies in seen.items():
        assert len(latencies) == SAMPLES, side
        # A probe's start minus its enqueue time: positive, and far below the run's deadlines.
        assert all(0.0 < latency < 30.0 for latency in latencies), (side, latencies)


def test_the_probes_alternate_block_by_block_after_each_sides_warm_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The point of the workload: neither side takes all its probes before the other (a slow
    minute of the machine would fall on one side only)."""
    paced = workloads._paced
    calls: list[tuple[str, int]] = []

    async def recording(count: int, spacing: float, send: Any) -> None:
        calls.append((send.__name__, count))
        await paced(count, spacing, send)

    monkeypatch.setattr(workloads, "_paced", recording)
    seen = asyncio.run(_measure())
    block = SAMPLES // 3
    warm_up = [("send_raw", WARMUP), ("send_ours", WARMUP)]
    assert calls == warm_up + [("send_raw", block), ("send_ours", block)] * 3
    assert {side: len(latencies) for side, latencies in seen.items()} == {
        "raw": SAMPLES,
        "pgqueue": SAMPLES,
    }
