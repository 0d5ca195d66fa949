"""The sync task thread pool replaces a thread whose attempt was given up (issue 8, item 4)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from pgqueue._threads import SyncThreads


def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_threads_of_given_up_attempts_are_replaced_and_exit_when_they_return() -> None:
    release = threading.Event()
    exits: list[str] = []
    pool = SyncThreads(2, on_abandoned_exit=lambda: exits.append(threading.current_thread().name))
    try:
        started = threading.Barrier(3)

        def hang() -> str:
            started.wait(5)
            release.wait(10)
            return "late"

        hung = [pool.submit(hang), pool.submit(hang)]
        started.wait(5)
        assert [pool.give_up(f) for f in hung] == [True, True]
        assert pool.abandoned == 2
        assert pool.give_up(hung[0]) is False  # once is enough
        # Both threads still hang, yet new work runs at once on replacements.
        assert [pool.submit(lambda n=n: n * 2).result(5) for n in range(4)] == [0, 2, 4, 6]
        assert pool.threads <= 2 + 2
        release.set()
        assert [f.result(5) for f in hung] == ["late", "late"]
        wait_until(lambda: pool.abandoned == 0 and len(exits) == 2)
        assert pool.threads <= 2
    finally:
        release.set()
        pool.shutdown(wait=True)


def test_work_given_up_before_it_starts_never_runs() -> None:
    release = threading.Event()
    ran: list[int] = []
    pool = SyncThreads(1)
    try:
        busy = pool.submit(release.wait, 10)
        waiting = pool.submit(ran.append, 1)
        assert pool.give_up(waiting) is False  # not started: cancelled, no thread abandoned
        assert waiting.cancelled()
        release.set()
        busy.result(5)
        assert pool.submit(ran.append, 2).result(5) is None
        assert ran == [2] and pool.abandoned == 0
    finally:
        release.set()
        pool.shutdown(wait=True)


def test_a_finished_future_is_not_given_up_and_exceptions_reach_the_caller() -> None:
    pool = SyncThreads(1)
    try:
        done = pool.submit(lambda: 1)
        assert done.result(5) == 1
        assert pool.give_up(done) is False and pool.abandoned == 0

        def fails() -> None:
            raise SystemExit(3)

        failing = pool.submit(fails)
        assert isinstance(failing.exception(5), SystemExit)
    finally:
        pool.shutdown(wait=True)


def test_a_pool_nobody_shut_down_does_not_keep_the_process_from_exiting() -> None:
    code = (
        "from pgqueue._threads import SyncThreads\n"
        "pool = SyncThreads(2)\n"
        "assert pool.submit(lambda: 41 + 1).result(5) == 42\n"  # one idle thread left behind
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=30, capture_output=True)
    assert done.returncode == 0, done.stderr
