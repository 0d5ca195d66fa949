"""Workflows: a chain and a group with a callback, each enqueued in one round trip inside the
caller's transaction, run by a burst worker (docs/workflows.md).

    pgqueue migrate
    PGQUEUE_DSN=postgresql://user@host/db python docs/examples/chain_and_group.py

Exits 0 when every assertion holds (tests/integration/test_docs_examples.py runs it twice).
"""

from __future__ import annotations

import asyncio
import os

import asyncpg

from pgqueue import App, JobState, current_job

app = App()


@app.task(name="docs.fetch")
async def fetch(url: str) -> str:
    return f"<html>{url}</html>"


@app.task(name="docs.parse")
async def parse() -> int:
    [page] = await current_job().parent_results()  # the previous job of the chain
    return len(page)


@app.task(name="docs.resize")
async def resize(size: int) -> str:
    return f"thumb-{size}.png"


@app.task(name="docs.publish")
async def publish() -> list[str]:
    return await current_job().parent_results()  # every member's result, in order


async def main() -> None:
    async with app:
        conn = await asyncpg.connect(os.environ["PGQUEUE_DSN"])
        try:
            async with conn.transaction():  # the whole chain commits with the caller's data
                chain = await app.chain(fetch.job("a.example"), parse.job()).enqueue(
                    connection=conn
                )
            tx = conn.transaction()
            await tx.start()
            await app.group([resize.job(64)]).then(publish.job()).enqueue(connection=conn)
            await tx.rollback()  # ... or nothing of it does
        finally:
            await conn.close()
        *members, callback = await (
            app.group([resize.job(size) for size in (64, 128, 256)]).then(publish.job()).enqueue()
        )
        print(f"callback {callback} is {(await app.get_job(callback)).state.value}")

        await app.worker(concurrency=4).run(until_empty=True)

        assert await app.result(chain[-1], timeout=0) == len("<html>a.example</html>")
        published = await app.result(callback, timeout=0)
        print(f"published: {published}")
        assert published == ["thumb-64.png", "thumb-128.png", "thumb-256.png"]
        info = await app.get_job(callback)
        assert info.state == JobState.SUCCEEDED and info.parents == tuple(members)


if __name__ == "__main__":
    asyncio.run(main())
