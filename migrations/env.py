"""Alembic environment for pgqueue's revisions.

pgqueue keeps its version table inside its own schema (pgqueue.alembic_version), so these
revisions never touch an application's own Alembic history. Connections go through asyncpg,
the driver pgqueue already depends on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from pgqueue.schema import SCHEMA, VERSION_TABLE, metadata
from pgqueue.settings import resolve_dsn

config = context.config


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # Only pgqueue's own schema is ours to compare; the version table is Alembic's.
    if type_ == "table":
        return bool(obj.schema == SCHEMA and name != VERSION_TABLE)
    return True


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_object=include_object,
        transaction_per_migration=False,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url="postgresql://", literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
        return
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
