"""An application's own Alembic env.py that also runs pgqueue's revisions (docs/migrations.md).

`alembic upgrade head` then moves both histories in one transaction: the application's in
public.alembic_version, pgqueue's in pgqueue.alembic_version. The two never mix.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

import pgqueue.migrate

config = context.config
target_metadata = None  # the application's MetaData, for autogenerate


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ["PGQUEUE_DSN"]
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def run_migrations_offline() -> None:
    # `alembic upgrade head --sql`: the application's DDL only; get pgqueue's from
    # `pgqueue migrate --sql`.
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            # Inside the transaction block: pgqueue's revisions join Alembic's transaction, which
            # Alembic commits after the application's own revisions (or rolls back on error).
            pgqueue.migrate.upgrade(None, connection=connection)
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
