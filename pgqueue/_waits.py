"""Waiting on an event with a deadline, without losing a cancellation.

Python 3.11's `asyncio.wait_for(event.wait(), t)` can swallow a `cancel()` that arrives in the
same loop iteration as the event being set: the waiter returns normally and the cancellation is
gone, so a background loop cancelled at shutdown runs on and `gather()` waits forever (seen: the
maintenance loop, when leadership was taken as the worker stopped). `asyncio.timeout()` re-raises
the cancellation in that case.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until `event` is set or `timeout` seconds pass; True if it was set."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
