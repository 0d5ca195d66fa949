"""The worker's Prometheus endpoint: executions by task and outcome, durations, active jobs,
queue depth and lag. Each worker has its own registry, so two run side by side here."""

from __future__ import annotations

import asyncio
import urllib.request

from pgqueue import App, Retry, current_job
from tests.helpers import all_finished, wait_for


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{want}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


def make_app(dsn: str, gate: asyncio.Event) -> App:
    app = App(dsn)

    @app.task(name="ok")
    async def ok() -> None:
        return None

    @app.task(name="flaky", max_attempts=2)
    async def flaky() -> None:
        if current_job().attempt == 1:
            raise Retry(delay=0)
        raise RuntimeError("still broken")

    @app.task(name="slow")
    async def slow() -> None:
        await gate.wait()

    return app


async def test_job_and_queue_metrics(dsn: str) -> None:
    gate = asyncio.Event()
    app = make_app(dsn, gate)
    other = make_app(dsn, gate)
    worker = app.worker(metrics_port=0, metrics_host="127.0.0.1", metrics_interval=0.1)
    second = other.worker(metrics_port=0, metrics_host="127.0.0.1", queues=("nothing",))
    try:
        await worker.start()
        await second.start()
        assert worker.ops.metrics_port and second.ops.metrics_port
        assert worker.ops.metrics_port != second.ops.metrics_port
        for _ in range(3):
            await app.enqueue("ok")
        await app.enqueue("flaky")
        await wait_for(lambda: all_finished(dsn, 4), message="jobs to finish")
        slow_id = await app.enqueue("slow")
        await app.enqueue("ok", queue="later", delay=3600)

        async def scraped_state() -> bool:
            text = await asyncio.to_thread(scrape, worker.ops.metrics_port or 0)
            return (
                sample(text, "pgqueue_jobs_active") == 1.0
                and sample(text, "pgqueue_queue_jobs", queue="default", state="running") == 1.0
                and sample(text, "pgqueue_queue_jobs", queue="later", state="scheduled") == 1.0
            )

        await wait_for(scraped_state, message="active job and queue depth in the metrics")
        text = await asyncio.to_thread(scrape, worker.ops.metrics_port)
        executions = "pgqueue_job_executions_total"
        assert sample(text, executions, task="ok", queue="default", outcome="succeeded") == 3.0
        assert sample(text, executions, task="flaky", queue="default", outcome="retrying") == 1.0
        assert sample(text, executions, task="flaky", queue="default", outcome="dead") == 1.0
        assert sample(text, "pgqueue_job_duration_seconds_count", task="ok", queue="default") == 3
        assert sample(text, "pgqueue_queue_jobs", queue="default", state="dead") == 1.0
        assert sample(text, "pgqueue_queue_lag_seconds", queue="default") == 0.0
        # The other worker ran nothing: its own registry has no executions.
        other_text = await asyncio.to_thread(scrape, second.ops.metrics_port or 0)
        assert executions + "{" not in other_text
        gate.set()
        await app.result(slow_id, timeout=10)
    finally:
        gate.set()
        await worker.stop()
        await second.stop()
        await app.close()
        await other.close()
