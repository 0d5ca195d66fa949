"""`pgqueue worker --processes N`: keep N worker processes running.

Children run in their own session, so a Ctrl-C in a terminal reaches only the supervisor, which
forwards each signal once: the first asks the children for a graceful stop, a second for an
immediate one. A child that dies unexpectedly is restarted; if children keep dying (more than
`max_restarts` within `window` seconds) the supervisor stops the rest and exits non-zero.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from types import FrameType

logger = logging.getLogger("pgqueue.supervisor")

PROCESS_INDEX_ENV = "PGQUEUE_PROCESS_INDEX"


class Supervisor:
    def __init__(
        self,
        child_argv: Sequence[str],
        processes: int,
        *,
        max_restarts: int = 5,
        window: float = 60.0,
        poll_interval: float = 0.2,
    ) -> None:
        self.child_argv = list(child_argv)
        self.processes = processes
        self.max_restarts = max_restarts
        self.window = window
        self.poll_interval = poll_interval
        self.children: list[subprocess.Popen[bytes]] = []
        self._signals: list[int] = []
        self._restarts: deque[float] = deque()
        self._gave_up = False

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        # The index lets per-process resources differ (e.g. metrics port = --metrics-port + index).
        env = {**os.environ, PROCESS_INDEX_ENV: str(index)}
        child = subprocess.Popen(self.child_argv, start_new_session=True, env=env)
        logger.info("started worker process %d", child.pid)
        if self._signals:
            # A signal that arrived while this child was being started was not forwarded to it.
            child.send_signal(self._signals[-1])
        return child

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signum)

    def _alive(self) -> list[subprocess.Popen[bytes]]:
        return [c for c in self.children if c.poll() is None]

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.children = [self._spawn(i) for i in range(self.processes)]
        while True:
            stopping = bool(self._signals) or self._gave_up
            if not stopping:
                for index, child in enumerate(self.children):
                    code = child.poll()
                    if code is None:
                        continue
                    if not self._may_restart():
                        logger.error(
                            "worker processes keep dying (%d restarts in %.0fs): giving up",
                            self.max_restarts,
                            self.window,
                        )
                        self._gave_up = True
                        for other in self._alive():
                            other.send_signal(signal.SIGTERM)
                        break
                    logger.warning("worker process %d exited with %s: restarting", child.pid, code)
                    self.children[index] = self._spawn(index)
            elif not self._alive():
                break
            time.sleep(self.poll_interval)
        codes = [c.returncode for c in self.children]
        if self._gave_up:
            return 1
        return 0 if all(code == 0 for code in codes) else 1

    def _may_restart(self) -> bool:
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self.window:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            return False
        self._restarts.append(now)
        return True


def child_command(argv: Sequence[str]) -> list[str]:
    """This command line run as one worker process (a later --processes overrides the first)."""
    return [sys.executable, "-m", "pgqueue", *argv, "--processes", "1"]
