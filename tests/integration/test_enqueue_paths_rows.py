"""One job, every enqueue path, the same row (revision 0015_enqueue_fast, issue 9 property 6).

The asyncpg path sends a single job without parents to pgqueue.enqueue_one (typed parameters),
a batch without unique keys or parents to pgqueue.enqueue_batch (one array per column, revision
0017_enqueue_batch), everything else to pgqueue.enqueue_many (a JSON array): three SQL functions,
so this holds them to one row, column by column, one error message per bad input, and one wake-up
rule.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from pgqueue import App, JobRequest
from tests.helpers import fetch, fetchval
from tests.integration.test_enqueue import sqlalchemy_url
from tests.integration.test_notifications import Listener
from tests.roles import dsn_as, temporary_role

# Every column but the ones that differ by nature (id, enqueued_at, the unique key made distinct
# per path); run_at as its distance from enqueued_at.
ROWS = """
SELECT to_jsonb(j) - 'id' - 'enqueued_at' - 'run_at' - 'unique_key' AS row,
       round(extract(epoch FROM j.run_at - j.enqueued_at)) AS wait,
       j.unique_key
FROM pgqueue.jobs AS j
WHERE j.queue = 'rows'
ORDER BY j.id
"""


def request(path: str, delay: float | None) -> JobRequest:
    return JobRequest(
        task="record",
        args=[1, "ü", None],
        kwargs={"label": "y"},
        queue="rows",
        priority=3,
        delay_seconds=delay,
        max_attempts=4,
        unique_key=f"key-{path}",
        metadata={"traceparent": "00-abc-01"},
        limit_key="tenant",
    )


def sql_enqueue(job: JobRequest) -> tuple[str, tuple[Any, ...]]:
    return (
        "SELECT pgqueue.enqueue('record', '[1, \"ü\", null]', '{\"label\": \"y\"}', 'rows', 3, "
        "now() + make_interval(secs => coalesce($1::float8, 0)), 4, $2, "
        "'{\"traceparent\": \"00-abc-01\"}', 'tenant')",
        (job.delay_seconds, job.unique_key),
    )


async def enqueue_everywhere(app: App, dsn: str, delay: float | None) -> list[str]:
    """The job through each path, in this order; returns the paths' names."""
    paths: list[str] = []

    def job(path: str) -> JobRequest:
        paths.append(path)
        return request(path, delay)

    await app.enqueue_requests([job("app (lane or pool)")])
    # Without a unique key, as the owner: the plain INSERT of job_insert_one.sql.
    await app.enqueue_requests([replace(job("app, plain INSERT"), unique_key=None)])
    assert app.repository.insert_one is True
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await app.enqueue_requests([job("asyncpg connection")], connection=conn)
        await app.enqueue_requests([job("enqueue_many batch"), JobRequest("record", [], {})])
        # Without a unique key, as the owner: the plain INSERT of job_insert_batch.sql; for a
        # role that may not insert, pgqueue.enqueue_batch.
        keyless = replace(job("app, plain batch INSERT"), unique_key=None)
        await app.enqueue_requests([keyless, JobRequest("record", [], {})])
        app.repository.insert_one = False  # the path to enqueue_batch alone, for comparison
        keyless = replace(job("enqueue_batch batch"), unique_key=None)
        await app.enqueue_requests([keyless, JobRequest("record", [], {})])
        app.repository.insert_one = True
        query, params = sql_enqueue(job("sql pgqueue.enqueue"))
        await conn.fetchval(query, *params)
        await conn.fetch(
            "SELECT * FROM pgqueue.enqueue_many(jsonb_build_array(jsonb_build_object("
            "'task', 'record', 'args', '[1, \"ü\", null]'::jsonb, 'kwargs', '{\"label\": \"y\"}'::jsonb, "
            "'queue', 'rows', 'priority', 3, 'delay', $1::float8, 'max_attempts', 4, "
            "'unique_key', $2::text, 'metadata', '{\"traceparent\": \"00-abc-01\"}'::jsonb, "
            "'limit_key', 'tenant')))",
            delay,
            f"key-{len(paths)}",
        )
        paths.append("sql pgqueue.enqueue_many")
        await conn.fetch(
            "SELECT * FROM pgqueue.enqueue_batch(ARRAY['record', 'record'], "
            "args => ARRAY['[1, \"ü\", null]'::jsonb, NULL], "
            "kwargs => ARRAY['{\"label\": \"y\"}'::jsonb, NULL], queue => ARRAY['rows', 'other'], "
            "priority => ARRAY[3, 0], delay => ARRAY[$1::float8, NULL], max_attempts => ARRAY[4, 1], "
            'metadata => ARRAY[\'{"traceparent": "00-abc-01"}\'::jsonb, NULL], '
            "limit_key => ARRAY['tenant', NULL])",
            delay,
        )
        paths.append("sql pgqueue.enqueue_batch")
    finally:
        await conn.close()
    engine = create_engine(sqlalchemy_url(dsn, "psycopg"))
    try:
        with Session(engine) as session, session.begin():
            app.enqueue_requests_sync([job("sqlalchemy Session")], connection=session)
    finally:
        engine.dispose()
    async_engine = create_async_engine(sqlalchemy_url(dsn, "asyncpg"))
    try:
        async with AsyncSession(async_engine) as asession, asession.begin():
            await app.enqueue_requests([job("sqlalchemy AsyncSession")], connection=asession)
    finally:
        await async_engine.dispose()
    return paths


