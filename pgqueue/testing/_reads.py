"""The testing kit's queries, run on whatever the test holds: an asyncpg Connection or Pool, or
a SQLAlchemy Session, Connection, AsyncSession or AsyncConnection (as enqueue does), so a test
sees the jobs of a transaction it has not committed yet."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from pgqueue.enqueue import is_sqlalchemy_async, is_sqlalchemy_sync
from pgqueue.sql import query

_POSITIONAL = re.compile(r"\$(\d+)")


def _as_sqlalchemy(sql: str, args: Sequence[Any]) -> tuple[Any, dict[str, Any]]:
    """The same file for SQLAlchemy's :name binding: $1 becomes :p1 (the files write
    CAST($n AS type), never $n::type, which :name binding would misread)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return text(_POSITIONAL.sub(r":p\1", body)), {f"p{n}": v for n, v in enumerate(args, 1)}


async def fetch(connection: Any, name: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of the named query as dicts, on an asyncpg or async SQLAlchemy connection."""
    if is_sqlalchemy_async(connection):
        statement, params = _as_sqlalchemy(query(name), args)
        result = await connection.execute(statement, params)
        return [dict(row) for row in result.mappings().all()]
    return [dict(row) for row in await connection.fetch(query(name), *args)]


def fetch_sync(connection: Any, name: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of the named query as dicts, on a sync SQLAlchemy Session or Connection."""
    if not is_sqlalchemy_sync(connection):
        raise TypeError(
            f"expected a SQLAlchemy Session or Connection, got {type(connection).__name__}: "
            "use the awaitable form for an App, asyncpg or an AsyncSession"
        )
    statement, params = _as_sqlalchemy(query(name), args)
    return [dict(row) for row in connection.execute(statement, params).mappings().all()]


async def drain_pending(
    pool: Any, queues: Sequence[str] | None, everything: bool
) -> dict[str, int]:
    """Queue -> jobs a drain still waits for there (queues with none are left out)."""
    rows = await fetch(pool, "job_drain_pending", _names(queues), everything)
    return {r["queue"]: int(r["pending"]) for r in rows}


async def make_due(pool: Any, queues: Sequence[str] | None) -> None:
    await pool.execute(query("job_run_at_now"), _names(queues))


async def started_since(pool: Any, since: datetime, queues: Sequence[str] | None) -> list[int]:
    return [int(r["id"]) for r in await fetch(pool, "job_started_since", since, _names(queues))]


def _names(queues: Sequence[str] | None) -> list[str] | None:
    return list(queues) if queues else None
