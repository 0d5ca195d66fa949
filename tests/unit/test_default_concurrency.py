"""The default concurrency (issue 18 goal 3): one number, WorkerSettings().concurrency, whether a
worker comes from `app.worker()`, the environment, `pgqueue worker` or `pgqueue dev`; sync tasks
get as many threads at most, started only as they are needed (docs/worker.md, "Concurrency").
No database: workers are only constructed."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

from pgqueue import App
from pgqueue._cli import main
from pgqueue._cli.dev import _worker_settings
from pgqueue._threads import SyncThreads
from pgqueue.settings import WorkerSettings

NOWHERE = "postgresql://nobody@127.0.0.1:1/none"
DEFAULT = WorkerSettings().concurrency


@pytest.fixture(autouse=True)
def _no_pgqueue_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGQUEUE_CONCURRENCY", raising=False)
    monkeypatch.delenv("PGQUEUE_SYNC_THREADS", raising=False)


def test_the_default_is_fifty_from_every_entry_point() -> None:
    assert DEFAULT == 50
    assert WorkerSettings.from_env({}).concurrency == DEFAULT
    worker = App(NOWHERE).worker()
    assert worker.settings.concurrency == DEFAULT
    # A worker claims only its free slots (claim ahead is off): 50 jobs, never more.
    assert worker._free_slots() == DEFAULT
    assert _worker_settings((), None).concurrency == DEFAULT  # pgqueue dev without -c
    for command in ("worker", "dev"):
        help_text = CliRunner().invoke(main, [command, "--help"]).output
        assert f"Jobs run at once. Default: {DEFAULT}." in " ".join(help_text.split()), command


def test_the_environment_and_flags_still_beat_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGQUEUE_CONCURRENCY", "7")
    assert App(NOWHERE).worker().settings.concurrency == 7
    assert App(NOWHERE).worker(concurrency=3).settings.concurrency == 3
    assert _worker_settings((), None).concurrency == 7
    assert _worker_settings((), 4).concurrency == 4


def test_sync_threads_follow_concurrency_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WorkerSettings().sync_thread_limit == DEFAULT
    assert WorkerSettings(concurrency=8).sync_thread_limit == 8
    assert WorkerSettings(concurrency=8, sync_threads=2).sync_thread_limit == 2
    assert App(NOWHERE).worker(sync_threads=4).settings.sync_thread_limit == 4
    monkeypatch.setenv("PGQUEUE_SYNC_THREADS", "3")
    assert App(NOWHERE).worker().settings.sync_thread_limit == 3


def test_threads_start_only_as_sync_work_needs_them() -> None:
    """A limit of 50 is not 50 threads: one job after another runs on one thread, three at
    once on three."""
    pool = SyncThreads(DEFAULT)
    try:
        assert [pool.submit(lambda n=n: n).result(5) for n in range(20)] == list(range(20))
        assert pool.threads == 1
        together = threading.Barrier(3)
        futures = [pool.submit(together.wait, 5) for _ in range(3)]
        assert sorted(f.result(5) for f in futures) == [0, 1, 2]
        assert pool.threads == 3
    finally:
        pool.shutdown(wait=True)
