"""One LISTEN connection per App (`Listener`), kept alive: health-checked, reconnected with
backoff; result waiters, progress watchers and the worker subscribe to it.

NOTIFY is only a wake-up hint. After every (re)connect the listener tells its subscribers
(`on_connect`), because notifications sent while it was away are lost and they must poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from pgqueue._backoff import Backoff
from pgqueue._repository import connect
from pgqueue._waits import wait_event

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


@dataclass(eq=False)
class Subscription:
    """One subscriber's channels and callbacks. `listening` is set while every one of its
    channels is LISTENed on the current connection (cleared when the connection is lost)."""

    channels: tuple[str, ...]
    callback: Callback
    on_connect: Callable[[], None] | None
    listening: asyncio.Event = field(default_factory=asyncio.Event)


class Listener:
    """The one LISTEN connection of an App, kept alive (health-checked, reconnected with backoff).

    Result waiters, progress watchers and the worker subscribe to the channels they need
    (pgqueue/_channels.py); the connection LISTENs on the union of them, opens with the first
    subscription and closes with the last. After every (re)connect each subscriber's
    `on_connect` runs, because notifications sent while the connection was away are lost and
    subscribers must read the table again. A callback gets `(channel, payload)`; a payload is a
    hint only."""

    def __init__(
        self, dsn: str | None, *, health_interval: float = 5.0, health_timeout: float = 5.0
    ) -> None:
        self.dsn = dsn
        self.health_interval = health_interval
        self.health_timeout = health_timeout
        self.connected = asyncio.Event()
        self._subscriptions: list[Subscription] = []
        self._listened: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._attention = asyncio.Event()  # a new channel to LISTEN on, or the connection lost

    @property
    def is_connected(self) -> bool:
        return self.connected.is_set()

    def subscribe(
        self,
        channels: tuple[str, ...],
        callback: Callback,
        *,
        on_connect: Callable[[], None] | None = None,
    ) -> Subscription:
        """Start hearing `channels`; returns at once (await `listening` to know it is heard)."""
        subscription = Subscription(channels, callback, on_connect)
        self._subscriptions.append(subscription)
        self._attention.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pgqueue-listener")
        elif set(channels) <= self._listened and self.connected.is_set():
            subscription.listening.set()
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Stop calling `subscription`; the last one out closes the connection."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        subscription.listening.clear()
        if not self._subscriptions:
            await self.close()

    async def close(self) -> None:
        self._subscriptions.clear()
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close()

    def _on_notification(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for subscription in list(self._subscriptions):
            if channel in subscription.channels:
                try:
                    subscription.callback(channel, payload)
                except Exception:
                    logger.exception("notification handler failed", extra={"channel": channel})

    def _on_termination(self, _conn: Any) -> None:
        self._lost.set()
        self._attention.set()

    async def _close(self) -> None:
        self.connected.clear()
        self._listened.clear()
        for subscription in self._subscriptions:
            subscription.listening.clear()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def _listen_wanted(self, conn: asyncpg.Connection) -> None:
        """LISTEN on every subscribed channel not yet heard; mark the subscriptions heard."""
        self._attention.clear()
        for subscription in list(self._subscriptions):
            for channel in subscription.channels:
                if channel not in self._listened:
                    await conn.add_listener(channel, self._on_notification)
                    self._listened.add(channel)
        for subscription in self._subscriptions:
            if self._listened.issuperset(subscription.channels):
                subscription.listening.set()

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                conn = await connect(self.dsn, timeout=self.health_timeout)
                self._conn = conn
                self._lost.clear()
                conn.add_termination_listener(self._on_termination)
                await self._listen_wanted(conn)
                self.connected.set()
                if backoff.attempt:
                    logger.info("listener reconnected", extra={"channels": sorted(self._listened)})
                backoff.reset()
                for subscription in list(self._subscriptions):
                    if subscription.on_connect is not None:
                        subscription.on_connect()
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
        """Return when the connection is lost; LISTEN on channels subscribed meanwhile; a
        SELECT 1 catches silently dead networks. Only this task uses the connection."""
        while True:
            with contextlib.suppress(TimeoutError):
                await wait_event(self._attention, self.health_interval)
            if self._lost.is_set() or conn.is_closed():
                raise OSError("LISTEN connection closed")
            if self._attention.is_set():
                await self._listen_wanted(conn)
                continue
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self.health_timeout)
            except TimeoutError as exc:
                raise OSError("LISTEN connection health check timed out") from exc
