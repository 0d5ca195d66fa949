"""Revision 0017_enqueue_batch up and down: pgqueue.enqueue_batch in, granted to whoever could
enqueue before (a producer, a worker) and to roles granted after through the new grant helpers,
not to PUBLIC; back to 0016's objects exactly; an app on a 0016 schema sends batches to
enqueue_many."""

from __future__ import annotations

import uuid

import psycopg

from pgqueue import App, JobRequest, migrate
from tests.migrations.test_sql_files import objects, rows

REVISION = "0017_enqueue_batch"
PREVIOUS = "0016_finish_hooks"
# Roles belong to the whole server: a name of this run's own, so suites run at once never share one.
RUN = uuid.uuid4().hex[:8]
PRODUCER = f"pgqueue_enqueue_batch_producer_{RUN}"
WORKER = f"pgqueue_enqueue_batch_worker_{RUN}"
LATER = f"pgqueue_enqueue_batch_later_{RUN}"
ROLES = (PRODUCER, WORKER, LATER)
BATCH = "SELECT count(*) FROM pgqueue.enqueue_batch(ARRAY['a', 'b'], queue => ARRAY['q', NULL])"


def as_role(dsn: str, role: str, sql: str) -> object:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET ROLE {role}")  # type: ignore[arg-type]
        try:
            row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
        finally:
            conn.execute("RESET ROLE")
    return None if row is None else row[0]


def test_upgrade_and_downgrade_of_0017(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        for role in ROLES:
            conn.execute(f"DROP ROLE IF EXISTS {role}")  # type: ignore[arg-type]
            conn.execute(f"CREATE ROLE {role}")  # type: ignore[arg-type]
    try:
        rows(empty_db, "SELECT pgqueue.grant_producer(%s)", PRODUCER)  # granted at 0016
        rows(empty_db, "SELECT pgqueue.grant_worker(%s)", WORKER)
        before = objects(empty_db)
        assert "enqueue_batch" not in {row[0] for row in before}

        migrate.upgrade(empty_db, REVISION)
        for role in (PRODUCER, WORKER):
            assert as_role(empty_db, role, BATCH) == 2
        assert rows(
            empty_db,
            "SELECT has_function_privilege('public', p.oid, 'EXECUTE'), p.prosecdef, "
            "p.proconfig FROM pg_proc AS p WHERE p.proname = 'enqueue_batch'",
        ) == [(False, True, ["search_path=pg_catalog, pg_temp"])]
        assert (
            rows(empty_db, "SELECT queue, state FROM pgqueue.jobs WHERE task = 'a' ORDER BY id")
            == [("q", "queued")] * 2
        )
        after = objects(empty_db)

        migrate.downgrade(empty_db, PREVIOUS)
        assert objects(empty_db) == before
        migrate.upgrade(empty_db, REVISION)
        assert objects(empty_db) == after
        rows(empty_db, "SELECT pgqueue.grant_producer(%s)", LATER)  # granted at 0017
        rows(empty_db, "SELECT pgqueue.grant_worker(%s)", LATER)
        assert as_role(empty_db, LATER, BATCH) == 2
    finally:
        with psycopg.connect(empty_db, autocommit=True) as conn:
            for role in ROLES:
                conn.execute("SELECT pgqueue.revoke_access(%s)", (role,))
                conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]


async def test_an_app_on_a_schema_before_0017_enqueues_batches_through_enqueue_many(
    empty_db: str,
) -> None:
    """The pool/lane path tries pgqueue.enqueue_batch once (autocommit, so a missing function
    changes nothing) and, on a 0016 schema, sends every batch to enqueue_many from then on. The
    owner's plain INSERT (job_insert_batch.sql) needs no function, so it works there too."""
    await migrate.upgrade_async(empty_db, PREVIOUS)
    batch = [JobRequest("t", [i], {}) for i in range(3)]
    app = App(empty_db)
    try:
        repository = await app._repo()
        owned = await app.enqueue_many(batch)
        assert (repository.insert_one, repository.enqueue_batch) == (True, None)
        repository.insert_one = False  # as a role that may not insert: the functions' path
        first = await app.enqueue_many(batch)
        second = await app.enqueue_many(batch[:2])
        assert repository.enqueue_batch is False
        repository.insert_one = None
        single = await app.enqueue("t", [9], allow_unknown=True)
        # A keyless single job is the owner's plain INSERT (job_insert_one.sql), which never
        # asks for enqueue_one: it stays unknown, not refused.
        assert repository.insert_one is True
        assert repository.enqueue_one is not False
    finally:
        await app.close()
    assert rows(empty_db, "SELECT id, args::text FROM pgqueue.jobs ORDER BY id") == [
        (job_id, f"[{i}]")
        for i, job_id in [*enumerate(owned), *enumerate(first), *enumerate(second)]
    ] + [(single, "[9]")]
    await migrate.upgrade_async(empty_db, REVISION)
    app = App(empty_db)
    try:
        more = await app.enqueue_many(batch)
        assert (await app._repo()).enqueue_batch is not False
    finally:
        await app.close()
    assert rows(empty_db, "SELECT count(*) FROM pgqueue.jobs WHERE id = ANY (%s)", more) == [(3,)]
