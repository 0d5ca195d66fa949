"""wait_event keeps a cancellation that arrives together with the event (asyncio.wait_for on
Python 3.11 loses it, and a loop cancelled at shutdown then runs on forever)."""

from __future__ import annotations

import asyncio

import pytest

from pgqueue._waits import wait_event


async def test_a_cancel_arriving_with_the_event_is_not_lost() -> None:
    event = asyncio.Event()
    waiter = asyncio.create_task(wait_event(event, 60))
    await asyncio.sleep(0)  # the waiter is parked on the event
    event.set()
    waiter.cancel()  # same loop iteration as the set(): the race wait_for loses
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_it_says_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True
    assert await wait_event(event, None) is True
