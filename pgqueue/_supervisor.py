"""`pgqueue worker --processes N`: keep N worker processes running.

Each child is `pgqueue worker ... --processes 1` in its own session, so a Ctrl-C in a terminal
reaches only the supervisor, which forwards signals.

**Serving.** A child tells the supervisor it is serving through a pipe: the supervisor passes the
write end (its number in PGQUEUE_READY_FD) and the child writes one line once its worker has
started (registered in pgqueue.workers, loops running). No database round trip: the supervisor
never connects. A child whose pipe closes without that line exited before it served.

**Crashes.** A child that exits before serving while no child has ever served means the app, the
settings or the database cannot work (a missing database, an unmigrated schema): the supervisor
stops the others and exits at once with that child's exit code (2 for bad settings, 1 for a
database error). Any other exit (a job that segfaults or calls os._exit, the OOM killer, a
replacement that cannot connect during a failover) is a crash: the child is restarted after a
backoff that doubles per consecutive crash of its slot (0 s, 0.5 s, 1 s, ... up to
`restart_backoff_max`), reset once a child has served `STABLE_AFTER` seconds. Each crash is
logged with its exit code or signal and counted. The job that killed the child is rescued by the
other workers after its heartbeat ttl and, once its attempts are used up, dead-lettered with kind
`worker_lost`, so a poison job ends by itself.

**Stopping.** The first SIGTERM/SIGINT is forwarded to every child (a graceful stop); if children
still run `shutdown_timeout + STOP_MARGIN` seconds later, the same signal is sent again (stop at
once); `KILL_GRACE` seconds after that they are killed (SIGKILL, with their process group). A
second signal from the operator skips to the immediate stop, a third to SIGKILL.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

logger = logging.getLogger("pgqueue.supervisor")

PROCESS_INDEX_ENV = "PGQUEUE_PROCESS_INDEX"
READY_FD_ENV = "PGQUEUE_READY_FD"
READY_LINE = b"serving\n"

# What a worker's stop may take beyond shutdown_timeout: cancelled jobs get 5 s to end (the
# CANCEL_GRACE of pgqueue/_attempts.py), then outcomes are written and the lease released.
STOP_MARGIN = 10.0
# After "stop at once": cancelled jobs' 5 s, then the last writes.
KILL_GRACE = 10.0
# A child that served this long before it crashed starts its slot's backoff over.
STABLE_AFTER = 60.0
RESTART_BACKOFF_BASE = 0.5
RESTART_BACKOFF_MAX = 10.0


def announce_serving() -> None:
    """In a child: tell the supervisor this worker is serving (nothing without a supervisor)."""
    raw = os.environ.pop(READY_FD_ENV, None)
    if raw is None or not raw.isdigit():
        return
    fd = int(raw)
    try:
        os.write(fd, READY_LINE)
        os.close(fd)
    except OSError:  # the supervisor is gone; nothing to tell
        pass


def describe_exit(code: int) -> str:
    """`code 1`, or `signal SIGKILL` for a child a signal ended."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


@dataclass
class _Child:
    index: int
    proc: subprocess.Popen[bytes]
    ready_fd: int | None
    started_at: float
    serving_since: float | None = None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class _Slot:
    child: _Child | None = None
    crashes: int = 0  # consecutive
    restart_at: float | None = None


@dataclass
class _Stop:
    phase: int = 0  # 0 serving, 1 graceful, 2 at once, 3 killed
    signum: int = signal.SIGTERM
    deadline: float = 0.0
    pending: list[int] = field(default_factory=list)  # signals received, not yet acted on


