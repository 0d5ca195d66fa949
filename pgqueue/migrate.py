"""Running pgqueue's Alembic revisions: from the wheel (pgqueue/_migrations) or, in a source
checkout, from the repository's migrations/ folder."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
from collections.abc import Iterator
from contextlib import redirect_stdout
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pgqueue._dsn import dsn_host
from pgqueue._schema import SCHEMA, VERSION_TABLE, metadata
from pgqueue.errors import ConfigurationError, DatabaseError

INSUFFICIENT_PRIVILEGE = "42501"


def sql_definition(path: str) -> str:
    """The text of a function or view definition, `functions/<name>.v<N>.sql` or
    `views/<name>.v<N>.sql` under pgqueue/sql: what a thin revision runs. A file, once a revision
    loads it, never changes: a new definition is a new version file and a new revision, so an old
    revision runs the same DDL forever (docs/migrations.md, "SQL functions and views")."""
    return resources.files("pgqueue._sql").joinpath(path).read_text(encoding="utf-8")


def sql_digest(path: str) -> str:
    """The sha256 of a definition file, as a revision pins it (tests/migrations/test_sql_files.py
    compares the two, so an edit of a landed file fails the build)."""
    return hashlib.sha256(sql_definition(path).encode("utf-8")).hexdigest()


def migrations_path() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigurationError("pgqueue's migrations are missing from this installation")


def alembic_config(dsn: str | None = None) -> Config:
    """An Alembic Config for pgqueue's revisions (env.py connects with `dsn`)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    config.attributes["dsn"] = dsn
    return config


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Only pgqueue's own schema is pgqueue's to compare; the version table is Alembic's."""
    if type_ == "table":
        return bool(obj.schema == SCHEMA and name != VERSION_TABLE)
    return True


def context_options() -> dict[str, Any]:
    """What every pgqueue migration context is configured with (env.py and embedded runs)."""
    return {
        "target_metadata": metadata,
        "version_table": VERSION_TABLE,
        "version_table_schema": SCHEMA,
        "include_schemas": True,
        "include_object": include_object,
        "transaction_per_migration": False,
    }


def _run_on_connection(connection: Any, revision: str, *, downgrade: bool) -> None:
    """Run pgqueue's revisions on a caller's SQLAlchemy Connection without touching Alembic's
    global `context`, so it works from inside an application's own env.py (sync or async)."""
    config = alembic_config()
    script = ScriptDirectory.from_config(config)

    def steps(rev: Any, _context: Any) -> Any:
        if downgrade:
            return script._downgrade_revs(revision, rev)
        return script._upgrade_revs(revision, rev)

    env = EnvironmentContext(config, script, fn=steps, destination_rev=revision)
    env.configure(connection=connection, **context_options())
    # Inside Alembic's transaction block, so a connection with no transaction yet gets one
    # that Alembic commits, and a caller's open transaction is simply joined.
    with env.begin_transaction():
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        env.run_migrations()


def upgrade(dsn: str | None, revision: str = "head", connection: Any = None) -> None:
    """Upgrade pgqueue's schema. With `connection` (a SQLAlchemy Connection) the revisions run on
    it, inside its transaction: the way to call them from an application's own env.py."""
    if connection is not None:
        _run_on_connection(connection, revision, downgrade=False)
        return
    with _translated(dsn):
        command.upgrade(alembic_config(dsn), revision)


@contextlib.contextmanager
def _translated(dsn: str | None) -> Iterator[None]:
    """A statement the database refused as a pgqueue DatabaseError with one line that says what
    to do, instead of SQLAlchemy's error with the SQL and a link."""
    try:
        yield
    except DBAPIError as exc:
        where = dsn_host(dsn)
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        if getattr(exc.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            raise DatabaseError(
                f"the database at {where} refused the migration: {detail}. Run `pgqueue migrate` "
                "as a role that may create the pgqueue schema there (the database owner, or a "
                "role granted CREATE ON DATABASE), or hand the DDL of `pgqueue migrate --sql` "
                "to a DBA"
            ) from exc
        raise DatabaseError(f"the migration failed at {where}: {detail}") from exc


async def upgrade_async(dsn: str | None, revision: str = "head") -> None:
    """`upgrade` from async code: Alembic's env runs its own event loop, so it gets a thread."""
    await asyncio.to_thread(upgrade, dsn, revision)


def downgrade(dsn: str | None, revision: str, connection: Any = None) -> None:
    if connection is not None:
        _run_on_connection(connection, revision, downgrade=True)
        return
    with _translated(dsn):
        command.downgrade(alembic_config(dsn), revision)


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


def revisions_between(lower: str | None, upper: str = "head") -> list[str]:
    """The revisions an upgrade from `lower` (None: an empty database) to `upper` applies, oldest
    first: what `pgqueue migrate` reports it did."""
    script = ScriptDirectory.from_config(alembic_config())
    if lower is not None and script.get_revision(upper) == script.get_revision(lower):
        return []
    steps = script.iterate_revisions(upper, lower or "base")
    return [step.revision for step in reversed(list(steps)) if step.revision != lower]
