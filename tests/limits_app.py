"""The app the flow-control fault test runs in a real worker process
(`python -m pgqueue worker tests.limits_app:app`): one task limited to one job at a time, held at
its start until a gate file exists (tests/fault_app.py's runs file and gate)."""

from __future__ import annotations

import asyncio

from pgqueue import App, current_job
from tests.fault_app import gate_open, record_run


def build_app(dsn: str | None = None) -> App:
    app = App(dsn)

    @app.task(name="one_at_a_time", concurrency_limit=1)
    async def one_at_a_time(runs: str, gate: str | None = None) -> int:
        ctx = current_job()
        record_run(runs, ctx.job_id, ctx.attempt)
        while gate is not None and not gate_open(gate):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        record_run(runs, ctx.job_id, ctx.attempt, "end")
        return ctx.job_id

    return app


app = build_app()
