"""Issue 14 item 3: a worker says at start which of the app's queues it does not serve (their
jobs would otherwise wait without a word); `pgqueue status` flags them (test_ops_cli.py)."""

from __future__ import annotations

import logging

import pytest

from pgqueue import App
from tests.helpers import running_worker


async def test_worker_names_the_app_queues_it_does_not_serve(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task()
    def everyday() -> None: ...

    @app.task(queue="reports")
    def build_report() -> None: ...

    @app.task(queue="reports")
    def build_summary() -> None: ...

    @app.periodic(cron="0 3 * * *", queue="maintenance")
    @app.task(name="nightly")
    def nightly() -> None: ...

    caplog.set_level(logging.INFO, logger="pgqueue")
    async with running_worker(app) as worker:  # serves "default" only
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and "does not serve" in r.getMessage()
        ]
    assert warnings == [
        f"worker {worker.id} does not serve queue 'maintenance' (tasks nightly): its jobs wait "
        "for a worker that does (pgqueue worker --queue maintenance)",
        f"worker {worker.id} does not serve queue 'reports' (tasks {build_report.name}, "
        f"{build_summary.name}): its jobs wait for a worker that does (pgqueue worker --queue "
        "reports)",
    ]
    assert app.registry.queues(app.schedules.values()) == {
        "default": sorted([everyday.name, "nightly"]),
        "maintenance": ["nightly"],
        "reports": sorted([build_report.name, build_summary.name]),
    }


async def test_worker_serving_every_queue_says_nothing(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task(queue="reports")
    def build_report() -> None: ...

    caplog.set_level(logging.INFO, logger="pgqueue")
    async with running_worker(app, queues=("default", "reports")):
        pass
    assert not [r for r in caplog.records if "does not serve" in r.getMessage()]
