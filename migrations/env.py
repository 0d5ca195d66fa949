"""Alembic environment for pgqueue's revisions.

pgqueue keeps its version table inside its own schema (pgqueue.alembic_version), so these
revisions never touch an application's own Alembic history. Connections go through asyncpg,
the driver pgqueue already depends on. (To run these revisions from an application's own env.py,
call `pgqueue.migrate.upgrade(None, connection=connection)`: it does not come through here.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from pgqueue._schema import SCHEMA
from pgqueue.migrate import context_options
from pgqueue.settings import resolve_dsn

config = context.config


def run_offline() -> None:
    context.configure(
        url="postgresql://",
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **context_options(),
    )
    with context.begin_transaction():
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    context.configure(connection=connection, **context_options())
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    import asyncpg

    dsn = config.attributes.get("dsn") or resolve_dsn()

    async def connect() -> Any:
        return await asyncpg.connect(dsn)

    engine = create_async_engine("postgresql+asyncpg://", async_creator=connect)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
