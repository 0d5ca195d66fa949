"""Workflows (issue 12, docs/workflows.md): dependencies, chains, groups with a callback, against
real PostgreSQL and real workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from pgqueue import App, JobState, current_job
from tests.helpers import all_finished, count_states, fetch, fetchval, running_worker, wait_for
from tests.integration.test_enqueue import sqlalchemy_url

STATES = "SELECT id, state FROM pgqueue.jobs ORDER BY id"


@contextlib.asynccontextmanager
async def two_workers(first: App, second: App, **settings: Any) -> AsyncIterator[None]:
    async with running_worker(first, **settings), running_worker(second, **settings):
        yield


def states_of(rows: list[asyncpg.Record]) -> list[str]:
    return [r["state"] for r in rows]


async def test_a_chain_runs_in_order_over_two_workers(dsn: str) -> None:
    seen: list[tuple[int, list[Any]]] = []

    def make(dsn: str) -> App:
        app = App(dsn)

        @app.task(name="step")
        async def step(n: int) -> int:
            seen.append((n, await current_job().parent_results()))
            return n * 10

        return app

    first, second = make(dsn), make(dsn)
    try:
        ids = await first.chain(
            *(first.registry.require("step").job(n) for n in range(6))
        ).enqueue()
        assert states_of(await fetch(dsn, STATES)) == ["queued"] + ["waiting"] * 5
        async with two_workers(first, second, concurrency=4):
            await wait_for(lambda: all_finished(dsn, 6), message="the chain")
        # Each step read its parent's stored result, which exists only once the parent's
        # completion committed: that is the order. (Timestamps cannot show it: started_at and
        # finished_at are each their own transaction's now(), and CI once saw a child's
        # started_at 0.8 ms before its parent's finished_at.)
        assert seen == [(0, [])] + [(n, [(n - 1) * 10]) for n in range(1, 6)]
        assert len(ids) == 6
        assert await count_states(dsn) == {"succeeded": 6}
    finally:
        await first.close()
        await second.close()


async def test_a_groups_callback_runs_once_after_members_finishing_together(dsn: str) -> None:
    """Members held until all of them run on two workers, then released at once: their
    completions commit at the same moment, and the callback still runs exactly once."""
    release = asyncio.Event()
    calls: list[list[Any]] = []
    members = 8

    def make(dsn: str) -> App:
        app = App(dsn)

        @app.task(name="member")
        async def member(n: int) -> int:
            await release.wait()
            return n

        @app.task(name="callback")
        async def callback() -> int:
            calls.append(await current_job().parent_results())
            return len(calls)

        return app

    first, second = make(dsn), make(dsn)
    try:
        member_task = first.registry.require("member")
        ids = (
            await first.group([member_task.job(n) for n in range(members)])
            .then(first.registry.require("callback").job())
            .enqueue()
        )
        async with two_workers(
            first, second, concurrency=members // 2, completion_flush_interval=0.001
        ):

            async def all_running() -> bool:
                n = await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'")
                return bool(n == members)

            await wait_for(all_running, message="every member running")
            # Half the members on each worker (concurrency members // 2 each): both finish some.
            holders = await fetchval(
                dsn, "SELECT count(DISTINCT worker_id) FROM pgqueue.jobs WHERE state = 'running'"
            )
            assert holders == 2
            assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", ids[-1]) == (
                "waiting"
            )
            release.set()
            await wait_for(lambda: all_finished(dsn, members + 1), message="the callback")
        assert calls == [list(range(members))]
        row = (await fetch(dsn, "SELECT state, attempts FROM pgqueue.jobs WHERE id = $1", ids[-1]))[
            0
        ]
        assert (row["state"], row["attempts"]) == ("succeeded", 1)
    finally:
        await first.close()
        await second.close()


async def _finish(conn: asyncpg.Connection, job_id: int) -> None:
    """Finish a job as pgqueue's own statements do (job_complete_many.sql): the UPDATE hands the
    ids it finished to pgqueue.jobs_finished() in the same statement (0016_finish_hooks)."""
    await conn.execute(
        "WITH f AS (UPDATE pgqueue.jobs SET state = 'succeeded', finished_at = now(), "
        "result = '1', worker_id = NULL WHERE id = $1 RETURNING id) "
        "SELECT pgqueue.jobs_finished(ARRAY(SELECT f.id FROM f))",
        job_id,
    )


@pytest.mark.parametrize("first_commits", ["a", "b"])
async def test_two_parents_finishing_in_concurrent_transactions_queue_the_child_once(
    dsn: str, first_commits: str
) -> None:
    """The race itself, step by step: two transactions each finish one parent; neither sees the
    other's uncommitted success. The child is locked by the first, so the second waits for its
    commit and then sees both parents finished: the child is queued, neither missed nor twice."""
    setup = await asyncpg.connect(dsn)
    one, two = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        rows = await setup.fetch(
            "SELECT id FROM pgqueue.enqueue_many($1::jsonb) ORDER BY ord",
            '[{"task": "a"}, {"task": "b"}, {"task": "c", "depends_on_batch": [1, 2]}]',
        )
        a, b, child = (r["id"] for r in rows)
        order = (a, b) if first_commits == "a" else (b, a)
        t1, t2 = one.transaction(), two.transaction()
        await t1.start()
        await t2.start()
        await _finish(one, order[0])
        second = asyncio.ensure_future(_finish(two, order[1]))
        await asyncio.sleep(0)  # let the second statement reach the child's lock

        async def blocked() -> bool:
            return bool(
                await setup.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            )

        await wait_for(
            blocked, timeout=5, message="the second completion waiting on the child's lock"
        )
        assert not second.done()
        await t1.commit()
        await second
        await t2.commit()
        assert await setup.fetchval("SELECT state FROM pgqueue.jobs WHERE id = $1", child) == (
            "queued"
        )
    finally:
        for conn in (setup, one, two):
            await conn.close()


async def test_a_failed_member_cancels_the_callback_and_what_waits_on_it(
    app: App, dsn: str
) -> None:
    @app.task(name="ok")
    def ok() -> str:
        return "fine"

    @app.task(name="fails", max_attempts=1)
    def fails() -> None:
        raise RuntimeError("boom")

    @app.task(name="after")
    def after() -> None:
        raise AssertionError("must not run")

    *_, callback = await app.group([ok.job(), fails.job()]).then(after.job()).enqueue()
    grandchild = await after.using(depends_on=[callback]).enqueue()
    async with running_worker(app):
        await wait_for(lambda: all_finished(dsn, 4), message="the workflow to end")
    rows = await fetch(dsn, "SELECT id, state, errors -> -1 AS error FROM pgqueue.jobs ORDER BY id")
    assert states_of(rows) == ["succeeded", "dead", "cancelled", "cancelled"]
    errors = {r["id"]: json.loads(r["error"]) for r in rows if r["error"]}
    assert errors[callback]["kind"] == "dependency"
    assert errors[callback]["message"] == f"parent job {rows[1]['id']} ended dead"
    assert errors[grandchild]["message"] == f"parent job {callback} ended cancelled"


async def test_a_callback_with_on_parent_failure_run_runs_with_none_for_the_failed(
    app: App, dsn: str
) -> None:
    got: list[list[Any]] = []

    @app.task(name="ok")
    def ok() -> str:
        return "fine"

    @app.task(name="fails", max_attempts=1)
    def fails() -> None:
        raise RuntimeError("boom")

    @app.task(name="tally")
    def tally() -> int:
        got.append(current_job().parent_results_sync())
        return len(got)

    await (
        app.group([ok.job(), fails.job()])
        .then(tally.using(on_parent_failure="run").job())
        .enqueue()
    )
    async with running_worker(app):
        await wait_for(lambda: all_finished(dsn, 3), message="the callback")
    assert states_of(await fetch(dsn, STATES)) == ["succeeded", "dead", "succeeded"]
    assert got == [["fine", None]]


async def test_a_rolled_back_transaction_leaves_no_job_of_the_workflow(app: App, dsn: str) -> None:
    @app.task(name="t")
    def t(n: int) -> int:
        return n

    conn = await asyncpg.connect(dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        ids = await app.group([t.job(1), t.job(2)]).then(t.job(3)).enqueue(connection=conn)
        assert len(ids) == 3
        await tx.rollback()
        async with conn.transaction():
            kept = await app.chain(t.job(1), t.job(2)).enqueue(connection=conn)
    finally:
        await conn.close()

    engine = create_engine(sqlalchemy_url(dsn, "psycopg"))
    try:
        with Session(engine) as session:
            app.chain(t.job(4), t.job(5), t.job(6)).enqueue_sync(connection=session)
            session.rollback()
        with Session(engine) as session, session.begin():
            kept += app.chain(t.job(4), t.job(5)).enqueue_sync(connection=session)
    finally:
        engine.dispose()

    async_engine = create_async_engine(sqlalchemy_url(dsn, "asyncpg"))
    try:
        async with AsyncSession(async_engine) as session:
            await app.group([t.job(7)]).then(t.job(8)).enqueue(connection=session)
            await session.rollback()
        async with AsyncSession(async_engine) as session, session.begin():
            kept += await app.group([t.job(7)]).then(t.job(8)).enqueue(connection=session)
    finally:
        await async_engine.dispose()

    assert [r["id"] for r in await fetch(dsn, STATES)] == kept
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.job_dependencies") == 3
    assert await count_states(dsn) == {"queued": 3, "waiting": 3}


async def test_an_unknown_parent_is_a_clear_error_and_writes_nothing(app: App, dsn: str) -> None:
    @app.task(name="t")
    def t() -> None: ...

    parent = await t.enqueue()
    with pytest.raises(Exception, match=r"job #2 depends on job 999999, which does not exist"):
        await app.enqueue_many([t.job(), t.using(depends_on=[parent, 999999]).job()])
    with pytest.raises(ValueError, match="cannot be combined"):
        t.using(depends_on=[parent], unique_key="k").job()
    with pytest.raises(TypeError, match="list of job ids"):
        t.using(depends_on=parent).job()  # type: ignore[arg-type]
    assert [r["id"] for r in await fetch(dsn, STATES)] == [parent]


async def test_depends_on_from_sql_and_parents_finished_already(app: App, dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        done = await conn.fetchval("SELECT pgqueue.enqueue('a')")
        await _finish(conn, done)
        dead = await conn.fetchval("SELECT pgqueue.enqueue('b')")
        await conn.execute(
            "UPDATE pgqueue.jobs SET state = 'dead', finished_at = now() WHERE id = $1", dead
        )
        ready = await conn.fetchval(
            "SELECT pgqueue.enqueue('c', depends_on => ARRAY[$1]::bigint[])", done
        )
        doomed = await conn.fetchval(
            "SELECT pgqueue.enqueue('c', depends_on => ARRAY[$1, $2]::bigint[])", done, dead
        )
        anyway = await conn.fetchval(
            "SELECT pgqueue.enqueue('c', depends_on => ARRAY[$1]::bigint[], "
            "on_parent_failure => 'run')",
            dead,
        )
        states = dict(await conn.fetch("SELECT id, state FROM pgqueue.jobs"))
    finally:
        await conn.close()
    assert (states[ready], states[doomed], states[anyway]) == ("queued", "cancelled", "queued")
    info = await app.get_job(doomed)
    assert (info.parents, info.children) == ((done, dead), ())
    assert (await app.get_job(done)).children == (ready, doomed)


async def test_cancelling_a_parent_cancels_what_waits_on_it(app: App, dsn: str) -> None:
    @app.task(name="t")
    def t() -> None: ...

    a, _b, _c = await app.chain(t.job(), t.job(), t.job()).enqueue()
    assert await app.cancel(a) == "cancelled"
    assert states_of(await fetch(dsn, STATES)) == ["cancelled"] * 3
    _x, y = await app.chain(t.job(), t.job()).enqueue()
    assert await app.cancel(y) == "cancelled"  # a waiting job itself
    assert states_of(await fetch(dsn, STATES))[3:] == ["queued", "cancelled"]


async def test_a_cascaded_cancel_tells_its_waiters_and_resolves_its_own_children(
    dsn: str,
) -> None:
    """The children resolve_waiting() cancels are finished like any job (0016_finish_hooks): their
    ids go out on pgqueue_done, and a job waiting on one of them with on_parent_failure = 'run'
    is queued, all in the statement that cancelled the first parent."""
    from tests.integration.test_notifications import Listener

    conn = await asyncpg.connect(dsn)
    try:
        parent = await conn.fetchval("SELECT pgqueue.enqueue('a')")
        child = await conn.fetchval(
            "SELECT pgqueue.enqueue('b', depends_on => ARRAY[$1]::bigint[])", parent
        )
        anyway = await conn.fetchval(
            "SELECT pgqueue.enqueue('c', depends_on => ARRAY[$1]::bigint[], "
            "on_parent_failure => 'run')",
            child,
        )
        async with Listener(dsn, "pgqueue_done") as done:
            assert await conn.fetchval("SELECT pgqueue.cancel($1)", parent) == "cancelled"
            heard = await done.drained(conn)
        states = dict(await conn.fetch("SELECT id, state FROM pgqueue.jobs"))
    finally:
        await conn.close()
    assert sorted(int(i) for p in heard for i in p.split(",")) == [parent, child]
    assert states == {parent: "cancelled", child: "cancelled", anyway: "queued"}


async def test_retention_keeps_a_parent_whose_child_has_not_finished(app: App, dsn: str) -> None:
    @app.task(name="t")
    def t() -> None: ...

    first, second = await app.chain(t.job(), t.job()).enqueue()
    lonely = await t.enqueue()
    conn = await asyncpg.connect(dsn)
    try:
        for job_id in (first, lonely):
            await _finish(conn, job_id)
        await conn.execute(
            "UPDATE pgqueue.jobs SET finished_at = now() - interval '30 days' "
            "WHERE state = 'succeeded'"
        )
    finally:
        await conn.close()
    assert await app.repository.prune_jobs(JobState.SUCCEEDED, 3600, 100) == 1
    assert [r["id"] for r in await fetch(dsn, STATES)] == [first, second]


async def test_status_and_jobs_show_name_the_waiting_state_parents_and_children(
    app: App, dsn: str
) -> None:
    from tests.integration.test_ops_cli import cli, cli_json

    @app.task(name="t")
    def t() -> None: ...

    a, b, c = await app.group([t.job(), t.job()]).then(t.job()).enqueue()
    status = await cli_json(dsn, "status")
    [queue] = status["queues"]
    assert (queue["queue"], queue["ready"], queue["waiting"]) == ("default", 2, 1)
    shown = await cli_json(dsn, "jobs", "show", str(c))
    assert (shown["state"], shown["parents"], shown["children"]) == ("waiting", [a, b], [])
    assert (await cli_json(dsn, "jobs", "show", str(a)))["children"] == [c]
    rc, out, _ = await cli(dsn, "jobs", "show", str(c))
    assert rc == 0 and f"{a}, {b}" in out
    rc, out, _ = await cli(dsn, "status")
    assert rc == 0 and "WAITING" in out
    listed = await cli_json(dsn, "jobs", "list", "--state", "waiting")
    assert [j["id"] for j in listed] == [c]


async def test_a_parent_rescued_dead_from_a_lost_worker_cancels_its_child(
    app: App, dsn: str
) -> None:
    """The rescue path ends jobs too: a parent whose worker was lost on its last attempt is
    dead-lettered by the rescuer, and its waiting child is cancelled in the same statement."""
    from tests.integration.test_rescue import add_running_job, add_worker

    await app.open()
    conn = await asyncpg.connect(dsn)
    try:
        lost = await add_worker(conn, state="running", beat_ago="1 hour", ttl="30 s", name="gone")
        parent = await add_running_job(conn, lost, attempts=1, max_attempts=1)
        child = await conn.fetchval(
            "SELECT pgqueue.enqueue('child', depends_on => ARRAY[$1]::bigint[])", parent
        )
        assert await app.repository.rescue_jobs() == {parent: "dead"}
        row = await conn.fetchrow(
            "SELECT state, errors -> -1 ->> 'message' AS why FROM pgqueue.jobs WHERE id = $1",
            child,
        )
    finally:
        await conn.close()
    assert (row["state"], row["why"]) == ("cancelled", f"parent job {parent} ended dead")


async def test_a_job_by_task_name_waits_too(app: App, dsn: str) -> None:
    parent = await app.enqueue("elsewhere.a", allow_unknown=True)
    child = await app.enqueue(
        "elsewhere.b", allow_unknown=True, depends_on=[parent], on_parent_failure="run"
    )
    assert await app.cancel(parent) == "cancelled"
    assert states_of(await fetch(dsn, STATES)) == ["cancelled", "queued"]
    assert (await app.get_job(child)).parents == (parent,)


async def _lock_waits(conn: asyncpg.Connection) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
    )


@pytest.mark.parametrize("first", ["completion", "enqueue"])
async def test_a_child_enqueued_while_its_parent_finishes_is_never_stranded(
    dsn: str, first: str
) -> None:
    """The enqueue locks its parents FOR SHARE: a completion in flight finishes first and the
    enqueue sees it, or the completion waits for the enqueue's commit and its trigger sees the
    child. Either way the child ends queued, never waiting for a parent that already finished."""
    watcher, finisher, producer = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        parent = await watcher.fetchval("SELECT pgqueue.enqueue('parent')")
        finishing, producing = finisher.transaction(), producer.transaction()
        await finishing.start()
        await producing.start()
        enqueue = "SELECT pgqueue.enqueue('child', depends_on => ARRAY[$1]::bigint[])"
        if first == "completion":
            await _finish(finisher, parent)
            blocked = asyncio.ensure_future(producer.fetchval(enqueue, parent))
            await wait_for(lambda: _lock_waits(watcher), timeout=5, message="the enqueue waiting")
            await finishing.commit()
            child = await blocked
            await producing.commit()
        else:
            child = await producer.fetchval(enqueue, parent)
            blocked = asyncio.ensure_future(_finish(finisher, parent))
            await wait_for(
                lambda: _lock_waits(watcher), timeout=5, message="the completion waiting"
            )
            await producing.commit()
            await blocked
            await finishing.commit()
        state = await watcher.fetchval("SELECT state FROM pgqueue.jobs WHERE id = $1", child)
    finally:
        for conn in (watcher, finisher, producer):
            await conn.close()
    assert state == "queued"


@dataclass
class Thumb:
    size: int
    path: str


async def test_parent_results_of_a_task_come_back_typed_and_in_order(app: App, dsn: str) -> None:
    got: list[Any] = []

    @app.task(name="thumb")
    async def thumb(size: int) -> Thumb:
        return Thumb(size, f"t{size}.png")

    @app.task(name="count")
    async def count() -> int:
        return 3

    @app.task(name="gallery")
    async def gallery() -> None:
        got.append(await current_job().parent_results_of(thumb))
        got.append(await current_job().parent_results_of(count))
        got.append(await current_job().parent_results())

    await app.group([thumb.job(64), count.job(), thumb.job(128)]).then(gallery.job()).enqueue()
    async with running_worker(app):
        await wait_for(lambda: all_finished(dsn, 4), message="the gallery")
    assert got == [
        [Thumb(64, "t64.png"), Thumb(128, "t128.png")],
        [3],
        [{"size": 64, "path": "t64.png"}, 3, {"size": 128, "path": "t128.png"}],
    ]


async def test_the_dashboard_shows_waiting_jobs_and_their_dependencies(app: App, dsn: str) -> None:
    from tests.dashboard_support import served

    a, b, c = (
        await app.group([app.request("x", allow_unknown=True)] * 2)
        .then(app.request("y", allow_unknown=True))
        .enqueue()
    )
    with served(dsn=dsn) as s:
        queues = await asyncio.to_thread(s.json, "/api/queues")
        assert [(q["queue"], q["ready"], q["waiting"]) for q in queues] == [("default", 2, 1)]
        status, body, _ = await asyncio.to_thread(s.get, "/")
        assert status == 200 and 'data-total="waiting">1<' in body
        status, body, _ = await asyncio.to_thread(s.get, f"/jobs/{c}")
        assert status == 200 and "state-waiting" in body
        assert f'waits for <a href="/jobs/{a}">#{a}</a>, <a href="/jobs/{b}">#{b}</a>' in body
        _, body, _ = await asyncio.to_thread(s.get, f"/jobs/{a}")
        assert f'waited on by <a href="/jobs/{c}">#{c}</a>' in body
        jobs = await asyncio.to_thread(s.json, "/api/jobs?state=waiting")
        assert [j["id"] for j in jobs["jobs"]] == [c]
