"""SQL as the source of truth (revision 0008_sql_files): every function and view body is a file
under pgqueue/_sql/functions or pgqueue/_sql/views, loaded by exactly one revision that pins its
sha256, so a landed file never changes; the database holds the files' bodies; 0008's downgrade
puts back 0007's definitions (bodies, view definitions, grants, comments) exactly."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import psycopg
import pytest

from pgqueue import migrate
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "pgqueue" / "_sql"
VERSIONS = ROOT / "migrations" / "versions"
REVISION = "0008_sql_files"
PREVIOUS = "0007_notify_triggers"
# functions/<name>.v<N>.sql or views/<name>.v<N>.sql
FILE_NAME = re.compile(r"^(functions|views)/([a-z_]+)\.v([1-9][0-9]*)\.sql$")


def definition_files() -> list[str]:
    return sorted(
        str(p.relative_to(SQL))
        for folder in ("functions", "views")
        for p in (SQL / folder).glob("*")
    )


def revision_modules() -> dict[str, ModuleType]:
    modules = {}
    for path in sorted(VERSIONS.glob("0*.py")):
        spec = importlib.util.spec_from_file_location(f"sql_files_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules[path.stem] = module
    return modules


def pins() -> dict[str, list[tuple[str, str]]]:
    """file -> [(revision, pinned sha256)] over every revision with a FILES table."""
    found: dict[str, list[tuple[str, str]]] = {}
    for name, module in revision_modules().items():
        for path, digest in getattr(module, "FILES", {}).items():
            found.setdefault(path, []).append((name, digest))
    return found


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql, params or None).fetchall()]  # type: ignore[arg-type]


def objects(dsn: str) -> list[tuple[Any, ...]]:
    """Every function and view of schema pgqueue: definition, owner, grants, comment, and for a
    function whether it is SECURITY DEFINER."""
    return rows(
        dsn,
        """
        SELECT p.proname, pg_get_functiondef(p.oid), p.proowner::regrole::text,
               coalesce(p.proacl::text, ''), coalesce(obj_description(p.oid, 'pg_proc'), ''),
               p.prosecdef
        FROM pg_proc AS p WHERE p.pronamespace = 'pgqueue'::regnamespace
        UNION ALL
        SELECT c.relname, pg_get_viewdef(c.oid), c.relowner::regrole::text,
               coalesce(c.relacl::text, ''), coalesce(obj_description(c.oid, 'pg_class'), ''),
               false
        FROM pg_class AS c WHERE c.relnamespace = 'pgqueue'::regnamespace AND c.relkind = 'v'
        ORDER BY 1
        """,
    )


def body(dsn: str, function: str) -> str:
    [[source]] = rows(
        dsn,
        "SELECT prosrc FROM pg_proc WHERE pronamespace = 'pgqueue'::regnamespace AND proname = %s",
        function,
    )
    return str(source)


# -- the files and the revisions that load them (no database) --------------------------------


def test_there_are_definition_files_and_each_is_named_and_opens_with_a_comment() -> None:
    files = definition_files()
    # 0008's ten at least; later revisions add their own (each pinned below).
    assert set(revision_modules()[REVISION].FILES) <= set(files), files
    for path in files:
        match = FILE_NAME.match(path)
        assert match, f"{path}: name it functions/<name>.v<N>.sql or views/<name>.v<N>.sql"
        kind, name, _version = match.groups()
        text = (SQL / path).read_text()
        assert text.startswith("-- "), f"{path}: open with a comment saying what and why"
        statements = re.findall(r"^CREATE OR REPLACE (FUNCTION|VIEW) pgqueue\.(\w+)", text, re.M)
        assert statements == [(kind.rstrip("s").upper(), name)], path


def test_each_file_is_loaded_by_exactly_one_revision_with_its_digest_pinned() -> None:
    found = pins()
    files = definition_files()
    assert sorted(found) == files, (
        "a file loaded by no revision, or a revision loads a missing file"
    )
    for path in files:
        [(revision, digest)] = found[path]  # exactly one revision loads it
        assert digest == migrate.sql_digest(path), (
            f"{path} changed after {revision} landed: put the new text in a new version file and a "
            "new revision (docs/migrations.md, 'SQL functions and views')"
        )


def test_versions_of_each_object_run_from_1_up_in_revision_order() -> None:
    """v1, v2, ... with no gap, each loaded by a later revision than the one before it, so the
    head revision leaves the newest file of every object in the database."""
    order = list(revision_modules())
    found = pins()
    versions: dict[str, list[tuple[int, int]]] = {}
    for path in definition_files():
        match = FILE_NAME.match(path)
        assert match is not None
        kind, name, version = match.groups()
        [(revision, _digest)] = found[path]
        versions.setdefault(f"{kind}/{name}", []).append((int(version), order.index(revision)))
    for key, loaded in versions.items():
        loaded.sort()
        assert [v for v, _ in loaded] == list(range(1, len(loaded) + 1)), key
        assert [r for _, r in loaded] == sorted({r for _, r in loaded}), key


def newest_files() -> list[str]:
    """The newest version of each object: what the head revision leaves in the database."""
    newest: dict[str, tuple[int, str]] = {}
    for path in definition_files():
        match = FILE_NAME.match(path)
        assert match is not None
        kind, name, version = match.groups()
        key = f"{kind}/{name}"
        if key not in newest or int(version) > newest[key][0]:
            newest[key] = (int(version), path)
    return sorted(path for _, path in newest.values())


def test_enqueue_has_one_insert_body() -> None:
    texts = [(SQL / p).read_text() for p in newest_files()]
    # Two since 0015_enqueue_fast: enqueue_many's and enqueue_one's (one job in typed
    # parameters), held to the same row by tests/integration/test_enqueue_paths_rows.py; three
    # since 0017_enqueue_batch (a batch without unique keys or parents, one array per column).
    inserts = {
        p: t.count("INSERT INTO pgqueue.jobs") for p, t in zip(newest_files(), texts, strict=True)
    }
    assert {p: n for p, n in inserts.items() if n} == {
        "functions/enqueue_batch.v1.sql": 1,
        "functions/enqueue_many.v5.sql": 1,
        "functions/enqueue_one.v2.sql": 1,
    }
    assert "pg_notify('pgqueue_done'" not in (SQL / "functions/cancel.v1.sql").read_text()
    # Among the queries, three: the plain INSERTs of a job without options, of a single keyless
    # job and of a keyless batch by a role that owns the table (pgqueue/_repository/jobs.py,
    # Jobs._as_owner), held to the same rows as well.
    queries = {p.name: p.read_text().count("INSERT INTO pgqueue.jobs") for p in SQL.glob("*.sql")}
    assert {name: n for name, n in queries.items() if n} == {
        "job_insert_batch.sql": 1,
        "job_insert_one.sql": 1,
        "job_insert_plain.sql": 1,
    }


# -- the database --------------------------------------------------------------------------


def retired_files() -> set[str]:
    """The newest files of objects a later revision dropped (its RETIRED list, e.g. 0016's trigger
    functions): kept for the downgrade, absent from a database at head."""
    return {
        path for module in revision_modules().values() for path in getattr(module, "RETIRED", [])
    }


def test_the_database_holds_the_files_bodies(dsn: str) -> None:
    retired = retired_files()
    for path in newest_files():
        match = FILE_NAME.match(path)
        assert match is not None
        kind, name, _version = match.groups()
        if path in retired:
            [[exists]] = rows(
                dsn,
                "SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgqueue'::regnamespace "
                "AND proname = %s",
                name,
            )
            assert exists == 0, path
            continue
        text = migrate.sql_definition(path)
        if kind == "functions":
            assert body(dsn, name) == text.split("$$", 2)[1], path
        else:
            [[exists]] = rows(dsn, "SELECT to_regclass(%s) IS NOT NULL", f"pgqueue.{name}")
            assert exists, path


def test_upgrade_and_downgrade_of_0008(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    before = objects(empty_db)
    assert body(empty_db, "enqueue_many").count("INSERT INTO pgqueue.jobs") == 3
    assert "pgqueue_done" in body(empty_db, "cancel")

    migrate.upgrade(empty_db, REVISION)
    after = objects(empty_db)
    assert body(empty_db, "enqueue_many").count("INSERT INTO pgqueue.jobs") == 1
    assert "pgqueue_done" not in body(empty_db, "cancel")
    # Only the two bodies changed; owners, grants, comments and SECURITY DEFINER are kept.
    changed = {b[0] for b, a in zip(before, after, strict=True) if b != a}
    assert changed == {"enqueue_many", "cancel"}
    assert [b[2:] for b in before] == [a[2:] for a in after]

    migrate.downgrade(empty_db, PREVIOUS)
    assert objects(empty_db) == before
    migrate.upgrade(empty_db, REVISION)
    assert objects(empty_db) == after


@pytest.mark.parametrize("role", ["pgqueue_sql_files_producer"])
def test_a_producer_role_still_enqueues_through_the_new_body(empty_db: str, role: str) -> None:
    role = f"{role}_{uuid.uuid4().hex[:8]}"  # roles belong to the whole server: this run's own
    migrate.upgrade(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")  # type: ignore[arg-type]
        conn.execute(f"CREATE ROLE {role}")  # type: ignore[arg-type]
        try:
            conn.execute("SELECT pgqueue.grant_producer(%s)", (role,))
            conn.execute(f"SET ROLE {role}")  # type: ignore[arg-type]
            got = conn.execute(
                "SELECT ord, duplicate FROM pgqueue.enqueue_many(%s::jsonb)",
                (
                    '[{"task": "t"}, {"task": "t", "unique_key": "k"}, {"task": "t", "unique_key": "k"}]',
                ),
            ).fetchall()
            conn.execute("RESET ROLE")
            assert [tuple(r) for r in got] == [(1, False), (2, False), (3, True)]
            assert rows(empty_db, "SELECT count(*) FROM pgqueue.jobs") == [(2,)]
        finally:
            conn.execute("RESET ROLE")
            conn.execute(f"REVOKE ALL ON SCHEMA pgqueue FROM {role}")  # type: ignore[arg-type]
            conn.execute("SELECT pgqueue.revoke_access(%s)", (role,))
            conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]


async def test_a_batch_waiting_on_a_keys_holder_writes_each_job_once(dsn: str) -> None:
    """A batch with a job without a key and a keyed job whose holder finishes while the batch
    waits on it: the plain job is written once, the key gets a new job, every job its own id."""
    holder = await asyncpg.connect(dsn)
    other = await asyncpg.connect(dsn)
    try:
        tx = holder.transaction()
        await tx.start()
        held = await holder.fetchval("SELECT pgqueue.enqueue('t', unique_key => 'w')")
        waiting = asyncio.create_task(
            other.fetch(
                "SELECT ord, id, duplicate FROM pgqueue.enqueue_many($1::jsonb) ORDER BY ord",
                '[{"task": "plain"}, {"task": "t", "unique_key": "w"}]',
            )
        )

        async def is_waiting() -> bool:
            n = await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            return bool(n)

        await wait_for(is_waiting, message="the batch to wait on the key's holder")
        await holder.execute(
            "UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now() WHERE id = $1", held
        )
        await tx.commit()
        got = await waiting
    finally:
        await holder.close()
        await other.close()
    assert [(r["ord"], r["duplicate"]) for r in got] == [(1, False), (2, False)]
    jobs = rows(dsn, "SELECT id, task, state, unique_key FROM pgqueue.jobs ORDER BY id")
    assert sorted(jobs) == sorted(
        [
            (held, "t", "succeeded", "w"),
            (got[0]["id"], "plain", "queued", None),
            (got[1]["id"], "t", "queued", "w"),
        ]
    )
