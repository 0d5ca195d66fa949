"""Issue 14 item 13: dead letters requeued or purged from SQL (pgqueue.requeue_dead,
pgqueue.purge_dead: revision 0011_dead_letter_functions), from Python (app.requeue_dead,
app.purge_dead) and from the CLI (`pgqueue dlq requeue / purge`), all through the same two
functions; by id and by filter (task, queue, the last error's kind, died before / after)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import asyncpg
import psycopg
import pytest

from pgqueue import App
from tests.helpers import fetch, fetchval
from tests.integration.test_ops_cli import cli, cli_json
from tests.roles import dsn_as, temporary_role

SQL = Path(__file__).resolve().parents[2] / "pgqueue" / "_sql"


async def add_dead(
    dsn: str,
    n: int,
    *,
    task: str = "t",
    queue: str = "default",
    kind: str = "exception",
    age: str = "1 hour",
) -> list[int]:
    """n dead letters whose last error has `kind`, that died `age` ago."""
    rows = await fetch(
        dsn,
        """
        INSERT INTO pgqueue.jobs (task, queue, state, attempts, finished_at, errors)
        SELECT $1, $2, 'dead', 3, now() - $4::text::interval,
               jsonb_build_array(jsonb_build_object('kind', 'timeout', 'type', 'E'),
                                 jsonb_build_object('kind', $3::text, 'type', 'E'))
        FROM generate_series(1, $5)
        RETURNING id
        """,
        task,
        queue,
        kind,
        age,
        n,
    )
    return [r["id"] for r in rows]


async def states(dsn: str) -> dict[int, str]:
    return {r["id"]: r["state"] for r in await fetch(dsn, "SELECT id, state FROM pgqueue.jobs")}


async def test_sql_requeue_by_id_and_by_each_filter(dsn: str) -> None:
    a = await add_dead(dsn, 3, task="a", age="3 hours")
    b = await add_dead(dsn, 2, task="b", queue="q2", kind="worker_lost", age="2 hours")
    c = await add_dead(dsn, 4, task="c", queue="q2", age="10 minutes")
    requeue = "SELECT pgqueue.requeue_dead({})"
    assert await fetchval(dsn, requeue.format("ARRAY[$1, $2, 999]::bigint[]"), a[0], b[0]) == 2
    assert await fetchval(dsn, requeue.format("error_kind => 'worker_lost'")) == 1  # b[1]
    assert await fetchval(dsn, requeue.format("task => 'a', queue => 'q2'")) == 0
    assert (
        await fetchval(
            dsn, requeue.format("died_before => now() - interval '1 hour', max_jobs => 1")
        )
        == 1
    )  # the oldest: a[1]
    assert await fetchval(dsn, requeue.format("died_after => now() - interval '1 hour'")) == 4
    assert await fetchval(dsn, requeue.format("all_dead => true")) == 1  # a[2], the last
    rows = await fetch(dsn, "SELECT state, attempts, finished_at FROM pgqueue.jobs")
    assert {tuple(r) for r in rows} == {("queued", 0, None)} and len(rows) == 9
    assert len(a + b + c) == 9


async def test_sql_purge_by_filter_deletes_only_dead_letters(dsn: str) -> None:
    old = await add_dead(dsn, 3, kind="payload", age="10 days")
    recent = await add_dead(dsn, 2, queue="mail", kind="payload")
    other_kind = await add_dead(dsn, 1, queue="mail")
    live = await fetchval(dsn, "SELECT pgqueue.enqueue('t', queue => 'mail')")
    purge = "SELECT pgqueue.purge_dead({})"
    assert await fetchval(dsn, purge.format("queue => 'mail', died_after => now()")) == 0
    assert await fetchval(dsn, purge.format("queue => 'mail', error_kind => 'payload'")) == 2
    assert await fetchval(dsn, purge.format("died_before => now() - interval '1 day'")) == 3
    assert await states(dsn) == {other_kind[0]: "dead", live: "queued"}
    assert await fetchval(dsn, purge.format("all_dead => true, max_jobs => 5")) == 1
    assert await states(dsn) == {live: "queued"}
    assert old and recent


async def test_a_bare_call_is_refused_with_a_hint(dsn: str) -> None:
    await add_dead(dsn, 2)
    for function in ("requeue_dead", "purge_dead"):
        with pytest.raises(asyncpg.InvalidParameterValueError) as caught:
            await fetchval(dsn, f"SELECT pgqueue.{function}()")
        assert caught.value.args[0] == f"pgqueue.{function}: no filter given"
        assert "all_dead => true" in caught.value.hint
        with pytest.raises(asyncpg.InvalidParameterValueError, match="max_jobs must be at least"):
            await fetchval(dsn, f"SELECT pgqueue.{function}(task => 't', max_jobs => 0)")
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'dead'") == 2


async def test_python_methods_count_and_a_requeued_job_runs(dsn: str, app: App) -> None:
    fixed = False

    @app.task(name="flaky", max_attempts=1)
    def flaky(n: int) -> int:
        if not fixed:
            raise RuntimeError("bug")
        return n

    ids = await app.enqueue_many([flaky.job(n) for n in range(3)])
    await asyncio.wait_for(app.worker().run(until_empty=True), 20)
    assert set((await states(dsn)).values()) == {"dead"}
    with pytest.raises(ValueError, match="pass all_dead=True"):
        await app.requeue_dead()
    with pytest.raises(ValueError, match="cannot be combined"):
        await app.purge_dead(task="flaky", all_dead=True)
    assert await app.requeue_dead(task="flaky", error_kind="timeout") == 0
    assert await app.purge_dead([ids[0]], error_kind="exception") == 1
    assert await app.requeue_dead([ids[0]]) == 0  # purged already
    now = await fetchval(dsn, "SELECT now()")
    assert await app.requeue_dead(task="flaky", died_after=now) == 0
    fixed = True
    assert await app.requeue_dead(task="flaky", died_before=now + timedelta(seconds=1)) == 2
    await asyncio.wait_for(app.worker().run(until_empty=True), 20)
    assert await states(dsn) == {ids[1]: "succeeded", ids[2]: "succeeded"}
    assert [await app.result(i, timeout=5) for i in ids[1:]] == [1, 2]


async def test_cli_filters_by_kind_and_counts_exactly(dsn: str) -> None:
    lost = await add_dead(dsn, 2, kind="worker_lost")
    failed = await add_dead(dsn, 3, kind="exception")
    assert await cli_json(dsn, "dlq", "requeue", "--kind", "worker_lost") == {"requeued": 2}
    assert await cli_json(dsn, "dlq", "purge", "--kind", "exception", "--yes") == {"purged": 3}
    assert await states(dsn) == dict.fromkeys(lost, "queued")
    assert failed
    rc, _, err = await cli(dsn, "dlq", "purge", "--kind", "nope", "--all", "--yes")
    assert rc == 2 and "--all cannot be combined with ids, --queue, --task or --kind" in err


def test_the_repository_calls_the_functions_and_nothing_else() -> None:
    """One path: the repository's queries are calls of the SQL functions, no copy of them."""
    for name, function in [("job_requeue_dead", "requeue_dead"), ("job_purge_dead", "purge_dead")]:
        text = (SQL / f"{name}.sql").read_text()
        code = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
        assert code.startswith(f"SELECT pgqueue.{function}(")
        assert "pgqueue.jobs" not in code


def test_an_operator_role_needs_grant_operator_and_no_table_privilege(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO pgqueue.jobs (task, state, finished_at, errors) "
            "SELECT 't', 'dead', now(), '[{\"kind\": \"exception\"}]' FROM generate_series(1, 3)"
        )
    with temporary_role(dsn, "operator") as operator, temporary_role(dsn, "nobody") as nobody:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pgqueue.grant_operator(%s)", (operator,))
            conn.execute(f"GRANT USAGE ON SCHEMA pgqueue TO {nobody}")  # type: ignore[arg-type]
        with (
            psycopg.connect(dsn_as(nobody, dsn), autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("SELECT pgqueue.purge_dead(all_dead => true)")
        with psycopg.connect(dsn_as(operator, dsn), autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pgqueue.dead_letters").fetchone() == (3,)
            ids = [r[0] for r in conn.execute("SELECT id FROM pgqueue.dead_letters ORDER BY id")]
            assert conn.execute(
                "SELECT pgqueue.requeue_dead(%s::bigint[])", ([ids[0]],)
            ).fetchone() == (1,)
            assert conn.execute(
                "SELECT pgqueue.purge_dead(error_kind => 'exception')"
            ).fetchone() == (2,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM pgqueue.jobs")
