"""OpenTelemetry tracing: each enqueue call a producer span whose W3C trace context (traceparent,
tracestate) every job it writes carries in jobs.metadata, and each attempt a worker runs a
consumer span, child of that context, so an attempt, its retries and a rescue's next attempt
sit in the trace of the code that enqueued the job (docs/tracing.md).

    pip install "pgqueue[otel]"        # opentelemetry-api; the application brings the SDK

    from pgqueue.contrib import otel
    otel.instrument(app)               # before building workers

The only module of pgqueue that imports opentelemetry (an import-linter contract holds it): the
core offers library-neutral hooks (pgqueue.Instrumentation) and this module plugs into them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pgqueue import App, EnqueueCall, Instrumentation, JobAttempt, __version__

__all__ = ["Tracing", "instrument"]

SYSTEM = "pgqueue"  # messaging.system
# The outcomes of a failed attempt: the span's status is ERROR (an interrupted, cancelled or
# superseded attempt did not fail: its outcome attribute says how it ended).
FAILED = frozenset({"retry", "dead"})


def instrument(
    app: App,
    *,
    tracer_provider: TracerProvider | None = None,
    propagator: TextMapPropagator | None = None,
) -> Tracing:
    """Trace `app`'s enqueue calls and its workers' attempts; returns the Tracing added.
    `tracer_provider`: the global one unless given; `propagator`: W3C Trace Context unless
    given (what is written into each job's metadata and read back by the worker)."""
    tracing = Tracing(tracer_provider=tracer_provider, propagator=propagator)
    app.instrument(tracing)
    return tracing


class Tracing(Instrumentation):
    """The spans (names and attributes in docs/tracing.md)."""

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        self.tracer = trace.get_tracer("pgqueue", __version__, tracer_provider=tracer_provider)
        self.propagator = propagator or TraceContextTextMapPropagator()

    @contextlib.contextmanager
    def enqueue(self, call: EnqueueCall) -> Iterator[None]:
        tasks = sorted({job.task for job in call.jobs})
        queues = sorted({job.queue for job in call.jobs})
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "pgqueue.task.name": tasks[0] if len(tasks) == 1 else tasks,
            "messaging.destination.name": queues[0] if len(queues) == 1 else queues,
        }
        if len(call.jobs) != 1:
            attributes["messaging.batch.message_count"] = len(call.jobs)
        name = f"send {tasks[0]}" if len(tasks) == 1 else "send"
        with self.tracer.start_as_current_span(
            name, kind=SpanKind.PRODUCER, attributes=attributes
        ) as span:
            carrier: dict[str, str] = {}
            self.propagator.inject(carrier)  # the context of this producer span
            call.metadata.update(carrier)
            yield
            if len(call.ids) == 1:
                span.set_attribute("messaging.message.id", str(call.ids[0]))
            elif call.ids:
                span.set_attribute("pgqueue.batch.job_ids", call.ids)

    @contextlib.contextmanager
    def attempt(self, attempt: JobAttempt) -> Iterator[None]:
        parent = self.propagator.extract(_carrier(attempt.metadata))
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": attempt.queue,
            "messaging.message.id": str(attempt.job_id),
            "pgqueue.task.name": attempt.task,
            "pgqueue.attempt.number": attempt.attempt,
            "pgqueue.attempt.max": attempt.max_attempts,
            "pgqueue.attempt.rescued": attempt.rescued,
        }
        # The span says how the attempt ended itself: an error escaping the body (a cancelled,
        # superseded attempt) is not a failure of the job.
        with self.tracer.start_as_current_span(
            f"process {attempt.task}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if attempt.rescued:
                span.add_event(
                    "pgqueue.previous_attempt_lost", {"pgqueue.attempt.number": attempt.attempt - 1}
                )
            try:
                yield
            finally:
                _ended(span, attempt)


def _carrier(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The job's metadata as a propagator reads it: string values only (a SQL caller may store
    anything)."""
    return {key: value for key, value in metadata.items() if isinstance(value, str)}


def _ended(span: Span, attempt: JobAttempt) -> None:
    span.set_attribute("pgqueue.attempt.outcome", attempt.outcome or "interrupted")
    if attempt.retry_in is not None:
        span.set_attribute("pgqueue.attempt.retry_in", attempt.retry_in)
    if attempt.outcome not in FAILED:
        return
    error = attempt.error
    error_type = type(error).__qualname__ if error is not None else attempt.error_kind
    span.set_attribute("error.type", error_type or "unknown")
    if attempt.error_kind is not None:
        span.set_attribute("pgqueue.attempt.error_kind", attempt.error_kind)
    if error is not None:
        span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, attempt.error_message or str(error or "")))
