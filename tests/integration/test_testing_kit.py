"""The testing kit (pgqueue.testing) on real PostgreSQL: perform, drain, assert_enqueued and the
pytest plugin's fixtures, which these tests use themselves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from pgqueue import App, JobState, Retry, SerializationError, current_job
from pgqueue.testing import (
    DrainLimitError,
    Performer,
    ProgressReport,
    assert_enqueued,
    assert_enqueued_sync,
    drain,
    enqueued_jobs,
    perform,
    perform_sync,
    refute_enqueued,
)

pytest_plugins = ["pytester"]


def shop(app: App) -> SimpleNamespace:
    """A small application: an order task that enqueues an email and an invoice."""

    @app.task(queue="mail")
    async def send_email(to: str, subject: str) -> dict[str, str]:
        return {"to": to, "subject": subject}

    @app.task
    async def build_invoice(order_id: int) -> tuple[int, str]:
        await current_job().progress(0.5, "half way")
        return (order_id, f"INV-{order_id}")

    @app.task
    async def place_order(order_id: int, email: str) -> int:
        await send_email.enqueue(email, f"order {order_id}")
        await build_invoice.enqueue(order_id)
        return order_id

    return SimpleNamespace(
        send_email=send_email, build_invoice=build_invoice, place_order=place_order
    )


# -- perform ---------------------------------------------------------------------------------


async def test_perform_round_trips_the_result_and_sets_current_job() -> None:
    app = App("postgresql://nowhere.invalid/none")  # never connected: perform needs no database
    tasks = shop(app)
    performer = Performer()
    result = await performer.perform(tasks.build_invoice, 7)
    assert result == [7, "INV-7"]  # a tuple comes back a list, as from app.result()
    assert performer.progress == [ProgressReport(0.5, "half way")]

    @app.task(queue="q1", max_attempts=4)
    async def who_am_i() -> dict[str, object]:
        job = current_job()
        return {
            "attempt": job.attempt,
            "max": job.max_attempts,
            "queue": job.queue,
            "last": job.is_last_attempt,
            "task": job.task,
        }

    assert await perform(who_am_i) == {
        "attempt": 1,
        "max": 4,
        "queue": "q1",
        "last": False,
        "task": who_am_i.name,
    }
    assert (await Performer(attempt=4).perform(who_am_i))["last"] is True


async def test_perform_refuses_what_a_worker_would_refuse() -> None:
    app = App("postgresql://nowhere.invalid/none")

    @app.task
    async def takes_one(n: int) -> object:
        return {"when": object()} if n == 1 else "x" * n

    with pytest.raises(
        SerializationError, match=r"positional arguments of .*not JSON serializable"
    ):
        await perform(takes_one, {1, 2})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="arguments do not fit task"):
        await perform(takes_one, 1, 2)  # type: ignore[call-arg]
    with pytest.raises(SerializationError, match=r"result of .*not JSON serializable"):
        await perform(takes_one, 1)
    with pytest.raises(SerializationError, match="more than max_result_bytes"):
        await Performer(max_result_bytes=100).perform(takes_one, 200)
    assert await Performer(max_result_bytes=100).perform(takes_one, 50) == "x" * 50


async def test_perform_raises_the_tasks_own_exception_and_retry() -> None:
    app = App("postgresql://nowhere.invalid/none")

    @app.task
    async def fails(kind: str) -> None:
        if kind == "retry":
            raise Retry(delay=30)
        raise LookupError(f"no {kind}")

    with pytest.raises(LookupError, match="no user"):
        await perform(fails, "user")
    with pytest.raises(Retry) as raised:
        await perform(fails, "retry")
    assert raised.value.delay == 30


def test_perform_sync_runs_sync_tasks_with_progress_sync() -> None:
    app = App("postgresql://nowhere.invalid/none")

    @app.task
    def resize(width: int) -> dict[str, int]:
        current_job().progress_sync(1.0, f"resized to {width}")
        return {"width": width, "attempt": current_job().attempt}

    performer = Performer(attempt=2)
    assert performer.perform_sync(resize, 640) == {"width": 640, "attempt": 2}
    assert performer.progress == [ProgressReport(1.0, "resized to 640")]
    assert perform_sync(resize, 10) == {"width": 10, "attempt": 1}


async def test_perform_sync_inside_an_event_loop_says_to_await() -> None:
    app = App("postgresql://nowhere.invalid/none")

    @app.task
    def noop() -> None:
        return None

    with pytest.raises(RuntimeError, match="use `await perform"):
        perform_sync(noop)


# -- drain -----------------------------------------------------------------------------------


async def test_drain_runs_jobs_and_the_jobs_they_enqueue(pgqueue_app: App) -> None:
    tasks = shop(pgqueue_app)
    first = await tasks.place_order.enqueue(1, "ada@example.com")
    await tasks.place_order.enqueue(2, "eve@example.com")
    done = await drain(pgqueue_app)
    assert done.counts == {"succeeded": 6}
    assert sorted(j.task for j in done.jobs) == sorted(
        [
            getattr(tasks, n).name
            for n in ("place_order", "send_email", "build_invoice")
            for _ in (1, 2)
        ]
    )
    assert done.jobs[0].id == first
    again = await drain(pgqueue_app)
    assert again.jobs == []  # nothing was left to run


async def test_drain_runs_retries_due_now_but_not_later_ones(pgqueue_app: App) -> None:
    calls: list[int] = []

    @pgqueue_app.task(max_attempts=3)
    async def flaky(delay: float) -> int:
        calls.append(current_job().attempt)
        if current_job().attempt < 3:
            raise Retry(delay=delay)
        return current_job().attempt

    now_id = await flaky.enqueue(0)
    later_id = await flaky.enqueue(3600)
    done = await drain(pgqueue_app)
    states = {j.id: (j.state, j.attempts) for j in done.jobs}
    assert states == {now_id: (JobState.SUCCEEDED, 3), later_id: (JobState.RETRYING, 1)}
    assert done["succeeded"] == 1 and done["retrying"] == 1
    assert len(calls) == 4

    done = await drain(pgqueue_app, include_scheduled=True)
    assert {j.id: j.state for j in done.jobs} == {later_id: JobState.SUCCEEDED}
    assert (await pgqueue_app.get_job(later_id)).attempts == 3


async def test_drain_runs_scheduled_jobs_only_when_asked(pgqueue_app: App) -> None:
    tasks = shop(pgqueue_app)
    job_id = await tasks.send_email.using(delay=3600).enqueue("a@b.c", "later")
    assert (await drain(pgqueue_app)).jobs == []
    assert (await pgqueue_app.get_job(job_id)).state == JobState.SCHEDULED
    done = await drain(pgqueue_app, queues=["mail"], include_scheduled=True)
    assert [(j.id, j.state, j.result) for j in done.jobs] == [
        (job_id, JobState.SUCCEEDED, {"to": "a@b.c", "subject": "later"})
    ]


async def test_drain_stops_a_job_that_enqueues_itself_forever(pgqueue_app: App) -> None:
    @pgqueue_app.task
    async def forever(n: int) -> None:
        await forever.enqueue(n + 1)

    await forever.enqueue(0)
    with pytest.raises(DrainLimitError) as stopped:
        await drain(pgqueue_app, max_jobs=5)
    ran = await pgqueue_app.repository.pool.fetchval(
        "SELECT count(*) FROM pgqueue.jobs WHERE state = 'succeeded'"
    )
    reported = re.fullmatch(
        r"drain reached max_jobs=5 after (\d+) jobs, with more runnable in 'default' "
        r"\(a job that enqueues itself\?\)",
        str(stopped.value),
    )
    assert reported is not None
    # Checked every few ms, so a loaded machine may run a few more before the check; what it
    # reports is at least the limit and at most what the table shows ran.
    assert 5 <= int(reported[1]) <= ran
    left = await pgqueue_app.repository.pool.fetch(
        "SELECT state, count(*) FROM pgqueue.jobs WHERE state <> 'succeeded' GROUP BY state"
    )
    assert [tuple(r) for r in left] == [("queued", 1)]  # the next one, left waiting


async def test_drain_follows_a_job_into_a_queue_it_did_not_serve(pgqueue_app: App) -> None:
    @pgqueue_app.task(queue="first")
    async def hop() -> None:
        await tail.enqueue()

    @pgqueue_app.task(queue="second")
    async def tail() -> str:
        return "done"

    await hop.enqueue()
    done = await drain(pgqueue_app)
    assert [(j.queue, j.state) for j in done.jobs] == [
        ("first", JobState.SUCCEEDED),
        ("second", JobState.SUCCEEDED),
    ]


# -- assert_enqueued -------------------------------------------------------------------------


async def test_assert_enqueued_matches_and_a_failure_lists_the_closest_first(
    pgqueue_app: App,
) -> None:
    tasks = shop(pgqueue_app)
    send_email = tasks.send_email
    await send_email.enqueue("ada@example.com", "hello")
    await send_email.enqueue("eve@example.com", "hello")
    await tasks.build_invoice.enqueue(9)

    [job] = await assert_enqueued(pgqueue_app, send_email, args=["eve@example.com", "hello"])
    assert (job.queue, job.state) == ("mail", "queued")
    await assert_enqueued(pgqueue_app, send_email, count=2, queue="mail")
    await assert_enqueued(pgqueue_app, send_email.name, args=("ada@example.com", "hello"))
    await refute_enqueued(pgqueue_app, send_email, args=["bob@example.com", "hello"])

    with pytest.raises(AssertionError) as failed:
        await assert_enqueued(pgqueue_app, send_email, args=["bob@example.com", "hello"])
    message = str(failed.value)
    assert message.startswith(
        f"expected at least 1 enqueued job(s) of {send_email.name} "
        "args=['bob@example.com', 'hello'], found 0; enqueued (3, closest first):\n"
    )
    listed = message.splitlines()[1:]
    assert [line.split("(")[0].split()[1] for line in listed] == [
        send_email.name,
        send_email.name,
        tasks.build_invoice.name,
    ]
    with pytest.raises(AssertionError, match=r"expected 1 enqueued job\(s\) of .* found 2"):
        await assert_enqueued(pgqueue_app, send_email, count=1)
    with pytest.raises(AssertionError, match=r"expected no enqueued job of .*found 1"):
        await refute_enqueued(pgqueue_app, tasks.build_invoice, args=[9])
    assert len(await enqueued_jobs(pgqueue_app)) == 3


async def test_an_uncommitted_enqueue_is_seen_on_its_connection_only(
    pgqueue_app: App, pgqueue_dsn: str
) -> None:
    tasks = shop(pgqueue_app)
    conn = await asyncpg.connect(pgqueue_dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        await tasks.send_email.using(connection=conn).enqueue("ada@example.com", "hi")
        await assert_enqueued(conn, tasks.send_email, args=["ada@example.com", "hi"])
        await refute_enqueued(pgqueue_app, tasks.send_email)  # another connection
        await tx.rollback()
        await refute_enqueued(conn, tasks.send_email)
        with pytest.raises(AssertionError, match="nothing is enqueued"):
            await assert_enqueued(pgqueue_app, tasks.send_email)
    finally:
        await conn.close()


def test_assert_enqueued_sync_reads_a_sqlalchemy_session(pgqueue_dsn: str) -> None:
    app = App(pgqueue_dsn)
    tasks = shop(app)
    engine = create_engine(pgqueue_dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with Session(engine) as session, session.begin():
            tasks.send_email.using(connection=session).enqueue_sync("ada@example.com", "hi")
            [job] = assert_enqueued_sync(session, tasks.send_email, kwargs={})
            assert job.args == ["ada@example.com", "hi"]
            session.rollback()
        with Session(engine) as session, pytest.raises(AssertionError, match="nothing is"):
            assert_enqueued_sync(session, tasks.send_email)
    finally:
        engine.dispose()


# -- the pytest plugin -----------------------------------------------------------------------

USER_TEST = """
    import pytest
    import pytest_asyncio
    from pgqueue import App
    from pgqueue.testing import assert_enqueued, drain, use_database

    app = App("postgresql://production.invalid/shop")  # the application's own App


    @app.task
    async def greet(name: str) -> str:
        return f"hello, {{name}}"


    {fixture}
    async def shop_app(pgqueue_dsn):
        async with use_database(app, pgqueue_dsn) as opened:
            yield opened


    {marker}
    async def test_enqueue_then_run(shop_app):
        job_id = await greet.enqueue("ada")
        await assert_enqueued(shop_app, greet, args=["ada"])
        assert (await drain(shop_app)).counts == {{"succeeded": 1}}
        assert await shop_app.result(job_id) == "hello, ada"
        assert app.dsn == "postgresql://production.invalid/shop" or app.is_open


    {marker}
    async def test_pgqueue_app_is_open_on_a_fresh_database(pgqueue_app):
        assert await pgqueue_app.repository.pool.fetchval("SELECT count(*) FROM pgqueue.jobs") == 0


    def test_each_test_gets_its_own_database(pgqueue_dsn, request):
        seen = request.config.cache.get("seen", [])
        assert pgqueue_dsn not in seen
        request.config.cache.set("seen", [*seen, pgqueue_dsn])
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("plugins", "marker", "fixture"),
    [
        (
            [
                "-p",
                "asyncio",
                "-p",
                "no:anyio",
                "-o",
                "asyncio_mode=strict",
                "-o",
                "asyncio_default_fixture_loop_scope=function",
            ],
            "@pytest.mark.asyncio",
            "@pytest_asyncio.fixture",  # strict mode: its own decorator
        ),
        (["-p", "no:asyncio"], "@pytest.mark.anyio", "@pytest.fixture"),
    ],
    ids=["pytest-asyncio-strict", "anyio"],
)
def test_the_plugin_serves_a_users_project(
    pytester: pytest.Pytester, plugins: list[str], marker: str, fixture: str
) -> None:
    source = textwrap.dedent(USER_TEST).format(marker=marker, fixture=fixture)
    pytester.makepyfile(test_user=source)
    if "anyio" in marker:
        pytester.makeconftest(
            "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
        )
    done = pytester.runpytest_subprocess(*plugins, "-p", "no:randomly", "-W", "error")
    done.assert_outcomes(passed=3)


# -- docs/testing.md -------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "testing_app"


def test_the_docs_show_the_example_files_as_they_are() -> None:
    doc = (EXAMPLE.parents[1] / "testing.md").read_text()
    blocks = re.findall(r"```python(?: fragment)?\n(.*?)```", doc, re.S)
    assert blocks == [(EXAMPLE / "shop.py").read_text(), (EXAMPLE / "test_shop.py").read_text()]


@pytest.mark.slow
def test_the_docs_example_application_passes_its_tests() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=EXAMPLE,
        env={**os.environ, "PGQUEUE_DSN": "postgresql://production.invalid/shop"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("4 passed")
