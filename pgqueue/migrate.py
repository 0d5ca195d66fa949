"""Running pgqueue's Alembic revisions: from the wheel (pgqueue/_migrations) or, in a source
checkout, from the repository's migrations/ folder."""

from __future__ import annotations

import asyncio
import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from pgqueue.errors import ConfigurationError


def migrations_path() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigurationError("pgqueue's migrations are missing from this installation")


def alembic_config(dsn: str | None = None, connection: Any = None) -> Config:
    """An Alembic Config for pgqueue's revisions. Pass `connection` (a SQLAlchemy Connection) to
    run them inside an application's own Alembic env.py or transaction."""
    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    config.attributes["dsn"] = dsn
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(dsn: str | None, revision: str = "head", connection: Any = None) -> None:
    command.upgrade(alembic_config(dsn, connection), revision)


async def upgrade_async(dsn: str | None, revision: str = "head") -> None:
    """`upgrade` from async code: Alembic's env runs its own event loop, so it gets a thread."""
    await asyncio.to_thread(upgrade, dsn, revision)


def downgrade(dsn: str | None, revision: str, connection: Any = None) -> None:
    command.downgrade(alembic_config(dsn, connection), revision)


def upgrade_sql(revision: str = "head") -> str:
    """The DDL an upgrade would run, for a DBA to review and apply."""
    out = io.StringIO()
    config = alembic_config()
    config.output_buffer = out
    with redirect_stdout(out):
        command.upgrade(config, revision, sql=True)
    return out.getvalue()


def heads() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config()).get_heads())
