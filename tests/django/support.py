"""Helpers of the Django tests: read the database as an outsider (psycopg, its own connection),
run a pgqueue worker for the project's Django tasks until a condition holds."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from tests.helpers import fetchval, running_worker, wait_for


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def jobs(dsn: str) -> list[tuple[Any, ...]]:
    return rows(
        dsn,
        "SELECT task, args, kwargs, queue, priority, state, max_attempts FROM pgqueue.jobs "
        "ORDER BY id",
    )


def work_until_finished(dsn: str, expected: int, **settings: Any) -> None:
    """Run a worker built by pgqueue.contrib.django until `expected` jobs have finished."""
    from pgqueue.contrib.django.tasks import create_app

    async def main() -> None:
        app = create_app()
        try:
            async with running_worker(app, queues=("default", "mail"), **settings):

                async def finished() -> bool:
                    done = await fetchval(
                        dsn,
                        "SELECT count(*) FROM pgqueue.jobs "
                        "WHERE state IN ('succeeded', 'dead', 'cancelled')",
                    )
                    return bool(done == expected)

                await wait_for(finished, message=f"{expected} finished jobs")
        finally:
            await app.close()

    asyncio.run(main())
