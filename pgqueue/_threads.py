"""The threads sync tasks run in: a pool that replaces a thread its attempt gave up on.

Python cannot stop a thread. A sync task that runs past its timeout (or is cancelled) is
recorded as ended, but its thread runs on until the function returns, if ever. In a plain
ThreadPoolExecutor that thread stays one of the pool's `size`: a few hung tasks hold every
thread, and the sync jobs claimed after them never start. Here the thread of a given-up attempt
is *abandoned* instead: it no longer counts against `size`, a new thread takes its place at
once, and it exits as soon as its function returns. `abandoned` says how many such threads
still run; the worker stops claiming when it reaches `max_abandoned_threads`, which bounds the
threads a worker can accumulate (docs/tasks.md, "Sync tasks and the thread pool").
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class _Work:
    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]


def _at_interpreter_exit(pool: SyncThreads) -> None:
    """Idle threads must not keep a process from exiting when nobody shut the pool down: at
    interpreter exit they get their stop signs, as ThreadPoolExecutor's do (through the same
    hook, which runs before Python waits for its threads); threads at work are still waited for."""
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - every CPython since 3.9 has it
        return
    reference = weakref.ref(pool)

    def stop_idle_threads() -> None:
        alive = reference()
        if alive is not None:
            alive.shutdown(wait=False)

    register(stop_idle_threads)


class SyncThreads(Executor):
    """At most `size` threads at work, plus the abandoned ones that have not returned yet.
    `on_abandoned_exit` is called (from that thread) when an abandoned thread ends."""

    def __init__(
        self,
        size: int,
        *,
        name: str = "pgqueue-sync",
        on_abandoned_exit: Callable[[], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a thread pool needs at least one thread")
        self.size = size
        self.name = name
        self.on_abandoned_exit = on_abandoned_exit
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        # One lock for every piece of state below, and for starting and giving up a future:
        # a future is never seen running without its thread recorded.
        self._lock = threading.Lock()
        self._idle = threading.Semaphore(0)  # threads waiting for work (as ThreadPoolExecutor)
        self._counted: set[threading.Thread] = set()  # the threads that count against size
        self._abandoned: set[threading.Thread] = set()
        self._running: dict[Future[Any], threading.Thread] = {}
        self._started = 0
        self._shutdown = False
        _at_interpreter_exit(self)

    @property
    def abandoned(self) -> int:
        """Threads still running a function whose attempt was given up."""
        return len(self._abandoned)

    @property
    def threads(self) -> int:
        """Threads alive: those at work or idle, and the abandoned ones."""
        with self._lock:
            return len(self._counted) + len(self._abandoned)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if kwargs:
            raise TypeError("SyncThreads.submit takes positional arguments only")
        future: Future[Any] = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._work.put(_Work(future, fn, args))
            self._add_thread_if_needed()
        return future

    def give_up(self, future: Future[Any]) -> bool:
        """The attempt no longer waits for `future`. Work that has not started never will; work
        that runs keeps its thread, which is abandoned and replaced. True if one was."""
        with self._lock:
            if future.cancel():
                return False
            thread = self._running.get(future)
            if thread is None or thread in self._abandoned:
                return False  # finished meanwhile, or given up already
            self._abandoned.add(thread)
            self._counted.discard(thread)
            if not self._work.empty():
                self._add_thread_if_needed()
        return True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        work = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if work is not None:
                        work.future.cancel()
            counted = list(self._counted)
            for _ in counted:
                self._work.put(None)  # one stop sign per thread that takes work
        if wait:
            for thread in counted:
                thread.join()

    def _add_thread_if_needed(self) -> None:
        # With the lock held. An idle thread will take the work; else start one if allowed.
        if self._idle.acquire(timeout=0):
            return
        if len(self._counted) < self.size:
            self._started += 1
            thread = threading.Thread(target=self._serve, name=f"{self.name}-{self._started}")
            self._counted.add(thread)
            thread.start()

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            work = self._work.get()
            if work is None:
                return
            future = work.future
            with self._lock:
                if not future.set_running_or_notify_cancel():
                    self._idle.release()  # given up before it started: take the next one
                    continue
                self._running[future] = me
            try:
                result = work.fn(*work.args)
            except BaseException as exc:  # a task's SystemExit is its job's failure
                future.set_exception(exc)
            else:
                future.set_result(result)
            del work
            with self._lock:
                del self._running[future]
                abandoned = me in self._abandoned
                self._abandoned.discard(me)
                if not abandoned:
                    self._idle.release()
            if abandoned:
                # A replacement took this thread's place when its attempt was given up.
                if self.on_abandoned_exit is not None:
                    self.on_abandoned_exit()
                return
