"""pgqueue's Alembic revisions: one head, upgrade/downgrade round trips (every revision, so future
revisions are covered automatically), no drift from pgqueue._schema.metadata, coexistence with an
application's own Alembic history, the offline DDL (`pgqueue migrate --sql`), and running the
revisions through an application's own SQLAlchemy connection.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from pgqueue import migrate
from pgqueue._schema import SCHEMA, VERSION_TABLE, metadata

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- helpers ---------------------------------------------------------------------------------


def sa_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def engine(empty_db: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(sa_url(empty_db), poolclass=NullPool)
    try:
        yield eng
    finally:
        eng.dispose()


def query(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(sql, params or None).fetchall())  # type: ignore[arg-type]


def execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def versions(dsn: str, table: str = f"{SCHEMA}.{VERSION_TABLE}") -> set[str]:
    [[exists]] = query(dsn, "SELECT to_regclass(%s) IS NOT NULL", table)
    if not exists:
        return set()
    return {row[0] for row in query(dsn, f"SELECT version_num FROM {table}")}


def head() -> str:
    [only] = migrate.heads()
    return only


def inventory(dsn: str, schema: str = SCHEMA) -> dict[str, list[tuple[Any, ...]]]:
    """Everything in `schema` that a revision can create, in a comparable form."""
    sections = {
        "relations": """
            SELECT c.relname, c.relkind::text FROM pg_class AS c
            WHERE c.relnamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = %(schema)s) ORDER BY 1""",
        "columns": """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid), a.attidentity::text
            FROM pg_attribute AS a
            JOIN pg_class AS c ON c.oid = a.attrelid
            LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE c.relnamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = %(schema)s) AND c.relkind IN ('r', 'p')
              AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY 1, 2""",
        "indexes": """
            SELECT indexname, replace(indexdef, %(schema)s || '.', '') FROM pg_indexes
            WHERE schemaname = %(schema)s ORDER BY 1""",
        "constraints": """
            SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint AS k
            JOIN pg_class AS c ON c.oid = k.conrelid
            WHERE c.relnamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = %(schema)s) ORDER BY 1, 2""",
        "functions": """
            SELECT p.proname, pg_get_function_identity_arguments(p.oid), md5(pg_get_functiondef(p.oid))
            FROM pg_proc AS p WHERE p.pronamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = %(schema)s) ORDER BY 1, 2""",
        "triggers": """
            SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger AS t
            JOIN pg_class AS c ON c.oid = t.tgrelid
            WHERE c.relnamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = %(schema)s) AND NOT t.tgisinternal ORDER BY 1""",
        "types": """
            SELECT t.typname, t.typtype::text FROM pg_type AS t
            WHERE t.typnamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = %(schema)s) AND t.typrelid = 0
              AND t.typcategory <> 'A' ORDER BY 1""",
    }
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            name: list(conn.execute(sql, {"schema": schema}).fetchall())  # type: ignore[arg-type]
            for name, sql in sections.items()
        }


def pgqueue_include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # The same filter as migrations/env.py (which cannot be imported: it runs on import).
    if type_ == "table":
        return bool(obj.schema == SCHEMA and name != VERSION_TABLE)
    return True


def drift(dsn: str) -> list[Any]:
    eng = sa.create_engine(sa_url(dsn), poolclass=NullPool)
    try:
        with eng.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_object": pgqueue_include_object,
                    "compare_type": True,
                    "compare_server_default": True,
                    "target_metadata": metadata,
                },
            )
            return list(compare_metadata(context, metadata))
    finally:
        eng.dispose()


# -- heads, round trips, each revision -----------------------------------------------------


def test_exactly_one_head() -> None:
    heads = migrate.heads()
    assert len(heads) == 1, f"several heads, merge them: {heads}"
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_bases()) == 1


def test_upgrade_downgrade_upgrade_round_trip(empty_db: str) -> None:
    migrate.upgrade(empty_db)
    assert versions(empty_db) == {head()}
    after_first = inventory(empty_db)
    relations = dict(after_first["relations"])
    assert relations["jobs"] == "r"
    assert relations["alembic_version"] == "r"
    functions = {name for name, _args, _md5 in after_first["functions"]}
    assert {"enqueue", "enqueue_many", "notify_jobs"} <= functions

    migrate.downgrade(empty_db, "base")
    assert versions(empty_db) == set()
    left = inventory(empty_db)
    # Only the (empty) version table and its primary key remain in schema pgqueue.
    assert left["relations"] == [("alembic_version", "r"), ("alembic_version_pkc", "i")]
    assert left["functions"] == []
    assert left["triggers"] == []
    assert left["types"] == []
    assert [c[0] for c in left["columns"]] == ["alembic_version"]

    migrate.upgrade(empty_db)
    assert versions(empty_db) == {head()}
    assert inventory(empty_db) == after_first


def test_upgrade_is_idempotent(empty_db: str) -> None:
    migrate.upgrade(empty_db)
    before = inventory(empty_db)
    migrate.upgrade(empty_db)
    assert versions(empty_db) == {head()}
    assert inventory(empty_db) == before


def test_every_revision_steps_up_and_down(empty_db: str) -> None:
    """For each revision in order: upgrade to it, downgrade one step, upgrade again. The
    downgrade must restore exactly the previous revision's schema, and the re-upgrade exactly
    this one's."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = list(reversed(list(script.walk_revisions("base", "heads"))))
    assert revisions, "no revisions found"
    assert revisions[-1].revision == head()

    previous = inventory(empty_db)  # nothing yet (schema may not even exist)
    for rev in revisions:
        migrate.upgrade(empty_db, rev.revision)
        assert versions(empty_db) == {rev.revision}, rev.revision
        upgraded = inventory(empty_db)
        assert upgraded != previous, f"{rev.revision} changed nothing"

        migrate.downgrade(empty_db, "-1")
        expected_down = rev.down_revision
        if expected_down is None:
            assert versions(empty_db) == set(), rev.revision
            down_state = inventory(empty_db)
            assert down_state["functions"] == down_state["triggers"] == down_state["types"] == []
            assert [
                r for r in down_state["relations"] if not r[0].startswith("alembic_version")
            ] == []
        else:
            down = {expected_down} if isinstance(expected_down, str) else set(expected_down)
            assert versions(empty_db) == down, rev.revision
            assert inventory(empty_db) == previous, f"downgrade of {rev.revision} left changes"

        migrate.upgrade(empty_db, rev.revision)
        assert versions(empty_db) == {rev.revision}
        assert inventory(empty_db) == upgraded, f"re-upgrade of {rev.revision} differs"
        previous = upgraded