@pytest.mark.parametrize("delay", [None, 90.0], ids=["queued", "scheduled"])
async def test_every_path_writes_the_same_row(app: App, dsn: str, delay: float | None) -> None:
    await fetchval(
        dsn,
        "INSERT INTO pgqueue.limits (scope, name, rate_count, rate_seconds, burst) "
        "VALUES ('task', 'record', 10, 60, 1) RETURNING 1",
    )
    paths = await enqueue_everywhere(app, dsn, delay)
    rows = [
        {"row": json.loads(r["row"]), "wait": r["wait"], "unique_key": r["unique_key"]}
        for r in await fetch(dsn, ROWS)
    ]
    assert len(rows) == len(paths) == 11
    first = rows[0]
    assert first["row"]["state"] == ("queued" if delay is None else "scheduled")
    assert first["row"]["limited"] is True
    assert first["wait"] == (0 if delay is None else 90)
    for path, row in zip(paths, rows, strict=True):
        assert (path, row["row"], row["wait"]) == (path, first["row"], first["wait"])


async def test_a_unique_key_is_one_key_across_both_functions(app: App, dsn: str) -> None:
    one = JobRequest("record", [1], {}, unique_key="shared")
    [single] = await app.enqueue_requests([one])  # enqueue_one
    [batched, other] = await app.enqueue_requests([one, JobRequest("record", [2], {})])
    assert (single.duplicate, batched.duplicate, other.duplicate) == (False, True, False)
    assert batched.id == single.id
    [again] = await app.enqueue_requests([one])
    assert (again.id, again.duplicate) == (single.id, True)
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs WHERE unique_key = 'shared'") == 1


BAD = [
    ("task", "''"),
    ("task", "repeat('x', 201)"),
    ("task", "E'a\\nb'"),
    ("args", "'{}'::jsonb"),
    ("kwargs", "'[]'::jsonb"),
    ("queue", "''"),
    ("queue", "repeat('é', 101)"),
    ("queue", "E'q\\t'"),
    ("max_attempts", "0"),
    ("unique_key", "''"),
    ("unique_key", "repeat('k', 1001)"),
    ("unique_key", "E'k\\u0085'"),
    ("metadata", "'[1]'::jsonb"),
    ("limit_key", "''"),
    ("limit_key", "repeat('k', 1001)"),
    ("limit_key", "E'k\\u0001'"),
]


