"""Tracing with OpenTelemetry: a job's attempts in the trace of the code that enqueued it.

    pip install "pgqueue[otel]" opentelemetry-sdk
    pgqueue migrate
    PGQUEUE_DSN=postgresql://user@host/db python docs/examples/tracing.py

Spans go to an in-memory exporter here, so the script can print them; an application exports
them with the SDK's OTLP or console exporter instead (docs/tracing.md).
"""

from __future__ import annotations

import asyncio

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pgqueue import App, constant, current_job
from pgqueue.contrib import otel

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("docs.web")

app = App()
otel.instrument(app, tracer_provider=provider)  # before building workers


@app.task(name="docs.charge", retry=constant(0))
async def charge(order_id: int) -> str:
    if current_job().attempt == 1:
        raise ConnectionError("payment gateway timed out")  # retried at once
    with tracer.start_as_current_span("call gateway"):  # a child of the attempt's span
        return f"order {order_id} charged"


async def main() -> None:
    async with app:
        with tracer.start_as_current_span("POST /orders"):  # the web request, say
            job_id = await charge.enqueue(42)
        await app.worker().run(until_empty=True)  # burst: run what is runnable, then return
        assert await app.result(job_id, timeout=0) == "order 42 charged"
    provider.shutdown()

    finished = exporter.get_finished_spans()
    assert len({span.context.trace_id for span in finished}) == 1  # one trace
    by_id = {span.context.span_id: span for span in finished}

    def depth(span: ReadableSpan) -> int:
        return 0 if span.parent is None else 1 + depth(by_id[span.parent.span_id])

    for span in sorted(finished, key=lambda s: s.start_time or 0):
        attributes = span.attributes or {}
        outcome = attributes.get("pgqueue.attempt.outcome")
        attempt = attributes.get("pgqueue.attempt.number")
        shown = f" (attempt {attempt}: {outcome})" if outcome else ""
        print(f"{'  ' * depth(span)}{span.kind.name.lower():8} {span.name}{shown}")


if __name__ == "__main__":
    asyncio.run(main())