async def test_upgrade_async_from_a_running_event_loop(empty_db: str) -> None:
    await migrate.upgrade_async(empty_db)
    assert versions(empty_db) == {head()}


# -- no drift between the models and the revisions ------------------------------------------


def test_no_drift_between_metadata_and_migrated_database(dsn: str) -> None:
    assert versions(dsn) == {head()}
    assert drift(dsn) == []


def test_alembic_check_through_pgqueue_env_finds_no_drift(dsn: str) -> None:
    """The same question through migrations/env.py itself (its include_object and options)."""
    command.check(migrate.alembic_config(dsn))


def test_drift_check_is_not_vacuous(dsn: str) -> None:
    execute(
        dsn,
        "DROP INDEX pgqueue.jobs_due_idx; ALTER TABLE pgqueue.jobs ADD COLUMN stray integer;"
        "CREATE TABLE public.app_table (id int)",
    )
    diffs = [d for d in drift(dsn) if isinstance(d, tuple)]
    assert [(d[0], d[1].name) for d in diffs if d[0] == "add_index"] == [
        ("add_index", "jobs_due_idx")
    ]
    assert [(d[0], d[2], d[3].name) for d in diffs if d[0] == "remove_column"] == [
        ("remove_column", "jobs", "stray")
    ]
    assert len(diffs) == 2, diffs
    # The application's own table in public is not pgqueue's business.
    assert not any("app_table" in repr(d) for d in diffs)


@pytest.fixture
def expected_schema(dsn: str) -> str:
    """The schema exactly as metadata.create_all() builds it, side by side in the same database
    (schema pgqueue_expected), so the server renders both the same way."""
    expected = "pgqueue_expected"
    eng = sa.create_engine(sa_url(dsn), poolclass=NullPool)
    try:
        with eng.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {expected}"))
            metadata.create_all(conn.execution_options(schema_translate_map={SCHEMA: expected}))
    finally:
        eng.dispose()
    return expected