# The fields enqueue_batch takes (no unique_key).
BATCH_BAD = [(f, v) for f, v in BAD if f != "unique_key"]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v}" for f, v in BAD])
async def test_bad_input_gets_the_same_message_from_both(dsn: str, field: str, value: str) -> None:
    fields = {"task": "'t'", field: value}
    named = ", ".join(f"{k} => {v}" for k, v in fields.items() if k != "task")
    one = f"SELECT * FROM pgqueue.enqueue_one({fields['task']}{', ' + named if named else ''})"
    pairs = ", ".join(f"'{k}', {v}" for k, v in fields.items())
    many = f"SELECT * FROM pgqueue.enqueue_many(jsonb_build_array(jsonb_build_object({pairs})))"
    messages = []
    for sql in (one, many):
        with pytest.raises(asyncpg.InvalidParameterValueError) as caught:
            await fetchval(dsn, sql)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("pgqueue.enqueue: job #1 ")
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


@pytest.mark.parametrize(("field", "value"), BATCH_BAD, ids=[f"{f}={v}" for f, v in BATCH_BAD])
async def test_bad_input_gets_the_same_message_from_a_batch(
    dsn: str, field: str, value: str
) -> None:
    """enqueue_batch against enqueue_many on two jobs, the second bad: the same class and
    message, job #2 named, nothing written (enqueue_batch takes no unique keys: those batches go
    to enqueue_many)."""
    first = {"task": "'t'", "args": "'[1]'::jsonb"}
    second = {"task": "'t'", field: value}
    columns = sorted(set(first) | set(second))
    arrays = ", ".join(
        f"{k} => ARRAY[{first.get(k, 'NULL')}, {second.get(k, 'NULL')}]"
        for k in columns
        if k != "task"
    )
    batch = (
        f"SELECT * FROM pgqueue.enqueue_batch(ARRAY[{first['task']}, {second['task']}], {arrays})"
    )
    jobs = ", ".join(
        "jsonb_build_object({})".format(", ".join(f"'{k}', {v}" for k, v in job.items()))
        for job in (first, second)
    )
    many = f"SELECT * FROM pgqueue.enqueue_many(jsonb_build_array({jobs}))"
    messages = []
    for sql in (many, batch):
        with pytest.raises(asyncpg.InvalidParameterValueError) as caught:
            await fetchval(dsn, sql)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("pgqueue.enqueue: job #2 ")
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


async def test_a_bad_job_in_a_plain_batch_fails_it_whole_through_the_app(
    app: App, dsn: str
) -> None:
    """The app's path to enqueue_batch: the same error as enqueue_many gives, nothing written,
    no wake-up; the next batch is written."""
    good = JobRequest("t", [1], {})
    bad = [
        (JobRequest("t", {"not": "an array"}, {}), 'has "args" that is not a JSON array'),  # type: ignore[arg-type]
        (JobRequest("t", [], ["not an object"]), 'has "kwargs" that is not a JSON object'),  # type: ignore[arg-type]
        (JobRequest("t", [], {}, max_attempts=0), 'has "max_attempts" below 1'),
    ]
    conn = await asyncpg.connect(dsn)
    try:
        async with Listener(dsn, "pgqueue_jobs") as listener:
            for job, problem in bad:
                with pytest.raises(Exception) as caught:
                    await app.enqueue_many([good, good, job])
                assert str(caught.value).endswith(f"pgqueue.enqueue: job #3 {problem}")
                with pytest.raises(Exception) as many:
                    await app.enqueue_many([good, good, replace(job, unique_key="k")])
                assert type(many.value) is type(caught.value)
                assert str(many.value) == str(caught.value)
            assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0
            ids = await app.enqueue_many([good, replace(good, queue="after")])
            seen = await listener.drained(conn)
    finally:
        await conn.close()
    assert sorted(seen) == ["after", "default"]
    assert [r["id"] for r in await fetch(dsn, "SELECT id FROM pgqueue.jobs ORDER BY id")] == ids


