"""A FastAPI shop that enqueues inside each request's own transaction (docs/fastapi.md).

    pip install "pgqueue[fastapi]" uvicorn
    export PGQUEUE_DSN=postgresql://localhost/shop     # a URL: SQLAlchemy uses it too
    pgqueue migrate
    uvicorn examples.fastapi_app:api                    # the web app
    pgqueue worker examples.fastapi_app:queue --queue default --queue mail   # a worker

POST /orders writes the order, reserves stock and enqueues the confirmation mail in one
transaction: an order that fails (out of stock, a bad quantity) leaves no order and no job.
GET /jobs/{id}/events streams a job's progress as server-sent events until it finishes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import CheckConstraint, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pgqueue import App, FinishedEvent, JobNotFoundError, ProgressEvent, current_job
from pgqueue.contrib.fastapi import lifespan, session

queue = App()  # PGQUEUE_DSN, DATABASE_URL or libpq's defaults

# -- tasks (run by `pgqueue worker examples.fastapi_app:queue`) ---------------------------------


@queue.task(name="shop.send_confirmation", queue="mail")
async def send_confirmation(reference: str) -> str:
    return f"confirmation for order {reference} sent"


@queue.task(name="shop.import_catalogue")
async def import_catalogue(rows: int) -> int:
    job = current_job()
    for done in range(1, rows + 1):
        await job.progress(done / rows, f"{done} of {rows} rows")
    return rows


# -- the database, through SQLAlchemy ----------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (CheckConstraint("quantity > 0", name="orders_quantity_positive"),)

    reference: Mapped[str] = mapped_column(primary_key=True)
    sku: Mapped[str]
    quantity: Mapped[int]


class Product(Base):
    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(primary_key=True)
    stock: Mapped[int]


def sqlalchemy_url(dsn: str | None) -> str:
    """The App's DSN (a postgresql:// URL) for SQLAlchemy's asyncpg dialect."""
    if dsn is None or "://" not in dsn:
        raise ValueError(f"this example needs PGQUEUE_DSN as a postgresql:// URL, not {dsn!r}")
    return "postgresql+asyncpg://" + dsn.split("://", 1)[1]


engine = create_async_engine(sqlalchemy_url(queue.dsn))
Sessions = async_sessionmaker(engine, expire_on_commit=False)

# Each request that names it gets a session in a transaction of its own: committed when the
# endpoint returns, rolled back when it raises.
Session = Annotated[AsyncSession, session(Sessions)]


async def create_tables() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


api = FastAPI(lifespan=lifespan(queue))

# -- routes ------------------------------------------------------------------------------------


class OrderIn(BaseModel):
    reference: str
    sku: str
    quantity: int


@api.post("/orders", status_code=201)
async def place_order(order: OrderIn, db: Session) -> dict[str, Any]:
    job_id = await send_confirmation.using(connection=db).enqueue(order.reference)
    db.add(Order(reference=order.reference, sku=order.sku, quantity=order.quantity))
    await db.flush()  # a quantity below 1 fails here: a 500, and the job is rolled back too
    reserved = await db.execute(
        text("UPDATE products SET stock = stock - :n WHERE sku = :sku AND stock >= :n"),
        {"n": order.quantity, "sku": order.sku},
    )
    if reserved.rowcount != 1:
        raise HTTPException(409, f"not enough {order.sku} in stock")  # rolls the job back
    return {"reference": order.reference, "confirmation_job": job_id}


@api.post("/imports", status_code=202)
async def start_import(rows: int) -> dict[str, int]:
    return {"job": await import_catalogue.enqueue(rows)}


@api.get("/jobs/{job_id}/events")
async def job_events(job_id: int) -> StreamingResponse:
    try:
        await queue.get_job(job_id)  # a 404 now, before the stream has started
    except JobNotFoundError:
        raise HTTPException(404, f"no job {job_id}") from None
    return StreamingResponse(server_sent_events(job_id), media_type="text/event-stream")


async def server_sent_events(job_id: int) -> AsyncIterator[str]:
    """The job's progress reports, then its outcome, as server-sent events. Only the error's
    class and message go out, never the traceback: that stays for operators."""
    async for event in queue.watch(job_id):
        match event:
            case ProgressEvent(seq=seq, value=value, message=message):
                yield sse("progress", {"seq": seq, "value": value, "message": message})
            case FinishedEvent(state=state, result=result, error=error):
                shown = None if error is None else {k: error.get(k) for k in ("type", "message")}
                yield sse("finished", {"state": state, "result": result, "error": shown})


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