def test_indexes_match_metadata(dsn: str, expected_schema: str) -> None:
    migrated = [r for r in inventory(dsn)["indexes"] if not r[0].startswith("alembic_version")]
    assert migrated == inventory(dsn, expected_schema)["indexes"]


def test_constraint_definitions_match_metadata(dsn: str, expected_schema: str) -> None:
    def definitions(schema: str) -> list[tuple[str, str]]:
        rows = inventory(dsn, schema)["constraints"]
        # A foreign key names its schema (job_dependencies -> jobs, 0014_workflows).
        return sorted(
            (table, definition.replace(f"{schema}.", "<schema>."))
            for table, _name, definition in rows
            if table != VERSION_TABLE
        )

    assert definitions(SCHEMA) == definitions(expected_schema)


def test_constraint_names_match_metadata(dsn: str, expected_schema: str) -> None:
    def names(schema: str) -> list[tuple[str, str]]:
        rows = inventory(dsn, schema)["constraints"]
        return sorted((table, name) for table, name, _def in rows if table != VERSION_TABLE)

    assert names(SCHEMA) == names(expected_schema)


def test_columns_match_metadata(dsn: str, expected_schema: str) -> None:
    def columns(schema: str) -> list[tuple[Any, ...]]:
        return [c for c in inventory(dsn, schema)["columns"] if c[0] != VERSION_TABLE]

    assert columns(SCHEMA) == columns(expected_schema)


# -- offline DDL -----------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGQUEUE_")}
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


def test_cli_migrate_sql_prints_the_ddl_without_connecting() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pgqueue", "migrate", "--sql"],
        # Unreachable on purpose: --sql must not need a database.
        env=clean_env(PGQUEUE_DSN="postgresql://postgres@127.0.0.1:1/nowhere"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "CREATE TABLE pgqueue.jobs" in done.stdout
    assert "CREATE FUNCTION pgqueue.enqueue(" in done.stdout
    assert "CREATE FUNCTION pgqueue.enqueue_many(jobs jsonb)" in done.stdout
    assert "CREATE TABLE pgqueue.alembic_version" in done.stdout
    assert (
        f"INSERT INTO pgqueue.alembic_version (version_num) VALUES ('{head()}')" in done.stdout
        or (f"UPDATE pgqueue.alembic_version SET version_num='{head()}'" in done.stdout)
    )


def test_offline_ddl_builds_the_same_schema_as_online(empty_db: str, dsn: str) -> None:
    """What a DBA applies from `pgqueue migrate --sql` equals what `pgqueue migrate` builds."""
    ddl = migrate.upgrade_sql()
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(ddl)  # type: ignore[arg-type]
    assert versions(empty_db) == {head()}
    assert inventory(empty_db) == inventory(dsn)
    assert drift(empty_db) == []


# -- coexistence with an application's own Alembic history --------------------------------

APP_ENV = """
from alembic import context
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

config = context.config


def run() -> None:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
"""

APP_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "app_0001_orders"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True), schema="public")


def downgrade() -> None:
    op.drop_table("orders", schema="public")
