"""A stop asked at any moment stops the worker (issue 8, item 5, the worker's side).

Real `pgqueue worker` processes whose start-up waits on a file (tests/slow_start_app.py), so the
signal lands during start(), deterministically: the first signal is remembered and the worker
stops as soon as it has started, claiming nothing; a second one stops it at once, even while
start-up still waits.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults_support import worker_process
from tests.helpers import count_states, fetch, wait_for

pytestmark = pytest.mark.slow

APP = "tests.slow_start_app:app"


def slow_start_env(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    mark, gate = tmp_path / "starting", tmp_path / "gate"
    return {"SLOW_START_MARK": str(mark), "SLOW_START_GATE": str(gate)}, mark, gate


async def enqueue_one(dsn: str) -> None:
    from pgqueue import App

    async with App(dsn) as client:
        await client.enqueue("work", allow_unknown=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_during_start_up_stops_the_worker_once_it_has_started(
    dsn: str, tmp_path: Path, signum: int
) -> None:
    await enqueue_one(dsn)
    env, mark, gate = slow_start_env(tmp_path)
    async with worker_process(dsn, [], tmp_path / "w.log", app_spec=APP, env=env) as w:
        await wait_for(mark.exists, 30, message="the worker starting")
        w.send(signum)
        await wait_for(lambda: "finishing running jobs" in w.output(), message="signal seen")
        gate.touch()  # start-up can now finish
        code = await w.wait_exit(20)
        output = w.output()
    assert code == 0, output
    assert "stopped" in output
    assert await count_states(dsn) == {"queued": 1}  # it claimed nothing
    rows = await fetch(dsn, "SELECT state FROM pgqueue.workers")
    assert [r["state"] for r in rows] == ["stopped"]


async def test_a_second_signal_during_start_up_stops_it_at_once(dsn: str, tmp_path: Path) -> None:
    await enqueue_one(dsn)
    env, mark, _gate = slow_start_env(tmp_path)
    async with worker_process(dsn, [], tmp_path / "w.log", app_spec=APP, env=env) as w:
        await wait_for(mark.exists, 30, message="the worker starting")
        w.send(signal.SIGTERM)
        await wait_for(lambda: "finishing running jobs" in w.output(), message="signal seen")
        w.send(signal.SIGTERM)  # start-up still waits: the gate never opens
        code = await w.wait_exit(10)
        output = w.output()
    assert code == 0, output
    assert "stopping now" in output
    assert await count_states(dsn) == {"queued": 1}
    assert await fetch(dsn, "SELECT state FROM pgqueue.workers") == []
