"""The fetch loop's slot arithmetic (no database: a Worker is only constructed)."""

from __future__ import annotations

from pgqueue import App
from pgqueue._transitions import succeeded


def test_free_slots_stop_while_outcomes_pile_up() -> None:
    worker = App("postgresql://nobody@127.0.0.1:1/none").worker(
        concurrency=10, completion_batch_size=20
    )
    assert worker._free_slots() == 10
    worker._outcomes = [succeeded(n, 1, "null") for n in range(99)]
    assert worker._free_slots() == 10
    worker._outcomes.append(succeeded(99, 1, "null"))
    assert worker._free_slots() == 0
