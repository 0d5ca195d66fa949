"""Revision 0018_enqueue_one_v2 up and down: pgqueue.enqueue_one v2 (the same signature, owner,
grants and comment, a new body whose round-limit error names enqueue_one), the same rows and
messages as v1 for the same calls, and back to v1's definition exactly."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from pgqueue import App, migrate
from tests.migrations.test_sql_files import objects, rows

REVISION = "0018_enqueue_one_v2"
PREVIOUS = "0017_enqueue_batch"
# Roles belong to the whole server: a name of this run's own, so suites run at once never share one.
RUN = uuid.uuid4().hex[:8]
ROLE = f"pgqueue_enqueue_one_v2_producer_{RUN}"
ROUNDS_MESSAGE = "pgqueue.enqueue_one: unique keys kept changing hands; retry"
# The row columns an enqueue decides (ids and times aside).
COLUMNS = (
    "task, args::text, kwargs::text, queue, priority, state, max_attempts, unique_key, "
    "metadata::text, limit_key, limited, attempts, errors::text"
)
CALLS = [
    "pgqueue.enqueue_one('a')",
    "pgqueue.enqueue_one('b', '[1]', '{\"x\": 2}', 'q', 5, NULL, NULL, 3, NULL, '{\"m\": 1}', 'L')",
    "pgqueue.enqueue_one('c', 'null', 'null', NULL, NULL, NULL, 3600, NULL, NULL, 'null')",
    "pgqueue.enqueue_one('limited', queue => 'lq')",
    "pgqueue.enqueue_one('u', unique_key => 'k1')",
    "pgqueue.enqueue_one('u', unique_key => 'k1')",  # the duplicate
]
BAD = [
    "pgqueue.enqueue_one('')",
    "pgqueue.enqueue_one('t', args => '{}')",
    "pgqueue.enqueue_one('t', queue => E'q\\x01')",
    "pgqueue.enqueue_one('t', max_attempts => 0)",
    "pgqueue.enqueue_one('t', metadata => '[]')",
    "pgqueue.enqueue_one('t', limit_key => E'k\\x7f')",
]


def _source(dsn: str) -> str:
    [[source]] = rows(dsn, "SELECT prosrc FROM pg_proc WHERE proname = 'enqueue_one'")
    return str(source)


def _writes(dsn: str) -> tuple[list[tuple[Any, ...]], list[Any], list[str], list[str]]:
    """The rows CALLS write (as ROLE, a producer), whether each was a duplicate, the messages
    of BAD, and the wake-ups heard: all of it in a database emptied first."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM pgqueue.jobs")
        conn.execute("DELETE FROM pgqueue.limits")
        conn.execute(
            "INSERT INTO pgqueue.limits (scope, name, concurrency) VALUES ('queue', 'lq', 1)"
        )
        conn.execute("LISTEN pgqueue_jobs")
        conn.execute(f"SET ROLE {ROLE}")  # type: ignore[arg-type]
        duplicates = []
        for call in CALLS:
            [[duplicate]] = conn.execute(f"SELECT duplicate FROM {call}").fetchall()  # type: ignore[arg-type]
            duplicates.append(duplicate)
        messages = []
        for call in BAD:
            with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
                conn.execute(f"SELECT * FROM {call}")  # type: ignore[arg-type]
            messages.append(str(caught.value).splitlines()[0])
        conn.execute("RESET ROLE")
        heard = [n.payload for n in conn.notifies(timeout=0.5, stop_after=4)]
    written = rows(dsn, f"SELECT {COLUMNS} FROM pgqueue.jobs ORDER BY id")
    return written, duplicates, messages, heard


def test_upgrade_and_downgrade_of_0018(empty_db: str) -> None:
    migrate.upgrade(empty_db, PREVIOUS)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {ROLE}")  # type: ignore[arg-type]
        conn.execute(f"CREATE ROLE {ROLE}")  # type: ignore[arg-type]
    try:
        rows(empty_db, "SELECT pgqueue.grant_producer(%s)", ROLE)
        before = objects(empty_db)
        assert ROUNDS_MESSAGE not in _source(empty_db)
        v1 = _writes(empty_db)

        migrate.upgrade(empty_db, REVISION)
        assert ROUNDS_MESSAGE in _source(empty_db)
        after = objects(empty_db)
        # Only enqueue_one's body changed: its owner, grants, comment and every other object
        # are as they were.
        changed = [(b[0], a[0]) for b, a in zip(before, after, strict=True) if b != a]
        assert changed == [("enqueue_one", "enqueue_one")]
        old = next(b for b in before if b[0] == "enqueue_one")
        new = next(a for a in after if a[0] == "enqueue_one")
        assert old[2:] == new[2:]  # owner, grants, comment, SECURITY DEFINER
        v2 = _writes(empty_db)
        assert v2 == v1
        assert v2[1] == [False, False, False, False, False, True]
        assert v2[3] == ["default", "q", "lq", "default"]  # the scheduled one wakes nobody

        migrate.downgrade(empty_db, PREVIOUS)
        assert objects(empty_db) == before
        migrate.upgrade(empty_db, REVISION)
        assert objects(empty_db) == after
    finally:
        with psycopg.connect(empty_db, autocommit=True) as conn:
            conn.execute("SELECT pgqueue.revoke_access(%s)", (ROLE,))
            conn.execute(f"DROP ROLE {ROLE}")  # type: ignore[arg-type]


async def test_a_job_for_enqueue_many_does_not_decide_the_schema(empty_db: str) -> None:
    """A single job one_job_parameters leaves to enqueue_many (one with parents) says nothing
    about pgqueue.enqueue_one: the App still tries it at the next job it fits (revision 0015's
    fallback for older schemas stays as it was)."""
    await migrate.upgrade_async(empty_db, REVISION)
    app = App(empty_db)
    try:
        # Keyed, so they go to enqueue_one: a keyless one is the owner's plain INSERT.
        parent = await app.enqueue("t", allow_unknown=True, unique_key="parent")
        repository = await app._repo()
        assert repository.enqueue_one is True
        repository.enqueue_one = None  # as a new App: not known yet
        child = await app.enqueue("t", allow_unknown=True, depends_on=[parent])
        assert repository.enqueue_one is None
        third = await app.enqueue("t", allow_unknown=True, unique_key="third")
        assert repository.enqueue_one is True
    finally:
        await app.close()
    assert rows(empty_db, "SELECT id, state FROM pgqueue.jobs ORDER BY id") == [
        (parent, "queued"),
        (child, "waiting"),
        (third, "queued"),
    ]
