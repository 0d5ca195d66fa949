"""Metrics label cardinality is bounded whatever producers write (issue 8, item 10): task labels
only for tasks registered in the worker's app, queue labels only for the queues it serves plus a
bounded number of others, everything else under one value."""

from __future__ import annotations

from pgqueue import App
from pgqueue._metrics import MAX_OTHER_QUEUES, OTHER_QUEUES, UNKNOWN_TASK
from tests.helpers import all_finished, running_worker, wait_for


def label_sets(exposition: str, metric: str) -> set[str]:
    """The distinct label sets of `metric`'s samples (without the histogram's `le`)."""
    found = set()
    for line in exposition.splitlines():
        if line.startswith(metric + "{"):
            labels = line[len(metric) + 1 : line.index("}")]
            found.add(",".join(p for p in labels.split(",") if not p.startswith("le=")))
    return found


async def test_a_thousand_unknown_task_names_make_one_label_set(app: App, dsn: str) -> None:
    @app.task(name="known")
    async def known() -> None:
        return None

    requests = [app.request(f"junk-{n}", allow_unknown=True) for n in range(1000)]
    await app.enqueue_many([*requests, known.job()])
    async with running_worker(app, concurrency=50, metrics_port=0, metrics_host="127.0.0.1") as w:
        await wait_for(lambda: all_finished(dsn, 1001), 60, message="every job handled")
        assert w.ops.metrics is not None
        text = w.ops.metrics.exposition()
    executions = label_sets(text, "pgqueue_job_executions_total")
    assert executions == {
        f'outcome="dead",queue="default",task="{UNKNOWN_TASK}"',
        'outcome="succeeded",queue="default",task="known"',
    }
    assert label_sets(text, "pgqueue_job_duration_seconds_bucket") == {
        f'queue="default",task="{UNKNOWN_TASK}"',
        'queue="default",task="known"',
    }
    assert "junk-" not in text


async def test_a_thousand_queues_make_a_bounded_number_of_queue_label_sets(
    app: App, dsn: str
) -> None:
    requests = [
        app.request("elsewhere", queue=f"q{n:04}", delay=3600, allow_unknown=True)
        for n in range(1000)
    ]
    await app.enqueue_many(requests)
    async with running_worker(
        app, metrics_port=0, metrics_host="127.0.0.1", metrics_interval=0.1
    ) as worker:
        metrics = worker.ops.metrics
        assert metrics is not None
        await wait_for(
            lambda: f'queue="{OTHER_QUEUES}"' in metrics.exposition(),
            message="queue depth exported",
        )
        text = metrics.exposition()
    queues = {s.split(",")[0] for s in label_sets(text, "pgqueue_queue_jobs")}
    # The served queue is not in the view (no jobs in it); others: the largest by name order,
    # then one label for the rest.
    assert len(queues) == MAX_OTHER_QUEUES + 1, sorted(queues)
    assert f'queue="{OTHER_QUEUES}"' in queues
    assert len(label_sets(text, "pgqueue_queue_jobs")) <= 5 * (MAX_OTHER_QUEUES + 2)
    rest = f'pgqueue_queue_jobs{{queue="{OTHER_QUEUES}",state="scheduled"}} '
    [line] = [line for line in text.splitlines() if line.startswith(rest)]
    assert float(line[len(rest) :]) == 1000 - MAX_OTHER_QUEUES
