"""The web dashboard against a real database, served by uvicorn: pages, JSON, the SSE streams,
actions (off by default, CSRF-checked), auth, escaping, hidden payloads, bad input."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.routing import Mount

from pgqueue import App, current_job
from pgqueue._cli import main
from pgqueue._repository.dashboard import DashboardQueries
from pgqueue.web import basic_auth, create_app, token_auth
from tests.dashboard_support import Served, served
from tests.helpers import count_states, fetchval, running_worker, wait_for

SCRIPT = "<script>alert(1)</script>"


async def dead_job(dsn: str, app: App, task: str = "flaky", queue: str = "default") -> int:
    """A job dead-lettered the way a worker does it (through pgqueue's own enqueue)."""
    job_id = await app.enqueue(task, [1], queue=queue, allow_unknown=True, max_attempts=1)
    conn_sql = (
        "UPDATE pgqueue.jobs SET state = 'dead', attempts = 1, finished_at = now(), "
        "errors = jsonb_build_array(jsonb_build_object('attempt', 1, 'kind', 'error', "
        "'type', 'ValueError', 'message', 'boom', 'traceback', 'Traceback: boom', 'at', now())) "
        "WHERE id = $1"
    )
    await fetchval(dsn, conn_sql + " RETURNING id", job_id)
    return job_id


def csrf_of(s: Served, path: str) -> tuple[str, str]:
    """(cookie header, form token) as a browser gets them from a page with a form."""
    status, body, headers = s.get(path)
    assert status == 200, body
    cookie = headers["set-cookie"].split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert token is not None
    return cookie, token.group(1)


async def test_pages_render_and_every_job_field_is_escaped(dsn: str, app: App) -> None:
    job_id = await app.enqueue(SCRIPT, [SCRIPT], {"k": SCRIPT}, queue=SCRIPT, allow_unknown=True)
    with served(dsn=dsn) as s:
        for path in ("/", "/jobs", f"/jobs/{job_id}", "/workers", "/dead", "/schedules"):
            status, body, headers = await asyncio.to_thread(s.get, path)
            assert status == 200, (path, body)
            assert SCRIPT not in body, path
            assert "script-src 'self'" in headers["content-security-policy"]
        _, body, _ = await asyncio.to_thread(s.get, f"/jobs/{job_id}")
        assert body.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # task, queue, args
        jobs = await asyncio.to_thread(s.json, "/api/jobs")
        assert [(j["id"], j["task"], j["queue"]) for j in jobs["jobs"]] == [
            (job_id, SCRIPT, SCRIPT)
        ]
        queues = await asyncio.to_thread(s.json, "/api/queues")
        assert [(q["queue"], q["ready"]) for q in queues] == [(SCRIPT, 1)]


async def test_job_list_pages_by_keyset_and_filters(dsn: str, app: App) -> None:
    ids = [await app.enqueue("a" if n % 2 else "b", [n], allow_unknown=True) for n in range(7)]
    with served(dsn=dsn) as s:
        first = await asyncio.to_thread(s.json, "/api/jobs?limit=3")
        assert [j["id"] for j in first["jobs"]] == ids[::-1][:3]
        second = await asyncio.to_thread(s.json, f"/api/jobs?limit=3&before={first['older']}")
        assert [j["id"] for j in second["jobs"]] == ids[::-1][3:6]
        third = await asyncio.to_thread(s.json, f"/api/jobs?limit=3&before={second['older']}")
        assert [j["id"] for j in third["jobs"]] == ids[:1]
        assert third["older"] is None
        only_a = await asyncio.to_thread(s.json, "/api/jobs?task=a&state=queued")
        assert [j["id"] for j in only_a["jobs"]] == [i for n, i in enumerate(ids) if n % 2][::-1]
        none = await asyncio.to_thread(s.json, "/api/jobs?state=dead")
        assert none["jobs"] == []
        # The page's link to the next page keeps the filters.
        _, body, _ = await asyncio.to_thread(s.get, "/jobs?task=a&limit=2")
        assert f'href="/jobs?task=a&amp;before={ids[3]}"' in body


async def test_a_rare_filter_scans_a_bounded_window_and_says_how_far_it_got(
    dsn: str, app: App
) -> None:
    ids = [await app.enqueue("common", [n], allow_unknown=True) for n in range(12)]
    rare = await app.enqueue("rare", [], allow_unknown=True)
    ids += [await app.enqueue("common", [n], allow_unknown=True) for n in range(12)]
    await app.open()
    queries = DashboardQueries(app.repository, window=5)
    newest = ids[-1]
    page = await queries.job_page(task="rare")
    assert page.jobs == [] and page.searched_to == newest + 1 - 5 and page.older == newest - 4
    seen = []
    before = None
    for _ in range(10):
        page = await queries.job_page(task="rare", before=before)
        seen += [j.id for j in page.jobs]
        if page.older is None:
            break
        before = page.older
    assert seen == [rare]
    size = await queries.jobs_size()
    assert size[0] == newest


async def test_bad_input_is_a_clear_400(dsn: str) -> None:
    with served(dsn=dsn) as s:
        status, body, _ = await asyncio.to_thread(s.get, "/jobs?state=bogus")
        assert status == 400 and "unknown state &#39;bogus&#39;" in body
        status, body, _ = await asyncio.to_thread(s.get, "/api/jobs?before=12abc")
        assert status == 400 and "whole number" in json.loads(body)["error"]
        status, body, _ = await asyncio.to_thread(s.get, "/jobs/424242")
        assert status == 404 and "no job with id 424242" in body
        status, body, _ = await asyncio.to_thread(s.get, "/api/jobs/424242/events")
        assert status == 404


def progress_app(dsn: str, gate: asyncio.Event) -> App:
    app = App(dsn)

    @app.task(name="crunch")
    async def crunch(steps: int) -> dict[str, str]:
        job = current_job()
        await job.progress(0.0, "starting")
        await gate.wait()
        for n in range(1, steps + 1):
            await job.progress(n / steps, f"step {n}")
        return {"secret": "result"}

    return app


async def test_job_events_stream_progress_in_order_then_the_outcome(dsn: str) -> None:
    gate = asyncio.Event()
    app = progress_app(dsn, gate)
    try:
        job_id = await app.registry.require("crunch").enqueue(3)
        with served(dsn=dsn) as s:
            async with running_worker(app):
                await wait_for(
                    lambda: fetchval(dsn, "SELECT progress IS NOT NULL FROM pgqueue.jobs"),
                    message="the first report",
                )
                stream = asyncio.create_task(
                    asyncio.to_thread(s.events, f"/api/jobs/{job_id}/events", "finished")
                )
                feeds = s.web.state.dashboard.hub._feeds
                await wait_for(
                    lambda: job_id in feeds and feeds[job_id].latest is not None,
                    message="the stream's first event",
                )
                gate.set()
                events = await stream
        progress = [d for e, d in events if e == "progress"]
        assert progress[0]["message"] == "starting"
        seqs = [p["seq"] for p in progress]
        assert seqs == sorted(set(seqs)) and progress[-1] == {
            **progress[-1],
            "value": 1.0,
            "message": "step 3",
        }
        assert events[-1] == (
            "finished",
            {"job_id": job_id, "state": "succeeded", "result": {"secret": "result"}, "error": None},
        )
    finally:
        await app.close()


async def test_hide_payloads_keeps_arguments_and_results_off_everything(dsn: str, app: App) -> None:
    job_id = await app.enqueue("t", ["top-secret-arg"], allow_unknown=True)
    await fetchval(
        dsn,
        "UPDATE pgqueue.jobs SET state = 'succeeded', attempts = 1, finished_at = now(), "
        "result = '\"top-secret-result\"' WHERE id = $1 RETURNING id",
        job_id,
    )
    with served(dsn=dsn, hide_payloads=True) as s:
        _, body, _ = await asyncio.to_thread(s.get, f"/jobs/{job_id}")
        assert "top-secret" not in body and "hide-payloads" in body
        data = await asyncio.to_thread(s.json, f"/api/jobs/{job_id}")
        assert data["args"] is None and data["result"] is None and data["task"] == "t"
        events = await asyncio.to_thread(s.events, f"/api/jobs/{job_id}/events", "finished")
        assert events == [
            ("finished", {"job_id": job_id, "state": "succeeded", "result": None, "error": None})
        ]


async def test_actions_are_off_unless_enabled(dsn: str, app: App) -> None:
    job_id = await dead_job(dsn, app)
    with served(dsn=dsn) as s:
        _, body, _ = await asyncio.to_thread(s.get, f"/jobs/{job_id}")
        assert 'id="requeue"' not in body
        status, body, _ = await asyncio.to_thread(s.post, f"/jobs/{job_id}/requeue", {})
        assert status == 403 and "disabled" in body
        status, _, _ = await asyncio.to_thread(s.get, "/dead/confirm?action=purge")
        assert status == 403
    assert await count_states(dsn) == {"dead": 1}


async def test_requeue_needs_the_forms_csrf_token_and_a_same_site_origin(
    dsn: str, app: App
) -> None:
    job_id = await dead_job(dsn, app)
    with served(dsn=dsn, actions=True) as s:
        cookie, token = await asyncio.to_thread(csrf_of, s, f"/jobs/{job_id}")
        for form, headers in [
            ({}, {"Cookie": cookie}),  # no token
            ({"csrf_token": "forged"}, {"Cookie": cookie}),  # a token of its own
            ({"csrf_token": token}, {}),  # no cookie: another site's form
            ({"csrf_token": token}, {"Cookie": cookie, "Origin": "https://evil.example"}),
        ]:
            status, _, _ = await asyncio.to_thread(s.post, f"/jobs/{job_id}/requeue", form, headers)
            assert status == 403
        assert await count_states(dsn) == {"dead": 1}
        origin = s.url
        status, _, headers = await asyncio.to_thread(
            s.post,
            f"/jobs/{job_id}/requeue",
            {"csrf_token": token},
            {"Cookie": cookie, "Origin": origin},
        )
        assert status == 303 and "requeued+1+job" in headers["location"]
    assert await count_states(dsn) == {"queued": 1}
    assert await fetchval(dsn, "SELECT attempts FROM pgqueue.jobs WHERE id = $1", job_id) == 0


async def test_dead_letters_requeue_and_purge_in_bulk_after_confirmation(
    dsn: str, app: App
) -> None:
    for _ in range(3):
        await dead_job(dsn, app, queue="mail")
    other = await dead_job(dsn, app, queue="other")
    with served(dsn=dsn, actions=True) as s:
        page = await asyncio.to_thread(s.json, "/api/dead?queue=mail")
        assert len(page["jobs"]) == 3 and {j["queue"] for j in page["jobs"]} == {"mail"}
        status, body, _ = await asyncio.to_thread(s.get, "/dead/confirm?action=purge&queue=mail")
        assert status == 200 and "Purge 3 dead letters?" in body
        cookie, token = await asyncio.to_thread(csrf_of, s, "/dead/confirm?action=purge&queue=mail")
        status, _, headers = await asyncio.to_thread(
            s.post, "/dead/purge", {"csrf_token": token, "queue": "mail"}, {"Cookie": cookie}
        )
        assert status == 303 and "purged+3" in headers["location"]
        assert await count_states(dsn) == {"dead": 1}
        status, _, headers = await asyncio.to_thread(
            s.post, "/dead/requeue", {"csrf_token": token, "queue": ""}, {"Cookie": cookie}
        )
        assert status == 303 and "requeued+1" in headers["location"]
    assert await fetchval(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", other) == "queued"


async def test_dead_letter_pages_follow_the_cursor(dsn: str, app: App) -> None:
    ids = [await dead_job(dsn, app) for _ in range(5)]
    with served(dsn=dsn) as s:
        page = await asyncio.to_thread(s.json, "/api/dead")
        assert [j["id"] for j in page["jobs"]] == ids[::-1] and page["older"] is None
    await app.open()
    queries = DashboardQueries(app.repository)
    got, after = [], None
    while True:
        dead = await queries.dead_page(after=after, limit=2)
        got += [j.id for j in dead.jobs]
        if dead.older is None:
            break
        after = dead.older
    assert sorted(got) == ids and len(got) == 5


def test_an_unreachable_database_is_a_clear_503() -> None:
    with served(dsn="postgresql://nobody@127.0.0.1:1/nowhere") as s:
        status, body, _ = s.get("/")
        assert status == 503 and "the database did not answer" in body
        status, body, _ = s.get("/api/queues")
        assert status == 503 and "127.0.0.1:1" in json.loads(body)["error"]


def test_token_auth() -> None:
    hook = token_auth("s3cret")
    web = Starlette(routes=[Mount("/ops", create_app(dsn="postgresql:///nowhere", auth=hook))])
    with served(web) as s:
        assert s.get("/ops/api/jobs/1")[0] == 401
        assert s.get("/ops/?token=wrong")[0] == 401
        status, _, headers = s.get("/ops/jobs?queue=q&token=s3cret")
        assert status == 303 and headers["location"] == "/ops/jobs?queue=q"
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/ops" in cookie


async def test_auth_hooks_guard_every_route(dsn: str, app: App) -> None:
    job_id = await app.enqueue("t", [], allow_unknown=True)
    with served(dsn=dsn, auth=token_auth("s3cret")) as s:
        assert (await asyncio.to_thread(s.get, "/static/dashboard.css"))[0] == 401
        ok = await asyncio.to_thread(s.get, f"/jobs/{job_id}", {"Authorization": "Bearer s3cret"})
        assert ok[0] == 200
        cookie = {"Cookie": "pgqueue_token=s3cret"}
        assert (await asyncio.to_thread(s.json, "/api/queues", cookie))[0]["ready"] == 1
    with served(dsn=dsn, auth=basic_auth("ops", "pw")) as s:
        status, _, headers = await asyncio.to_thread(s.get, "/")
        assert status == 401 and headers["www-authenticate"].startswith("Basic ")
        good = base64.b64encode(b"ops:pw").decode()
        assert (await asyncio.to_thread(s.get, "/", {"Authorization": f"Basic {good}"}))[0] == 200
        bad = base64.b64encode(b"ops:nope").decode()
        assert (await asyncio.to_thread(s.get, "/", {"Authorization": f"Basic {bad}"}))[0] == 401

    async def only_admins(request: object) -> bool:
        return False

    with served(dsn=dsn, auth=only_admins) as s:
        assert (await asyncio.to_thread(s.get, "/api/queues"))[0] == 401


async def test_mounted_under_a_prefix_links_stay_inside_it(dsn: str, app: App) -> None:
    job_id = await app.enqueue("t", [], allow_unknown=True)
    inner = create_app(dsn=dsn)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await inner.state.close()  # a mounted app's own lifespan does not run

    outer = Starlette(routes=[Mount("/ops/queue", inner)], lifespan=lifespan)
    with served(outer) as s:
        _, body, _ = await asyncio.to_thread(s.get, "/ops/queue/jobs")
        assert f'href="/ops/queue/jobs/{job_id}"' in body
        assert 'src="/ops/queue/static/dashboard.js"' in body
        status, _, _ = await asyncio.to_thread(s.get, "/ops/queue/static/dashboard.js")
        assert status == 200


class Follower:
    """A browser on /api/live (in a thread): records the ready count of every overview, until
    the dashboard stops."""

    def __init__(self, s: Served) -> None:
        self.readies: list[int] = []
        self.thread = threading.Thread(target=self._run, args=(s,), daemon=True)
        self.thread.start()

    def _run(self, s: Served) -> None:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(s.url + "/api/live", timeout=30) as r,
        ):
            for raw in r:
                line = raw.decode()
                if line.startswith("data: "):
                    self.readies.append(sum(q["ready"] for q in json.loads(line[6:])["queues"]))

    def join(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive()


async def test_live_overview_reads_once_per_interval_for_every_browser(dsn: str, app: App) -> None:
    browsers: list[Follower] = []
    with served(dsn=dsn, live_interval=0.3, live_fallback=60) as s:
        hub = s.web.state.dashboard.hub
        browsers += [Follower(s) for _ in range(3)]
        await wait_for(lambda: len(hub._overview_subs) == 3, message="three browsers")
        await wait_for(lambda: all(b.readies == [0] for b in browsers), message="a first look")
        reads = hub.reads
        for n in range(3):
            await app.enqueue("t", [n], allow_unknown=True)
        await wait_for(lambda: all(b.readies[-1:] == [3] for b in browsers), message="3 ready")
        # Three browsers, three notifications: at most a read per notification, not per browser.
        assert 1 <= hub.reads - reads <= 3
        # Forged notifications (anyone may NOTIFY) are a hint: one read finds nothing new.
        reads = hub.reads
        await fetchval(
            dsn, "SELECT count(pg_notify('pgqueue_jobs', n::text)) FROM generate_series(1, 50) n"
        )
        await wait_for(lambda: hub.reads > reads, message="a read after the flood")
        await app.enqueue("t", [4], allow_unknown=True)
        await wait_for(lambda: all(b.readies[-1:] == [4] for b in browsers), message="4 ready")
        assert hub.reads - reads <= 3
    # Stopping the dashboard ends every stream; each browser saw the counts only grow.
    for b in browsers:
        b.join()
        assert b.readies[0] == 0 and b.readies[-1] == 4 and b.readies == sorted(b.readies)


def test_cli_refuses_an_open_port_without_auth_and_bad_basic_auth() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["dashboard", "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "without --token or --basic-auth" in result.output
    result = runner.invoke(main, ["dashboard", "--basic-auth", "nocolon"])
    assert result.exit_code != 0 and "USER:PASSWORD" in result.output
    result = runner.invoke(main, ["dashboard", "--token", "a", "--basic-auth", "u:p"])
    assert result.exit_code != 0 and "not both" in result.output


def test_the_cli_does_not_import_the_web_stack() -> None:
    code = "import sys, pgqueue._cli; print(sorted(m for m in ('starlette', 'jinja2', 'uvicorn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "path", ["templates/job.html", "static/dashboard.js", "static/dashboard.css"]
)
def test_assets_ship_in_the_package(path: str) -> None:
    from importlib import resources

    assert resources.files("pgqueue.web").joinpath(path).is_file()


def test_the_docs_mount_example_runs(dsn: str) -> None:
    from tests.integration.test_docs_examples import run_example

    out = run_example("dashboard_mount.py", dsn)
    assert "job page: 200 True" in out
    assert "last progress: 3 of 3 rows" in out and "outcome: succeeded 3" in out
    # docs/dashboard.md quotes the example: every line it shows is in the script that ran.
    docs = Path(__file__).resolve().parents[2] / "docs"
    excerpt = re.search(r"```python fragment\n(.*?)```", (docs / "dashboard.md").read_text(), re.S)
    assert excerpt is not None
    script = (docs / "examples" / "dashboard_mount.py").read_text()
    assert all(line in script for line in excerpt.group(1).splitlines())


def test_without_the_extra_the_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pgqueue

    # As if the extra were not installed: `from pgqueue import web` raises ImportError.
    monkeypatch.delattr(pgqueue, "web", raising=False)
    monkeypatch.setitem(sys.modules, "pgqueue.web", None)
    result = CliRunner().invoke(main, ["dashboard"])
    assert result.exit_code == 2 and 'pip install "pgqueue[web]"' in result.output