"""


def make_app_env(folder: Path, env_py: str = APP_ENV) -> Path:
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(env_py)
    (folder / "versions" / "app_0001_orders.py").write_text(APP_REVISION)
    return folder


def app_config(folder: Path, dsn: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("sqlalchemy.url", sa_url(dsn))
    return config


def table_exists(dsn: str, name: str) -> bool:
    [[exists]] = query(dsn, "SELECT to_regclass(%s) IS NOT NULL", name)
    return bool(exists)


def test_coexists_with_an_application_alembic_history(empty_db: str, tmp_path: Path) -> None:
    app = app_config(make_app_env(tmp_path / "app_migrations"), empty_db)

    command.upgrade(app, "head")
    migrate.upgrade(empty_db)
    assert versions(empty_db, "public.alembic_version") == {"app_0001_orders"}
    assert versions(empty_db) == {head()}
    assert table_exists(empty_db, "public.orders")
    assert table_exists(empty_db, "pgqueue.jobs")

    # Each side moving leaves the other's version table and objects alone.
    migrate.downgrade(empty_db, "base")
    assert versions(empty_db) == set()
    assert versions(empty_db, "public.alembic_version") == {"app_0001_orders"}
    assert table_exists(empty_db, "public.orders")

    migrate.upgrade(empty_db)
    command.downgrade(app, "base")
    assert versions(empty_db, "public.alembic_version") == set()
    assert not table_exists(empty_db, "public.orders")
    assert versions(empty_db) == {head()}
    assert table_exists(empty_db, "pgqueue.jobs")

    # pgqueue first, then the application: same result.
    command.upgrade(app, "head")
    assert versions(empty_db, "public.alembic_version") == {"app_0001_orders"}
    assert versions(empty_db) == {head()}
    # The application's autogenerate would not see pgqueue's tables as its own to drop... and
    # pgqueue's drift check does not see the application's.
    assert drift(empty_db) == []


def test_upgrade_through_an_application_connection(engine: sa.Engine, empty_db: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.orders (id int)"))
        migrate.upgrade(None, connection=conn)
    assert versions(empty_db) == {head()}
    assert table_exists(empty_db, "pgqueue.jobs")
    assert table_exists(empty_db, "public.orders")
    assert drift(empty_db) == []


def test_upgrade_through_a_connection_runs_in_the_callers_transaction(
    engine: sa.Engine, empty_db: str
) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE public.orders (id int)"))
        migrate.upgrade(None, connection=conn)
        assert conn.execute(sa.text("SELECT to_regclass('pgqueue.jobs') IS NOT NULL")).scalar()
        conn.rollback()
    assert not table_exists(empty_db, "public.orders")
    assert not table_exists(empty_db, "pgqueue.jobs")
    assert versions(empty_db) == set()


def test_downgrade_through_an_application_connection(engine: sa.Engine, empty_db: str) -> None:
    migrate.upgrade(empty_db)
    with engine.begin() as conn:
        migrate.downgrade(None, "base", connection=conn)
    assert versions(empty_db) == set()
    assert not table_exists(empty_db, "pgqueue.jobs")


# The documented use of `connection=`: from inside an application's own Alembic env.py. Run in
# a subprocess (as `alembic upgrade head` would) so a failure cannot leave Alembic's module-level
# context proxies broken for other tests in this process.

APP_ENV_CALLING_PGQUEUE = """
import asyncio
import os

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

import pgqueue.migrate

config = context.config
url = config.get_main_option("sqlalchemy.url")


def do_run_migrations(connection):
    if os.environ["PGQUEUE_ORDER"] == "before":
        pgqueue.migrate.upgrade(None, connection=connection)
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
    if os.environ["PGQUEUE_ORDER"] == "after":
        pgqueue.migrate.upgrade(None, connection=connection)


async def run_async() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url.replace("+psycopg", "+asyncpg"), poolclass=NullPool)
    async with engine.begin() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


if os.environ["PGQUEUE_STYLE"] == "async":
    # The shape of Alembic's own `alembic init -t async` template.
    asyncio.run(run_async())
else:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        do_run_migrations(connection)
    engine.dispose()
"""

RUN_APP_UPGRADE = """
import sys
from alembic import command
from alembic.config import Config

config = Config()
config.set_main_option("script_location", sys.argv[1])
config.set_main_option("sqlalchemy.url", sys.argv[2])
command.upgrade(config, "head")
"""


@pytest.mark.parametrize(
    ("style", "order"),
    [
        pytest.param(
            "sync",
            "after",
        ),
        pytest.param(
            "sync",
            "before",
        ),
        pytest.param(
            "async",
            "after",
        ),
    ],
)
def test_upgrade_from_inside_an_application_env_py(
    empty_db: str, tmp_path: Path, style: str, order: str
) -> None:
    folder = make_app_env(tmp_path / "app_migrations", APP_ENV_CALLING_PGQUEUE)
    done = subprocess.run(
        [sys.executable, "-c", RUN_APP_UPGRADE, str(folder), sa_url(empty_db)],
        env=clean_env(PGQUEUE_STYLE=style, PGQUEUE_ORDER=order),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert versions(empty_db, "public.alembic_version") == {"app_0001_orders"}
    assert versions(empty_db) == {head()}
    assert table_exists(empty_db, "public.orders")
    assert table_exists(empty_db, "pgqueue.jobs")


def test_migrations_ship_with_the_package_or_the_checkout() -> None:
    path = migrate.migrations_path()
    assert (path / "env.py").is_file()
    assert path in (
        REPO_ROOT / "migrations",
        Path(migrate.__file__).resolve().parent / "_migrations",
    )
