"""OpenTelemetry (pgqueue.contrib.otel, docs/tracing.md) against a real database, spans caught by
the SDK's InMemorySpanExporter: the enqueuing code's trace context is stored in jobs.metadata on
every enqueue path, each attempt is a consumer span, child of the enqueue's producer span, with
exact attributes; a retry gives one span per attempt, a rescue's next attempt says so; without
instrumentation nothing is imported."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from pgqueue import App, current_job
from pgqueue._retry import constant
from pgqueue.contrib import otel
from tests.helpers import fetch, fetchval, running_worker, wait_for
from tests.integration.test_lost_worker import mark_lost


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider
    tracer_provider.shutdown()


@pytest.fixture
def traced(app: App, provider: TracerProvider) -> App:
    otel.instrument(app, tracer_provider=provider)
    return app


def spans(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is kind]


def traceparent(span: ReadableSpan) -> str:
    assert span.context is not None
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


async def metadata(dsn: str, job_id: int) -> dict[str, Any]:
    return dict(
        json.loads(
            await fetchval(dsn, "SELECT metadata::text FROM pgqueue.jobs WHERE id = $1", job_id)
        )
    )


async def test_the_execution_span_is_a_child_of_the_enqueuers_trace(
    traced: App, dsn: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @traced.task(name="greet")
    async def greet(name: str) -> str:
        return f"hello, {name}"

    with provider.get_tracer("test").start_as_current_span("request") as request:
        job_id = await greet.enqueue("ada")
    [send] = spans(exporter, SpanKind.PRODUCER)
    assert send.name == "send greet"
    assert send.parent is not None and send.parent.span_id == request.get_span_context().span_id
    assert dict(send.attributes or {}) == {
        "messaging.system": "pgqueue",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "default",
        "pgqueue.task.name": "greet",
        "messaging.message.id": str(job_id),
    }
    # The job carries the producer span's W3C context, and nothing else.
    assert await metadata(dsn, job_id) == {"traceparent": traceparent(send)}

    await traced.worker().run(until_empty=True)
    [process] = spans(exporter, SpanKind.CONSUMER)
    assert process.name == "process greet"
    assert process.context is not None and send.context is not None
    assert process.context.trace_id == request.get_span_context().trace_id
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert dict(process.attributes or {}) == {
        "messaging.system": "pgqueue",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "default",
        "messaging.message.id": str(job_id),
        "pgqueue.task.name": "greet",
        "pgqueue.attempt.number": 1,
        "pgqueue.attempt.max": 3,
        "pgqueue.attempt.rescued": False,
        "pgqueue.attempt.outcome": "succeeded",
    }
    assert process.status.status_code is StatusCode.UNSET
    assert process.events == ()


async def test_the_tasks_own_spans_are_children_of_the_attempt_sync_and_async(
    traced: App, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("task code")

    @traced.task(name="async_step")
    async def async_step() -> None:
        with tracer.start_as_current_span("inside async"):
            pass

    @traced.task(name="sync_step")
    def sync_step() -> None:  # runs in the worker's thread pool
        with tracer.start_as_current_span("inside sync"):
            pass

    await async_step.enqueue()
    await sync_step.enqueue()
    await traced.worker().run(until_empty=True)
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    for task, inner in (("async_step", "inside async"), ("sync_step", "inside sync")):
        process = by_name[f"process {task}"].context
        parent = by_name[inner].parent
        assert process is not None and parent is not None
        assert parent.span_id == process.span_id, task


async def test_a_failed_then_retried_job_gives_one_span_per_attempt(
    traced: App, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @traced.task(name="flaky", max_attempts=3, retry=constant(0))
    async def flaky() -> str:
        if current_job().attempt == 1:
            raise RuntimeError("the first attempt fails")
        return "ok"

    with provider.get_tracer("test").start_as_current_span("request"):
        job_id = await flaky.enqueue()
    await traced.worker().run(until_empty=True)
    [send] = spans(exporter, SpanKind.PRODUCER)
    first, second = sorted(
        spans(exporter, SpanKind.CONSUMER),
        key=lambda s: (s.attributes or {})["pgqueue.attempt.number"],
    )
    for span in (first, second):
        assert span.parent is not None and send.context is not None
        assert span.parent.span_id == send.context.span_id
        assert (span.attributes or {})["messaging.message.id"] == str(job_id)
    assert dict(first.attributes or {}) == {
        **dict(second.attributes or {}),
        "pgqueue.attempt.number": 1,
        "pgqueue.attempt.outcome": "retry",
        "pgqueue.attempt.retry_in": 0.0,
        "pgqueue.attempt.error_kind": "exception",
        "error.type": "RuntimeError",
    }
    assert (first.status.status_code, first.status.description) == (
        StatusCode.ERROR,
        "the first attempt fails",
    )
    [event] = first.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "RuntimeError"
    assert (event.attributes or {})["exception.message"] == "the first attempt fails"
    assert (second.attributes or {})["pgqueue.attempt.number"] == 2
    assert (second.attributes or {})["pgqueue.attempt.outcome"] == "succeeded"
    assert second.status.status_code is StatusCode.UNSET
    assert second.events == ()


async def test_the_last_failed_attempt_is_dead_with_the_error_recorded(
    traced: App, exporter: InMemorySpanExporter
) -> None:
    @traced.task(name="doomed", max_attempts=1)
    async def doomed() -> None:
        raise ValueError("no way")

    await doomed.enqueue()
    await traced.worker().run(until_empty=True)
    [span] = spans(exporter, SpanKind.CONSUMER)
    attributes = dict(span.attributes or {})
    assert (attributes["pgqueue.attempt.outcome"], attributes["error.type"]) == (
        "dead",
        "ValueError",
    )
    assert attributes["pgqueue.attempt.error_kind"] == "exception"
    assert "pgqueue.attempt.retry_in" not in attributes
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


async def test_a_rescued_job_shows_the_given_up_attempt_and_the_rescued_one(
    traced: App, dsn: str, exporter: InMemorySpanExporter
) -> None:
    """The worker was declared lost while running attempt 1 and the job rescued; the worker
    claims it again: attempt 1's span ends "superseded", attempt 2's says it was rescued."""
    started: list[int] = []

    @traced.task(name="long")
    async def long() -> str:
        started.append(current_job().attempt)
        if current_job().attempt == 1:
            await asyncio.sleep(60)
        return "done"

    async with running_worker(traced, heartbeat_interval=30, heartbeat_ttl=60) as worker:
        job_id = await long.enqueue()
        await wait_for(lambda: started == [1], message="the first attempt running")
        await mark_lost(dsn, worker.id)
        assert await traced.repository.rescue_jobs() == {job_id: "queued"}
        assert (await metadata(dsn, job_id))["pgqueue.lost_attempt"] == 1
        await traced.repository.heartbeat(worker._worker_row())
        assert await traced.result(job_id, timeout=15, poll_interval=0.2) == "done"
        await wait_for(lambda: len(spans(exporter, SpanKind.CONSUMER)) == 2, message="two spans")
    given_up, rescued = sorted(
        spans(exporter, SpanKind.CONSUMER),
        key=lambda s: (s.attributes or {})["pgqueue.attempt.number"],
    )
    assert (given_up.attributes or {})["pgqueue.attempt.outcome"] == "superseded"
    assert (given_up.attributes or {})["pgqueue.attempt.rescued"] is False
    assert given_up.status.status_code is StatusCode.UNSET
    assert (rescued.attributes or {})["pgqueue.attempt.number"] == 2
    assert (rescued.attributes or {})["pgqueue.attempt.rescued"] is True
    assert (rescued.attributes or {})["pgqueue.attempt.outcome"] == "succeeded"
    assert [(e.name, dict(e.attributes or {})) for e in rescued.events] == [
        ("pgqueue.previous_attempt_lost", {"pgqueue.attempt.number": 1})
    ]
    assert given_up.context is not None and rescued.context is not None
    assert given_up.context.trace_id == rescued.context.trace_id


def sa_url(dsn: str, driver: str) -> str:
    return dsn.replace("postgresql://", f"postgresql+{driver}://", 1)


async def test_every_enqueue_path_stores_the_trace_context(
    traced: App, dsn: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @traced.task(name="noop")
    async def noop(n: int) -> None: ...

    with provider.get_tracer("test").start_as_current_span("request") as request:
        ids = [await noop.enqueue(0), await traced.enqueue("noop", [1])]
        ids += await traced.enqueue_many([noop.job(2), noop.job(3)])
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                ids.append(await noop.using(connection=conn).enqueue(4))
        finally:
            await conn.close()
        engine = create_async_engine(sa_url(dsn, "asyncpg"), poolclass=NullPool)
        async with engine.begin() as sa_async:
            ids.append(await noop.using(connection=sa_async).enqueue(5))
        await engine.dispose()
        sync_engine = sa.create_engine(sa_url(dsn, "psycopg"), poolclass=NullPool)
        with sync_engine.begin() as sa_sync:
            ids.append(noop.using(connection=sa_sync).enqueue_sync(6))
        sync_engine.dispose()
    sends = spans(exporter, SpanKind.PRODUCER)
    assert len(sends) == 6  # one per enqueue call: the batch of two is one span
    [batch] = [s for s in sends if "messaging.batch.message_count" in (s.attributes or {})]
    assert dict(batch.attributes or {})["messaging.batch.message_count"] == 2
    assert list(dict(batch.attributes or {})["pgqueue.batch.job_ids"]) == ids[2:4]
    expected = [traceparent(s) for s in sends[:2]] + [traceparent(batch)] * 2
    expected += [traceparent(s) for s in sends[3:]]
    assert [(await metadata(dsn, i))["traceparent"] for i in ids] == expected
    for send in sends:
        assert send.context is not None
        assert send.context.trace_id == request.get_span_context().trace_id


async def test_a_jobs_own_metadata_wins_over_the_instrumentations(
    traced: App, dsn: str, provider: TracerProvider
) -> None:
    """Keys the hooks add go under the job's own: an explicit traceparent is kept, the others
    are added."""

    @traced.task(name="explicit")
    async def explicit() -> None: ...

    own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    job = dataclasses.replace(explicit.job(), metadata={"traceparent": own, "tenant": "t1"})
    with provider.get_tracer("test").start_as_current_span("request"):
        [job_id, plain_id] = await traced.enqueue_many([job, explicit.job()])
    assert await metadata(dsn, job_id) == {"traceparent": own, "tenant": "t1"}
    assert (await metadata(dsn, plain_id))["traceparent"] != own


async def test_a_sql_caller_passes_the_trace_context_explicitly(
    traced: App, dsn: str, exporter: InMemorySpanExporter
) -> None:
    @traced.task(name="from_sql")
    async def from_sql() -> None: ...

    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    carrier = {"traceparent": parent, "tracestate": "k=v"}
    batch_id = await fetchval(
        dsn,
        "SELECT id FROM pgqueue.enqueue_many($1::jsonb)",
        json.dumps([{"task": "from_sql", "metadata": carrier}]),
    )
    one_id = await fetchval(
        dsn, "SELECT pgqueue.enqueue('from_sql', metadata => $1::jsonb)", json.dumps(carrier)
    )
    await traced.worker().run(until_empty=True)
    processed = spans(exporter, SpanKind.CONSUMER)
    assert sorted((s.attributes or {})["messaging.message.id"] for s in processed) == sorted(
        [str(batch_id), str(one_id)]
    )
    for process in processed:
        assert process.context is not None and process.parent is not None
        assert f"{process.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
        assert f"{process.parent.span_id:016x}" == "b7ad6b7169203331"
        assert process.context.trace_state.get("k") == "v"


async def test_metadata_that_is_not_an_object_is_refused_naming_the_job(dsn: str) -> None:
    with pytest.raises(
        asyncpg.InvalidParameterValueError, match='job #2 has "metadata" that is not a JSON object'
    ):
        await fetch(
            dsn,
            "SELECT * FROM pgqueue.enqueue_many($1::jsonb)",
            json.dumps([{"task": "a"}, {"task": "b", "metadata": ["traceparent"]}]),
        )
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


async def test_a_failing_instrumentation_loses_no_job(
    app: App, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises is logged and skipped: the job is written and runs."""
    from pgqueue import EnqueueCall, Instrumentation, JobAttempt

    class Broken(Instrumentation):
        def enqueue(self, call: EnqueueCall) -> Any:
            raise RuntimeError("broken on enqueue")

        def attempt(self, attempt: JobAttempt) -> Any:
            raise RuntimeError("broken on attempt")

    app.instrument(Broken())

    @app.task(name="fine")
    async def fine() -> int:
        return 1

    job_id = await fine.enqueue()
    await app.worker().run(until_empty=True)
    assert (
        await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id) == "succeeded"
    )
    messages = [r.getMessage() for r in caplog.records if r.name == "pgqueue"]
    assert len([m for m in messages if "failed on entry: skipped" in m]) == 2


def test_without_instrumentation_nothing_imports_opentelemetry(dsn: str) -> None:
    """Enqueue and a worker run with no instrumentation: opentelemetry is never imported, and the
    job's metadata is empty."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pgqueue import App

        app = App({dsn!r})

        @app.task(name="plain")
        async def plain() -> int:
            return 1

        async def main() -> None:
            async with app:
                await plain.enqueue()
                await app.worker().run(until_empty=True)

        asyncio.run(main())
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
        assert loaded == [], loaded
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
