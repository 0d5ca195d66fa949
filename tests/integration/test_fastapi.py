"""pgqueue.contrib.fastapi and examples/fastapi_app.py, through httpx's ASGI transport against a
real database: a request's enqueue commits with its writes, a failed request leaves neither, a
job's progress streams as server-sent events, the lifespan opens and closes the App."""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations, and
# these endpoints live inside the tests, where a string annotation could not be resolved.
import asyncio
import contextlib
import importlib.util
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, HTTPException

from pgqueue import App, current_job
from pgqueue.contrib.fastapi import lifespan, transaction
from tests.helpers import fetch, fetchval, running_worker, wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"


@pytest.fixture
def shop_module(dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """examples/fastapi_app.py imported afresh, as `uvicorn` would, with PGQUEUE_DSN set."""
    monkeypatch.setenv("PGQUEUE_DSN", dsn)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    name = f"fastapi_app_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture
async def shop(shop_module: ModuleType, dsn: str) -> AsyncIterator[ModuleType]:
    await shop_module.create_tables()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO products (sku, stock) VALUES ('mug', 5)")
    finally:
        await conn.close()
    try:
        yield shop_module
    finally:
        await shop_module.engine.dispose()
        await shop_module.queue.close()


@contextlib.asynccontextmanager
async def serving(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for `api` with its lifespan run around it (the ASGI transport does not)."""
    async with api.router.lifespan_context(api):
        transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield client


async def jobs(dsn: str) -> list[tuple[str, Any, str, str]]:
    rows = await fetch(dsn, "SELECT task, args::text, queue, state FROM pgqueue.jobs ORDER BY id")
    return [(r["task"], json.loads(r["args"]), r["queue"], r["state"]) for r in rows]


async def orders(dsn: str) -> list[tuple[str, str, int]]:
    rows = await fetch(dsn, "SELECT reference, sku, quantity FROM orders ORDER BY reference")
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def stock(dsn: str) -> int:
    return int(await fetchval(dsn, "SELECT stock FROM products WHERE sku = 'mug'"))


async def test_an_order_and_its_job_commit_together(shop: ModuleType, dsn: str) -> None:
    async with serving(shop.api) as client:
        response = await client.post(
            "/orders", json={"reference": "A-1", "sku": "mug", "quantity": 2}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["reference"] == "A-1"
        assert await orders(dsn) == [("A-1", "mug", 2)]
        assert await stock(dsn) == 3
        assert await jobs(dsn) == [("shop.send_confirmation", ["A-1"], "mail", "queued")]
        job_id = body["confirmation_job"]
        assert await fetchval(dsn, "SELECT id FROM pgqueue.jobs") == job_id
        async with running_worker(shop.queue, queues=("mail",)):
            assert await shop.queue.result(job_id, timeout=15) == (
                "confirmation for order A-1 sent"
            )
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'succeeded'") == 1


async def test_a_refused_order_enqueues_nothing(shop: ModuleType, dsn: str) -> None:
    """The endpoint enqueued, then raised HTTPException(409): the job went with the order."""
    async with serving(shop.api) as client:
        response = await client.post(
            "/orders", json={"reference": "A-2", "sku": "mug", "quantity": 6}
        )
        assert response.status_code == 409
        assert response.json() == {"detail": "not enough mug in stock"}
    assert await orders(dsn) == []
    assert await stock(dsn) == 5
    assert await jobs(dsn) == []


async def test_a_failing_request_enqueues_nothing(shop: ModuleType, dsn: str) -> None:
    """A database error after the enqueue (the CHECK on quantity) is a 500 and rolls both back;
    the next request on the same pool is unaffected."""
    async with serving(shop.api) as client:
        response = await client.post(
            "/orders", json={"reference": "A-3", "sku": "mug", "quantity": 0}
        )
        assert response.status_code == 500
        assert await orders(dsn) == []
        assert await jobs(dsn) == []
        ok = await client.post("/orders", json={"reference": "A-4", "sku": "mug", "quantity": 1})
        assert ok.status_code == 201, ok.text
    assert await orders(dsn) == [("A-4", "mug", 1)]
    assert await jobs(dsn) == [("shop.send_confirmation", ["A-4"], "mail", "queued")]


def events_of(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_progress_streams_as_server_sent_events(shop: ModuleType, dsn: str) -> None:
    release = asyncio.Event()

    @shop.queue.task(name="test.half_then_done")
    async def half_then_done() -> str:
        await current_job().progress(0.5, "half way")
        await release.wait()
        await current_job().progress(1.0, "done")
        return "imported"

    job_id = await half_then_done.enqueue()
    async with serving(shop.api) as client, running_worker(shop.queue):

        async def reported_once() -> bool:
            seq = await fetchval(dsn, "SELECT progress->>'seq' FROM pgqueue.jobs")
            return seq == "1"

        await wait_for(reported_once, message="the first progress report")
        # The request starts while the job is still running; it ends only with the job.
        streaming = asyncio.create_task(client.get(f"/jobs/{job_id}/events"))
        await asyncio.sleep(0)
        assert not streaming.done()
        release.set()
        response = await asyncio.wait_for(streaming, 15)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.text)
    progress = [data for kind, data in events if kind == "progress"]
    # Every report once, in order, then the outcome last: the first report is in the stream
    # unless the stream's first read of the row came after the second report.
    assert [p["seq"] for p in progress] in ([1, 2], [2])
    assert progress[-1] == {"seq": 2, "value": 1.0, "message": "done"}
    assert events[-1] == ("finished", {"state": "succeeded", "result": "imported", "error": None})


async def test_a_failed_job_streams_its_error_without_the_traceback(
    shop: ModuleType, dsn: str
) -> None:
    @shop.queue.task(name="test.fails", max_attempts=1)
    async def fails() -> None:
        raise ValueError("bad row 7")

    job_id = await fails.enqueue()
    async with serving(shop.api) as client, running_worker(shop.queue):
        response = await client.get(f"/jobs/{job_id}/events")
    assert events_of(response.text) == [
        (
            "finished",
            {
                "state": "dead",
                "result": None,
                "error": {"type": "ValueError", "message": "bad row 7"},
            },
        )
    ]


async def test_the_stream_of_an_unknown_job_is_a_404(shop: ModuleType) -> None:
    async with serving(shop.api) as client:
        response = await client.get("/jobs/999999/events")
    assert response.status_code == 404
    assert response.json() == {"detail": "no job 999999"}


async def test_an_import_reports_every_row(shop: ModuleType, dsn: str) -> None:
    async with serving(shop.api) as client, running_worker(shop.queue):
        started = await client.post("/imports", params={"rows": 3})
        assert started.status_code == 202
        job_id = started.json()["job"]
        assert await shop.queue.result(job_id, timeout=15) == 3
        progress = json.loads(await fetchval(dsn, "SELECT progress::text FROM pgqueue.jobs"))
    assert [(r["seq"], r["value"], r["message"]) for r in progress["recent"]] == [
        (1, 1 / 3, "1 of 3 rows"),
        (2, 2 / 3, "2 of 3 rows"),
        (3, 1.0, "3 of 3 rows"),
    ]


async def test_the_lifespan_opens_and_closes_the_app(dsn: str) -> None:
    queue = App(dsn)
    seen: list[str] = []

    @contextlib.asynccontextmanager
    async def own(web_app: Any) -> AsyncIterator[dict[str, Any]]:
        # The application's own lifespan runs inside: the App is open already.
        seen.append(f"inner sees pool: {queue.repository.pool is not None}")
        yield {"greeting": "hello"}
        seen.append("inner closed")

    api = FastAPI(lifespan=lifespan(queue, own))
    async with api.router.lifespan_context(api) as state:
        assert state == {"greeting": "hello"}
        assert await queue.repository.pool.fetchval("SELECT 1") == 1
    assert seen == ["inner sees pool: True", "inner closed"]
    with pytest.raises(RuntimeError, match="not open"):
        _ = queue.repository


async def test_an_asyncpg_connection_joins_the_request_transaction(app: App, dsn: str) -> None:
    """transaction() over a dependency giving an asyncpg Connection from the user's own pool."""
    send = app.task(name="test.send")(_send)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await pool.execute("CREATE TABLE notes (body text NOT NULL)")

    async def connection() -> AsyncIterator[asyncpg.Connection]:
        async with pool.acquire() as conn:
            yield conn

    api = FastAPI()

    @api.post("/notes")
    async def add_note(
        body: str, conn: Annotated[asyncpg.Connection, transaction(connection)]
    ) -> dict[str, int]:
        await conn.execute("INSERT INTO notes VALUES ($1)", body)
        job_id = await send.using(connection=conn).enqueue(body)
        if body == "refused":
            raise HTTPException(422, "refused")
        return {"job": job_id}

    try:
        async with serving(api) as client:
            kept = await client.post("/notes", params={"body": "kept"})
            refused = await client.post("/notes", params={"body": "refused"})
        assert (kept.status_code, refused.status_code) == (200, 422)
        assert [r["body"] for r in await pool.fetch("SELECT body FROM notes")] == ["kept"]
        assert await jobs(dsn) == [("test.send", ["kept"], "default", "queued")]
    finally:
        await pool.close()


async def test_transaction_refuses_what_is_not_a_session_or_connection(dsn: str) -> None:
    api = FastAPI()

    def not_a_session() -> str:
        return "nope"

    @api.get("/")
    async def index(handle: Annotated[str, transaction(not_a_session)]) -> str:
        return handle

    async with serving(api) as client:
        response = await client.get("/")
    assert response.status_code == 500


async def _send(body: str) -> str:
    return body
