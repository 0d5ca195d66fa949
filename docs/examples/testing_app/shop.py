"""A small application: placing an order stores it and enqueues its confirmation email in the
same transaction, so the email exists if and only if the order does."""

from __future__ import annotations

import asyncpg

from pgqueue import App, current_job

app = App()  # PGQUEUE_DSN in production; the tests point it at their own database


@app.task(queue="mail", max_attempts=5)
async def send_confirmation(order_id: int, email: str) -> dict[str, object]:
    await current_job().progress(1.0, f"sent to {email}")
    return {"order": order_id, "to": email, "attempt": current_job().attempt}


async def place_order(conn: asyncpg.Connection, order_id: int, email: str) -> None:
    async with conn.transaction():
        await conn.execute("INSERT INTO orders (id, email) VALUES ($1, $2)", order_id, email)
        await send_confirmation.using(connection=conn).enqueue(order_id, email)
