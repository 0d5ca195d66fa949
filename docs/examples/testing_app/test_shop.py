"""The shop's tests, with pgqueue's testing kit (fixtures from its pytest plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from shop import app, place_order, send_confirmation

from pgqueue import App
from pgqueue.testing import (
    Performer,
    assert_enqueued,
    drain,
    perform,
    refute_enqueued,
    use_database,
)


@pytest.fixture
async def shop_app(pgqueue_dsn: str) -> AsyncIterator[App]:
    """The application's own App, on this test's fresh database."""
    async with use_database(app, pgqueue_dsn) as opened:
        yield opened


@pytest.fixture
async def conn(pgqueue_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pgqueue_dsn)
    await conn.execute("CREATE TABLE orders (id int PRIMARY KEY, email text NOT NULL)")
    yield conn
    await conn.close()


async def test_the_task_on_its_own() -> None:
    # No database: arguments and result go through the same JSON as in production.
    assert await perform(send_confirmation, 7, "ada@example.com") == {
        "order": 7,
        "to": "ada@example.com",
        "attempt": 1,
    }
    performer = Performer(attempt=5)  # its last attempt
    result = await performer.perform(send_confirmation, 7, "ada@example.com")
    assert result["attempt"] == 5
    assert [p.message for p in performer.progress] == ["sent to ada@example.com"]


async def test_an_order_enqueues_its_email(shop_app: App, conn: asyncpg.Connection) -> None:
    await place_order(conn, 1, "ada@example.com")
    await assert_enqueued(shop_app, send_confirmation, args=[1, "ada@example.com"], count=1)


async def test_a_failed_order_enqueues_nothing(shop_app: App, conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO orders (id, email) VALUES (1, 'first@example.com')")
    with pytest.raises(asyncpg.UniqueViolationError):
        await place_order(conn, 1, "ada@example.com")  # the same id: the transaction fails
    await refute_enqueued(shop_app, send_confirmation)


async def test_orders_get_their_emails(shop_app: App, conn: asyncpg.Connection) -> None:
    await place_order(conn, 1, "ada@example.com")
    await place_order(conn, 2, "eve@example.com")
    done = await drain(shop_app)  # a real worker, in-process, until nothing is left
    assert done.counts == {"succeeded": 2}
    assert [job.result["to"] for job in done.jobs] == ["ada@example.com", "eve@example.com"]
