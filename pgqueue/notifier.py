"""LISTEN on a dedicated connection, kept alive: health-checked, reconnected with backoff.

NOTIFY is only a wake-up hint. After every (re)connect the notifier tells its subscribers
(`on_connect`), because notifications sent while it was away are lost and they must poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from pgqueue.backoff import Backoff
from pgqueue.repository import connect
from pgqueue.waits import wait_event

logger = logging.getLogger("pgqueue.notifier")

Callback = Callable[[str, str], None]

# A job id in a payload: bigint, so at most 19 ASCII digits (int() of a longer string may raise).
_MAX_ID_DIGITS = 19


def job_ids(payload: str) -> list[int]:
    """The job ids in a notification payload ("17" or "17,18,19"); anything else is ignored.
    Payloads come from anyone who can connect, so this never raises."""
    return [
        int(part)
        for part in payload.split(",")
        if part.isascii() and part.isdigit() and len(part) <= _MAX_ID_DIGITS
    ]


class Coalesced:
    """Runs `action` when poked, at most once per `interval` seconds: pokes that arrive while it
    runs or waits fold into one more run. For work a notification asks for, since anyone who can
    connect may send notifications: a flood of them costs one run per interval."""

    def __init__(self, action: Callable[[], Awaitable[None]], interval: float) -> None:
        self.action = action
        self.interval = interval
        self._poked = asyncio.Event()

    def poke(self) -> None:
        self._poked.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._poked.wait()
            self._poked.clear()
            started = loop.time()
            await self.action()
            await asyncio.sleep(max(0.0, started + self.interval - loop.time()))


class Notifier:
    """Keeps one LISTEN connection for a set of channels and calls `callback(channel, payload)`."""

    def __init__(
        self,
        dsn: str | None,
        channels: tuple[str, ...],
        callback: Callback,
        *,
        on_connect: Callable[[], None] | None = None,
        health_interval: float = 5.0,
        health_timeout: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.channels = channels
        self.callback = callback
        self.on_connect = on_connect
        self.health_interval = health_interval
        self.health_timeout = health_timeout
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()

    @property
    def is_connected(self) -> bool:
        return self.connected.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pgqueue-notifier")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def wait_connected(self, timeout: float | None = None) -> bool:
        return await wait_event(self.connected, timeout)

    def _on_notification(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        try:
            self.callback(channel, payload)
        except Exception:
            logger.exception("notification handler failed", extra={"channel": channel})

    def _on_termination(self, _conn: Any) -> None:
        self._lost.set()

    async def _close(self) -> None:
        self.connected.clear()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                conn = await connect(self.dsn, timeout=self.health_timeout)
                self._conn = conn
                self._lost.clear()
                conn.add_termination_listener(self._on_termination)
                for channel in self.channels:
                    await conn.add_listener(channel, self._on_notification)
                self.connected.set()
                if backoff.attempt:
                    logger.info("listener reconnected", extra={"channels": self.channels})
                backoff.reset()
                if self.on_connect is not None:
                    self.on_connect()
                await self._watch(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure (driver, network, a bug) means: reconnect
                delay = backoff.next_delay()
                # One line per backoff step: a flood of identical errors helps nobody.
                logger.warning(
                    "listener connection lost (%s); reconnecting in %.1fs",
                    exc,
                    delay,
                    extra={"attempt": backoff.attempt},
                )
                await self._close()
                await asyncio.sleep(delay)
            else:
                await self._close()

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Return when the connection is lost; a SELECT 1 catches silently dead networks."""
        while True:
            with contextlib.suppress(TimeoutError):
                await wait_event(self._lost, self.health_interval)
            if self._lost.is_set() or conn.is_closed():
                raise OSError("LISTEN connection closed")
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self.health_timeout)
            except TimeoutError as exc:
                raise OSError("LISTEN connection health check timed out") from exc
