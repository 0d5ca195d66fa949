"""An app whose start-up waits on a file the test controls, for the start-up signal tests
(tests/integration/test_startup_signals.py): `python -m pgqueue worker tests.slow_start_app:app`.

Its `open()` (the first thing a worker's start() does) touches SLOW_START_MARK, then waits until
SLOW_START_GATE exists: the test sends its signal while the worker is known to be starting.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pgqueue import App


def _marked(mark: str) -> bool:
    """Touch `mark` unless it exists; True the first time (only the first open() waits)."""
    path = Path(mark)
    if path.exists():
        return False
    path.touch()
    return True


def _open_gate(gate: str) -> bool:
    return Path(gate).exists()


class SlowStartApp(App):
    async def open(self) -> None:
        mark, gate = os.environ.get("SLOW_START_MARK"), os.environ.get("SLOW_START_GATE")
        if mark and gate and _marked(mark):
            while not _open_gate(gate):  # noqa: ASYNC110 - another process opens it
                await asyncio.sleep(0.01)
        await super().open()


app = SlowStartApp()


@app.task(name="work")
async def work() -> str:
    return "ran"