class Supervisor:
    def __init__(
        self,
        child_argv: Sequence[str],
        processes: int,
        *,
        shutdown_timeout: float = 30.0,
        restart_backoff_max: float = RESTART_BACKOFF_MAX,
        poll_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.child_argv = list(child_argv)
        self.processes = processes
        self.shutdown_timeout = shutdown_timeout
        self.restart_backoff_max = restart_backoff_max
        self.poll_interval = poll_interval
        self.clock = clock
        self.slots = [_Slot() for _ in range(processes)]
        self.crashes: Counter[str] = Counter()  # exit code or signal -> how many
        self.ever_served = False
        self._stop = _Stop()
        self._gave_up: int | None = None  # the exit code, once given up

    # -- children ----------------------------------------------------------------------------

    def _spawn(self, index: int) -> _Child:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        # The index lets per-process resources differ (e.g. metrics port = --metrics-port + index).
        env = {**os.environ, PROCESS_INDEX_ENV: str(index), READY_FD_ENV: str(write_fd)}
        try:
            proc = subprocess.Popen(
                self.child_argv, start_new_session=True, env=env, pass_fds=(write_fd,)
            )
        finally:
            os.close(write_fd)  # the child holds its own copy: EOF here once it exits
        child = _Child(index, proc, read_fd, self.clock())
        logger.info("started worker process %d", proc.pid)
        if self._stop.phase:
            # A stop asked while this child was being started was not forwarded to it.
            proc.send_signal(self._stop.signum)
        return child

    def _check_ready(self, child: _Child) -> None:
        if child.ready_fd is None:
            return
        try:
            data = os.read(child.ready_fd, 64)
        except BlockingIOError:
            return
        if data.startswith(READY_LINE):
            child.serving_since = self.clock()
            self.ever_served = True
        os.close(child.ready_fd)  # a line, or EOF: the child exited before it served
        child.ready_fd = None

    def _children(self) -> list[_Child]:
        return [slot.child for slot in self.slots if slot.child is not None]

    def _alive(self) -> list[_Child]:
        return [child for child in self._children() if child.alive]

    def _signal_alive(self, signum: int) -> None:
        for child in self._alive():
            try:
                if signum == signal.SIGKILL:
                    # The child's whole session: anything its jobs started goes with it.
                    os.killpg(child.proc.pid, signum)
                else:
                    child.proc.send_signal(signum)
            except ProcessLookupError:
                pass

    # -- the loop ----------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stop.pending.append(signum)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for index, slot in enumerate(self.slots):
            slot.child = self._spawn(index)
        while True:
            for child in self._children():
                self._check_ready(child)
            while self._stop.pending:
                self._escalate(self._stop.pending.pop(0), asked=True)
            if self._stop.phase:
                if not self._alive():
                    break
                if self.clock() >= self._stop.deadline:
                    self._escalate(self._stop.signum, asked=False)
            else:
                self._watch_children()
            time.sleep(self.poll_interval)
        for child in self._children():
            self._check_ready(child)
            if child.ready_fd is not None:
                os.close(child.ready_fd)
                child.ready_fd = None
        return self._exit_code()

    def _watch_children(self) -> None:
        now = self.clock()
        for index, slot in enumerate(self.slots):
            child = slot.child
            if child is not None and not child.alive:
                self._check_ready(child)  # the line may have come just before the exit
                if child.serving_since is None and not self.ever_served:
                    self._give_up(child)
                    return
                self._crashed(slot, child, now)
            if slot.child is None and slot.restart_at is not None and now >= slot.restart_at:
                slot.restart_at = None
                slot.child = self._spawn(index)

    def _crashed(self, slot: _Slot, child: _Child, now: float) -> None:
        code = child.proc.returncode
        served = None if child.serving_since is None else now - child.serving_since
        if served is not None and served >= STABLE_AFTER:
            slot.crashes = 0
        slot.crashes += 1
        self.crashes[describe_exit(code)] += 1
        delay = self._backoff(slot.crashes)
        logger.warning(
            "worker process %d exited with %s %s: restarting it in %.1fs "
            "(crash %d in a row of process %d; %d crashes in total)",
            child.proc.pid,
            describe_exit(code),
            "before it served" if served is None else f"after serving {served:.0f}s",
            delay,
            slot.crashes,
            child.index,
            sum(self.crashes.values()),
            extra={"pid": child.proc.pid, "exit": describe_exit(code)},
        )
        slot.child = None
        slot.restart_at = now + delay

    def _backoff(self, crashes_in_a_row: int) -> float:
        if crashes_in_a_row <= 1:
            return 0.0
        delay: float = RESTART_BACKOFF_BASE * 2 ** (crashes_in_a_row - 2)
        return min(self.restart_backoff_max, delay)

    def _give_up(self, child: _Child) -> None:
        code = child.proc.returncode
        logger.error(
            "worker process %d exited with %s before it started serving: giving up (the app, "
            "the settings or the database cannot work: see its error above)",
            child.proc.pid,
            describe_exit(code),
        )
        self._gave_up = code if code > 0 else 1
        self._escalate(signal.SIGTERM, asked=False)

    def _escalate(self, signum: int, *, asked: bool) -> None:
        """One step of the stop: graceful, then at once, then SIGKILL. `asked`: a signal from
        the operator (else a deadline passed, or the supervisor gave up)."""
        stop = self._stop
        for slot in self.slots:
            slot.restart_at = None  # no restarts once stopping
        alive = self._alive()
        if stop.phase == 0:
            stop.phase, stop.signum = 1, signum
            stop.deadline = self.clock() + self.shutdown_timeout + STOP_MARGIN
            self._signal_alive(signum)
        elif stop.phase == 1:
            if not asked:
                logger.warning(
                    "worker processes %s did not stop within %.0fs: sending %s again (stop at "
                    "once)",
                    _pids(alive),
                    self.shutdown_timeout + STOP_MARGIN,
                    signal.Signals(stop.signum).name,
                )
            stop.phase, stop.deadline = 2, self.clock() + KILL_GRACE
            self._signal_alive(stop.signum)
        elif stop.phase == 2:
            if alive:
                logger.error(
                    "worker processes %s did not stop%s: sending SIGKILL (their running jobs "
                    "are rescued after their heartbeat ttl)",
                    _pids(alive),
                    "" if asked else f" within {KILL_GRACE:.0f}s of the second signal",
                )
            stop.phase, stop.deadline = 3, float("inf")
            self._signal_alive(signal.SIGKILL)

    def _exit_code(self) -> int:
        if self.crashes:
            logger.info(
                "worker processes crashed %d times (%s)",
                sum(self.crashes.values()),
                ", ".join(f"{how}: {n}" for how, n in self.crashes.most_common()),
            )
        if self._gave_up is not None:
            return self._gave_up
        codes = [child.proc.returncode for child in self._children()]
        return 0 if all(code == 0 for code in codes) else 1


def _pids(children: Sequence[_Child]) -> str:
    return ", ".join(str(child.proc.pid) for child in children)


def child_command(argv: Sequence[str]) -> list[str]:
    """This command line run as one worker process (a later --processes overrides the first)."""
    return [sys.executable, "-m", "pgqueue", *argv, "--processes", "1"]
