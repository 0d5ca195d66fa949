"""Revision 0016_finish_hooks up and down: pgqueue.jobs keeps no UPDATE trigger with a transition
table (only the row trigger for wake-ups), pgqueue.jobs_finished() is in, and the downgrade puts
0014's triggers, functions, grants and comments back exactly."""

from __future__ import annotations

import psycopg

from pgqueue import migrate
from tests.migrations.test_notify_v2_migration import triggers
from tests.migrations.test_sql_files import objects, rows

REVISION = "0016_finish_hooks"
PREVIOUS = "0015_enqueue_fast"


def chain(dsn: str) -> tuple[int, int, int]:
    """A parent and a child waiting on it, then the parent cancelled through pgqueue.cancel():
    (parent, child, cancelled children)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        [parent] = conn.execute("SELECT pgqueue.enqueue('a')").fetchone() or [0]
        [child] = conn.execute(
            "SELECT pgqueue.enqueue('b', depends_on => ARRAY[%s]::bigint[])", (parent,)
        ).fetchone() or [0]
        conn.execute("SELECT pgqueue.cancel(%s)", (parent,))
        [[n]] = conn.execute(
            "SELECT count(*) FROM pgqueue.jobs WHERE id = %s AND state = 'cancelled'", (child,)
        ).fetchall()
    return parent, child, n


def test_upgrade_and_downgrade_of_0016(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    before = (objects(empty_db), triggers(empty_db))
    assert chain(empty_db)[2] == 1  # 0014's trigger cascades

    migrate.upgrade(empty_db, REVISION)
    # 0015_enqueue_fast dropped the insert trigger: the enqueue functions send that wake-up.
    assert [name for name, _ in triggers(empty_db)] == ["jobs_notify_queued"]
    assert rows(
        empty_db,
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pgqueue.jobs'::regclass "
        "AND NOT tgisinternal AND (tgtype & 16) <> 0 "  # TRIGGER_TYPE_UPDATE
        "AND (tgoldtable IS NOT NULL OR tgnewtable IS NOT NULL)",
    ) == [(0,)]
    names = {row[0] for row in objects(empty_db)}
    assert "jobs_finished" in names
    assert not names & {"resolve_dependencies", "notify_jobs_finishing"}
    assert chain(empty_db)[2] == 1  # the hook cascades
    after = (objects(empty_db), triggers(empty_db))

    migrate.downgrade(empty_db, PREVIOUS)
    assert (objects(empty_db), triggers(empty_db)) == before
    assert chain(empty_db)[2] == 1
    migrate.upgrade(empty_db, REVISION)
    assert (objects(empty_db), triggers(empty_db)) == after