@pytest.mark.parametrize("owner", [True, False], ids=["plain INSERT", "enqueue_batch"])
async def test_plain_batches_go_to_enqueue_batch_and_keyed_ones_to_enqueue_many(
    app: App, dsn: str, owner: bool
) -> None:
    """With pgqueue.enqueue_many out of the way, a plain batch through the app is still written
    (the owner's plain INSERT, or enqueue_batch, which calls enqueue_many only for a bad batch),
    in order, ids matching rows; a batch with a unique key or a parent is not (it goes to
    enqueue_many)."""
    await fetchval(dsn, "ALTER FUNCTION pgqueue.enqueue_many(jsonb) RENAME TO hidden_many")
    await app.open()
    app.repository.insert_one = None if owner else False
    plain = [JobRequest("t", [i], {}, queue=f"q{i % 3}", priority=i % 2) for i in range(50)]
    ids = await app.enqueue_many(plain)
    rows = await fetch(dsn, "SELECT id, args::text, queue, priority FROM pgqueue.jobs ORDER BY id")
    assert [(r["id"], r["args"], r["queue"], r["priority"]) for r in rows] == [
        (job_id, f"[{i}]", f"q{i % 3}", i % 2) for i, job_id in enumerate(ids)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 50
    for odd in (
        JobRequest("t", [], {}, unique_key="k"),
        JobRequest("t", [], {}, depends_on=(ids[0],)),
        JobRequest("t", [], {}, depends_on_batch=(1,)),
    ):
        with pytest.raises(Exception, match="enqueue_many"):
            await app.enqueue_many([JobRequest("t", [], {}), odd])
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 50


@pytest.mark.parametrize("owner", [True, False], ids=["plain INSERTs", "functions"])
async def test_only_queued_inserts_wake_a_listening_worker(app: App, dsn: str, owner: bool) -> None:
    """The enqueue statements send the wake-up (the INSERT trigger is gone since 0015): one per
    queue with a queued job, none for a scheduled or a waiting one, none for a rollback; through
    the owner's plain INSERTs and, as for a role that may not insert, the functions."""
    await app.open()
    app.repository.insert_one = None if owner else False
    conn = await asyncpg.connect(dsn)
    try:
        async with Listener(dsn, "pgqueue_jobs") as listener:
            await app.enqueue_requests([JobRequest("t", [], {}, queue="now")])
            await app.enqueue("t", allow_unknown=True)  # no option: job_insert_plain.sql
            await app.enqueue_requests([JobRequest("t", [], {}, queue="later", delay_seconds=60)])
            [parent] = await app.enqueue_requests(
                [JobRequest("t", [], {}, queue="parents", delay_seconds=60)]
            )
            await app.enqueue_requests(
                [JobRequest("t", [], {}, queue="child", depends_on=(parent.id,))]
            )
            await app.enqueue_requests(
                [JobRequest("t", [], {}, queue=f"b{i % 2}") for i in range(10)]
                + [JobRequest("t", [], {}, queue="b-later", delay_seconds=60)]
            )
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await app.enqueue_requests(
                        [JobRequest("t", [], {}, queue="rolled-back")], connection=conn
                    )
                    raise RuntimeError
            async with conn.transaction():
                await app.enqueue_requests([JobRequest("t", [], {}, queue="tx")], connection=conn)
            seen = await listener.drained(conn)
    finally:
        await conn.close()
    assert sorted(seen) == ["b0", "b1", "default", "now", "tx"]
    states = await fetch(dsn, "SELECT queue, state FROM pgqueue.jobs ORDER BY id")
    assert {r["queue"]: r["state"] for r in states}["child"] == "waiting"


async def test_a_hand_written_insert_wakes_nobody(dsn: str) -> None:
    """Since 0015 a plain INSERT into pgqueue.jobs sends no NOTIFY (workers poll it up)."""
    conn = await asyncpg.connect(dsn)
    try:
        async with Listener(dsn, "pgqueue_jobs") as listener:
            await conn.execute("INSERT INTO pgqueue.jobs (task, queue) VALUES ('t', 'raw')")
            await conn.fetchval("SELECT pgqueue.enqueue('t', queue => 'sql')")
            seen = await listener.drained(conn)
    finally:
        await conn.close()
    assert seen == ["sql"]


async def test_enqueue_batch_refuses_arrays_that_do_not_line_up(dsn: str) -> None:
    """One element per task in every array given, a task array required: a clear error, nothing
    written; an empty batch writes nothing and returns no row, as enqueue_many's '[]' does."""
    for sql, message in [
        (
            "SELECT * FROM pgqueue.enqueue_batch(ARRAY['a', 'b'], queue => ARRAY['q'])",
            "pgqueue.enqueue_batch: every array must be NULL or have one element per task (2)",
        ),
        (
            "SELECT * FROM pgqueue.enqueue_batch(NULL)",
            "pgqueue.enqueue_batch: task must be an array of task names, one per job",
        ),
    ]:
        with pytest.raises(asyncpg.InvalidParameterValueError) as caught:
            await fetchval(dsn, sql)
        assert str(caught.value) == message
    assert await fetch(dsn, "SELECT * FROM pgqueue.enqueue_batch('{}')") == []
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0


# Bad jobs a JobRequest lets through to the database (names are checked in Python first).
PLAIN_INSERT_BAD = [
    ("args", {"args": {"a": 1}}, "args => '{\"a\": 1}'::jsonb"),
    ("kwargs", {"kwargs": [1]}, "kwargs => '[1]'::jsonb"),
    ("max_attempts", {"max_attempts": 0}, "max_attempts => 0"),
]


@pytest.mark.parametrize(
    ("field", "fields", "sql"), PLAIN_INSERT_BAD, ids=[f for f, _, _ in PLAIN_INSERT_BAD]
)
async def test_a_bad_job_refused_by_the_plain_insert_gets_enqueue_ones_message(
    app: App, dsn: str, field: str, fields: dict[str, Any], sql: str
) -> None:
    """The plain INSERT leaves its checks to the table's constraints; a job they refuse goes on
    to enqueue_one, so the caller sees the message every path gives, and nothing is written."""
    await app.enqueue_requests([JobRequest("t", [], {})])
    assert app.repository.insert_one is True
    with pytest.raises(asyncpg.InvalidParameterValueError) as from_sql:
        await fetchval(dsn, f"SELECT * FROM pgqueue.enqueue_one('t', {sql})")
    job = JobRequest(**({"task": "t", "args": [], "kwargs": {}} | fields))
    app.repository.insert_one = False  # the path to enqueue_one alone, for comparison
    with pytest.raises(Exception) as from_enqueue_one:
        await app.enqueue_requests([job])
    app.repository.insert_one = True
    with pytest.raises(Exception) as from_plain_insert:
        await app.enqueue_requests([job])
    assert type(from_plain_insert.value) is type(from_enqueue_one.value)
    assert str(from_plain_insert.value) == str(from_enqueue_one.value)
    assert str(from_plain_insert.value).endswith(str(from_sql.value))
    assert str(from_sql.value).startswith("pgqueue.enqueue: job #1 ")
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 1
    assert app.repository.insert_one is True  # a bad job says nothing about the role


async def test_a_role_that_may_not_insert_enqueues_through_enqueue_one(dsn: str) -> None:
    """A least-privileged producer (grant_producer: EXECUTE only) is refused the plain INSERT
    once, then every single job goes to enqueue_one: same row, same wake-up."""
    with temporary_role(dsn, "producer") as producer:
        await fetchval(dsn, f"SELECT pgqueue.grant_producer('{producer}')")
        conn = await asyncpg.connect(dsn)
        try:
            async with (
                App(dsn_as(producer, dsn)) as client,
                Listener(dsn, "pgqueue_jobs") as listener,
            ):
                first = await client.enqueue("t", [1], queue="plain", allow_unknown=True)
                assert client.repository.insert_one is False
                second = await client.enqueue("t", [2], queue="plain", allow_unknown=True)
                seen = await listener.drained(conn)
        finally:
            await conn.close()
    rows = await fetch(dsn, "SELECT id, args::text, state FROM pgqueue.jobs ORDER BY id")
    assert [(r["id"], r["args"], r["state"]) for r in rows] == [
        (first, "[1]", "queued"),
        (second, "[2]", "queued"),
    ]
    assert seen == ["plain", "plain"]


async def test_an_enqueue_without_options_writes_the_row_of_its_job_request(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`task.enqueue()` and `app.enqueue(name)` without an option build no JobRequest
    (App._enqueue_plain): the row is the one their JobRequest writes, the task's registered
    queue, priority and attempts and its limits mark included, for a registered task and for
    one defined elsewhere (allow_unknown)."""
    await fetchval(
        dsn,
        "INSERT INTO pgqueue.limits (scope, name, concurrency) "
        "VALUES ('task', 'record', 2), ('queue', 'held', 1) RETURNING 1",
    )
    async with App(dsn) as app:

        @app.task(name="record", queue="rows", priority=3, max_attempts=4)
        async def record(n: int, label: str = "x") -> None: ...

        @app.task(name="in_held_queue", queue="held")
        async def in_held_queue() -> None: ...

        built = _count_job_requests(monkeypatch)
        plain = [
            await record.enqueue(1, label="ü"),
            await app.enqueue("record", [1], {"label": "ü"}),
        ]
        elsewhere = await app.enqueue("elsewhere", [1], {"label": "ü"}, allow_unknown=True)
        assert built == []  # the plain path took all three: no JobRequest was built
        requested = await app.enqueue_many([record.job(1, label="ü")])
        assert len(built) == 1
        elsewhere_requested = await app.enqueue_many(
            [app.request("elsewhere", [1], {"label": "ü"}, allow_unknown=True)]
        )
        held = await in_held_queue.enqueue()
        held_requested = await app.enqueue_many([in_held_queue.job()])
    rows = {r["id"]: json.loads(r["row"]) for r in await fetch(dsn, PLAIN_ROWS)}
    assert [rows[i] for i in plain] == [rows[requested[0]]] * 2
    assert rows[requested[0]]["queue"] == "rows"
    assert rows[requested[0]]["priority"] == 3
    assert rows[requested[0]]["max_attempts"] == 4
    assert rows[requested[0]]["limited"] is True
    assert rows[elsewhere] == rows[elsewhere_requested[0]]
    assert rows[elsewhere]["queue"] == "default"
    assert rows[elsewhere]["limited"] is False
    assert rows[held] == rows[held_requested[0]]
    assert rows[held]["limited"] is True  # its queue's limit


PLAIN_ROWS = (
    "SELECT id, to_jsonb(j) - 'id' - 'enqueued_at' - 'run_at' AS row FROM pgqueue.jobs AS j"
)


def _count_job_requests(monkeypatch: pytest.MonkeyPatch) -> list[JobRequest]:
    """The JobRequests built from now on, as they are checked (JobRequest.__post_init__)."""
    built: list[JobRequest] = []
    check = JobRequest.__post_init__

    def counted(request: JobRequest) -> None:
        built.append(request)
        check(request)

    monkeypatch.setattr(JobRequest, "__post_init__", counted)
    return built


async def test_the_plain_inserts_by_a_role_that_may_not_insert_fall_back(
    dsn: str,
) -> None:
    """The plain INSERTs refused for the role: nothing written by them, a batch goes to
    enqueue_batch and a job without options through the JobRequest path (enqueue_one); the
    refusal is found out once, by either."""
    with temporary_role(dsn, "producer") as producer:
        await fetchval(dsn, f"SELECT pgqueue.grant_producer('{producer}')")
        async with App(dsn_as(producer, dsn)) as client:
            batch = await client.enqueue_many(
                [client.request("t", [n], allow_unknown=True) for n in (1, 2)]
            )
            assert client.repository.insert_one is False
            single = await client.enqueue("t", [3], allow_unknown=True)
    rows = await fetch(dsn, "SELECT id, args::text, state FROM pgqueue.jobs ORDER BY id")
    assert [(r["id"], r["args"], r["state"]) for r in rows] == [
        (batch[0], "[1]", "queued"),
        (batch[1], "[2]", "queued"),
        (single, "[3]", "queued"),
    ]
