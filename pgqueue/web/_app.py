"""The dashboard's routes: HTML pages, JSON lists, two Server-Sent Events streams, actions.

Reads go through the public Monitor (queues, workers, throughput, schedules, a job) and the
dashboard's paged queries (pgqueue._repository.dashboard); actions through Admin and App.cancel.
Pages are server-rendered Jinja2 with autoescape on; the JavaScript writes only textContent, and a
Content-Security-Policy forbids inline script, so nothing read from a job can become markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgqueue._admin import Admin, DeadLetterFilter
from pgqueue._client import App
from pgqueue._job import JobInfo, JobState
from pgqueue._monitoring import Monitor, as_json
from pgqueue._progress import FinishedEvent, JobEvent
from pgqueue._repository.dashboard import DashboardQueries
from pgqueue.errors import JobNotFoundError, PgQueueError
from pgqueue.web._live import LiveHub
from pgqueue.web._security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    TOKEN_COOKIE,
    AuthHook,
    TokenAuth,
    check_auth,
    csrf_problem,
    csrf_token,
)

STATES = [s.value for s in JobState]
ACTIONS = ("requeue", "retry", "cancel", "purge")
HIDDEN = "(hidden: the dashboard runs with --hide-payloads)"
# SSE comment lines keep idle streams open through proxies that cut silent connections.
KEEPALIVE = 15.0

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    # Not "no-referrer": with it a browser sends `Origin: null`, and the CSRF check refuses it.
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class Dashboard:
    """What every route shares: the App, the live hub, the settings."""

    def __init__(
        self,
        app: App,
        *,
        owns_app: bool,
        actions: bool,
        hide_payloads: bool,
        title: str,
        min_interval: float,
        fallback: float,
    ) -> None:
        self.app = app
        self.owns_app = owns_app
        self.actions = actions
        self.hide_payloads = hide_payloads
        self.title = title
        self.hub = LiveHub(
            lambda: app.listener if app.listens else None,
            self.overview,
            self._read_job,
            min_interval=min_interval,
            fallback=fallback,
        )
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("pgqueue.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["when"] = _when
        self.env.filters["pretty"] = _pretty
        self.env.filters["seconds"] = _seconds

    async def close(self) -> None:
        """Stop the live hub, and close the App if the dashboard made it."""
        await self.hub.close()
        if self.owns_app:
            await self.app.close()

    async def ready(self) -> None:
        await self.app.open()

    @property
    def monitor(self) -> Monitor:
        return Monitor(self.app.repository)

    @property
    def queries(self) -> DashboardQueries:
        return DashboardQueries(self.app.repository)

    async def _read_job(self, job_id: int) -> JobInfo | None:
        await self.ready()
        return await self.monitor.job(job_id)

    async def overview(self) -> dict[str, Any]:
        """Queues, the last hour's throughput per minute, and worker counts: what the queues
        page shows and the live stream pushes."""
        await self.ready()
        monitor = self.monitor
        queues = await monitor.queues()
        throughput = await monitor.throughput()
        workers = await monitor.workers() or []
        minutes: dict[str, dict[str, int]] = {}
        for row in throughput:
            slot = minutes.setdefault(row.minute.isoformat(), {"succeeded": 0, "failed": 0})
            slot["succeeded"] += row.succeeded
            slot["failed"] += row.failed + row.cancelled
        return {
            "queues": as_json(queues),
            "throughput": [{"minute": m, **c} for m, c in sorted(minutes.items())],
            "workers": {
                "alive": sum(1 for w in workers if w.alive),
                "lost": sum(1 for w in workers if not w.alive),
                "active": sum(w.active for w in workers if w.alive),
            },
            # For the workers page's live rows (heartbeat age, counts, health).
            "worker_rows": [
                {
                    "id": w.id,
                    "alive": w.alive,
                    "heartbeat_age_seconds": w.heartbeat_age_seconds,
                    "uptime_seconds": w.uptime_seconds,
                    "active": w.active,
                    "processed": w.processed,
                    "failed": w.failed,
                    "health": w.health,
                }
                for w in workers
            ],
        }

    def job_json(self, info: JobInfo) -> dict[str, Any]:
        data: dict[str, Any] = as_json(info)
        if self.hide_payloads:
            data["args"] = data["kwargs"] = data["result"] = None
            data["payloads_hidden"] = True
        return data

    def event_json(self, event: JobEvent) -> dict[str, Any]:
        data: dict[str, Any] = as_json(event)
        if isinstance(event, FinishedEvent) and self.hide_payloads:
            data["result"] = None
        return data

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        template = self.env.get_template(name)
        context.setdefault("notice", None)
        html = template.render(
            base=request.scope.get("root_path", ""),
            title=self.title,
            actions=self.actions,
            hide_payloads=self.hide_payloads,
            hidden=HIDDEN,
            csrf_field=CSRF_FIELD,
            csrf=csrf_token(request),
            path=request.url.path,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        new = getattr(request.state, "new_csrf", None)
        if new is not None:
            response.set_cookie(
                CSRF_COOKIE, new, httponly=True, samesite="strict", path=_cookie_path(request)
            )
        return response


def create_app(
    app: App | None = None,
    *,
    dsn: str | None = None,
    auth: AuthHook | None = None,
    actions: bool = False,
    hide_payloads: bool = False,
    title: str = "pgqueue",
    live_interval: float = 0.5,
    live_fallback: float = 5.0,
) -> Starlette:
    """The dashboard as an ASGI app, to serve (`pgqueue dashboard`) or mount in a Starlette or
    FastAPI application (`application.mount("/pgqueue", create_app(app, auth=...))`).

    `app` is the application's pgqueue App (its pool is shared); without one the dashboard
    makes its own from `dsn` (else PGQUEUE_DSN, DATABASE_URL, libpq's defaults). `auth` is
    called with every request: True lets it in, False answers 401, a Response is sent as is
    (see pgqueue.web.token_auth and basic_auth). `actions` enables requeue, retry, cancel and
    purge (off by default: a read-only dashboard); `hide_payloads` keeps arguments and results
    off every page, JSON and stream. Live updates read the database at most every
    `live_interval` seconds, and every `live_fallback` seconds without notifications.
    """
    owns_app = app is None
    board = Dashboard(
        app if app is not None else App(dsn, pool_max_size=4),
        owns_app=owns_app,
        actions=actions,
        hide_payloads=hide_payloads,
        title=title,
        min_interval=live_interval,
        fallback=live_fallback,
    )

    web = Starlette(
        routes=_routes(board),
        lifespan=_lifespan(board),
        exception_handlers={PgQueueError: _database_error(board)},
    )
    web.add_middleware(_Guard, auth=auth)
    # For an application that mounts the dashboard (a mounted app's lifespan does not run):
    # `await dashboard.state.close()` on shutdown stops its listener.
    web.state.dashboard = board
    web.state.close = board.close
    return web


def _routes(board: Dashboard) -> list[Route | Mount]:
    def page(
        handler: Callable[[Dashboard, Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            await board.ready()
            return await handler(board, request)

        return endpoint

    return [
        Route("/", page(_queues_page)),
        Route("/jobs", page(_jobs_page)),
        Route("/jobs/{job_id:int}", page(_job_page)),
        Route("/jobs/{job_id:int}/{action:str}", page(_job_action), methods=["POST"]),
        Route("/workers", page(_workers_page)),
        Route("/dead", page(_dead_page)),
        Route("/dead/confirm", page(_dead_confirm)),
        Route("/dead/{action:str}", page(_dead_action), methods=["POST"]),
        Route("/schedules", page(_schedules_page)),
        Route("/api/overview", page(_api_overview)),
        Route("/api/queues", page(_api_queues)),
        Route("/api/jobs", page(_api_jobs)),
        Route("/api/jobs/{job_id:int}", page(_api_job)),
        Route("/api/jobs/{job_id:int}/events", page(_api_job_events)),
        Route("/api/workers", page(_api_workers)),
        Route("/api/dead", page(_api_dead)),
        Route("/api/schedules", page(_api_schedules)),
        Route("/api/live", page(_api_live)),
        Mount("/static", StaticFiles(packages=[("pgqueue.web", "static")]), name="static"),
    ]


def _lifespan(
    board: Dashboard,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await board.close()

    return lifespan


def _database_error(board: Dashboard) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def database_error(request: Request, exc: Exception) -> Response:
        # The database is down, a role lacks a grant, the schema is missing: say which, as the
        # CLI does, instead of a bare 500.
        message = f"the database did not answer: {exc}"
        if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/"):
            return JSONResponse({"error": message}, status_code=503)
        return board.render(request, "error.html", 503, message=message)

    return database_error


class _Guard:
    """Auth for every request, security headers on every response."""

    def __init__(self, app: ASGIApp, auth: AuthHook | None) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refused = await check_auth(self.auth, request)
        if refused is None and isinstance(self.auth, TokenAuth) and "token" in request.query_params:
            # A token in the address bar moves into an HttpOnly cookie, out of the history.
            query = urlencode(
                [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            )
            refused = RedirectResponse(request.url.path + (f"?{query}" if query else ""), 303)
            # Lax, not Strict: a link to the dashboard from chat or a wiki should open it. Only
            # GETs ride along cross-site, and they only read; every form also needs CSRF.
            refused.set_cookie(
                TOKEN_COOKIE,
                request.query_params["token"],
                httponly=True,
                samesite="lax",
                path=_cookie_path(request),
            )

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *SECURITY_HEADERS]
            await send(message)

        if refused is not None:
            await refused(scope, receive, secured)
            return
        await self.app(scope, receive, secured)


def _cookie_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")) or "/"


# -- filters -----------------------------------------------------------------------------------


def _when(value: Any) -> str:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def _pretty(value: Any) -> str:
    compact = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    if len(compact) <= 80:
        return compact
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=True)


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    if value < 60:
        return f"{value:.1f}s"
    if value < 3600:
        return f"{value / 60:.0f}m"
    return f"{value / 3600:.1f}h"


# -- helpers -----------------------------------------------------------------------------------


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


def _int_param(request: Request, name: str) -> int | None:
    value = _param(request, name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise _BadInputError(f"{name} must be a job id (a whole number), got {value[:40]!r}")
    return int(value)


def _states_param(request: Request) -> list[str] | None:
    states = [s for s in request.query_params.getlist("state") if s]
    for state in states:
        if state not in STATES:
            raise _BadInputError(f"unknown state {state[:40]!r}; states are {', '.join(STATES)}")
    return states or None


class _BadInputError(ValueError):
    """A query parameter the dashboard cannot use: answered 400 with the reason."""


def _bad(board: Dashboard, request: Request, exc: _BadInputError) -> Response:
    if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/"):
        return JSONResponse({"error": str(exc)}, status_code=400)
    return board.render(request, "error.html", 400, message=str(exc))


MAX_FORM = 64 * 1024


async def _form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form (the dashboard's forms have a handful of short ones), read
    once; no multipart parser needed."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise _BadInputError("the form is too large")
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    request.state.form = fields
    return fields


def _sse(event: str, data: Any) -> bytes:
    payload = json.dumps(data, separators=(",", ":"), default=str)
    return f"event: {event}\ndata: {payload}\n\n".encode()


async def _with_keepalive(events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The stream's events, with a comment line whenever it has been quiet for KEEPALIVE."""
    it = events.__aiter__()
    pending: asyncio.Task[bytes] | None = None
    try:
        yield b": connected\n\n"
        while True:
            if pending is None:
                pending = asyncio.ensure_future(it.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE)
            if not done:
                yield b": keepalive\n\n"
                continue
            try:
                chunk = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(Exception):
            await it.aclose()  # type: ignore[attr-defined]


def _stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        _with_keepalive(events),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


# -- pages -------------------------------------------------------------------------------------


async def _queues_page(board: Dashboard, request: Request) -> Response:
    return board.render(request, "queues.html", overview=await board.overview())


async def _job_list(board: Dashboard, request: Request) -> tuple[dict[str, Any], Any]:
    filters: dict[str, Any] = {
        "queue": _param(request, "queue"),
        "task": _param(request, "task"),
        "states": _states_param(request),
    }
    page = await board.queries.job_page(
        queue=filters["queue"],
        task=filters["task"],
        states=filters["states"],
        before=_int_param(request, "before"),
        limit=_int_param(request, "limit") or 50,
    )
    return filters, page


def _older_link(base: str, filters: dict[str, Any], before: int) -> str:
    params: list[tuple[str, str]] = [
        (k, v) for k, v in (("queue", filters["queue"]), ("task", filters["task"])) if v
    ]
    params += [("state", s) for s in filters["states"] or []]
    params.append(("before", str(before)))
    return f"{base}/jobs?{urlencode(params)}"


async def _jobs_page(board: Dashboard, request: Request) -> Response:
    try:
        job_id = _int_param(request, "id")
        if job_id is not None:
            base = request.scope.get("root_path", "")
            return RedirectResponse(f"{base}/jobs/{job_id}", 303)
        filters, page = await _job_list(board, request)
    except _BadInputError as exc:
        return _bad(board, request, exc)
    base = request.scope.get("root_path", "")
    older = None if page.older is None else _older_link(base, filters, page.older)
    queues = [q.queue for q in await board.monitor.queues()]
    return board.render(
        request,
        "jobs.html",
        page=page,
        filters=filters,
        older=older,
        states=STATES,
        queues=queues,
    )


def _timeline(info: JobInfo) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [{"at": info.enqueued_at, "state": "queued", "text": "enqueued"}]
    if info.run_at > info.enqueued_at and (info.attempts == 0 or info.errors):
        steps.append({"at": info.run_at, "state": "scheduled", "text": "runnable from"})
    for error in info.errors:
        if not isinstance(error, dict):
            continue
        kind = str(error.get("kind") or "error")
        what = error.get("type") or kind
        steps.append(
            {
                "at": error.get("at"),
                "state": "failed",
                "text": f"attempt {error.get('attempt', '?')} failed ({kind}): {what}",
            }
        )
    if info.started_at is not None:
        steps.append({"at": info.started_at, "state": "running", "text": "started"})
    if info.finished_at is not None:
        steps.append({"at": info.finished_at, "state": info.state.value, "text": info.state.value})
    return sorted(steps, key=lambda s: _when(s["at"]))


async def _job_page(board: Dashboard, request: Request) -> Response:
    job_id = request.path_params["job_id"]
    info = await board.monitor.job(job_id)
    if info is None:
        return board.render(request, "error.html", 404, message=f"no job with id {job_id}")
    latest = None
    if isinstance(info.progress, dict) and isinstance(info.progress.get("value"), int | float):
        latest = info.progress
    return board.render(
        request,
        "job.html",
        job=info,
        progress=latest,
        timeline=_timeline(info),
        notice=_param(request, "done"),
    )


async def _job_action(board: Dashboard, request: Request) -> Response:
    job_id: int = request.path_params["job_id"]
    action: str = request.path_params["action"]
    refused = await _refuse_action(board, request, action)
    if refused is not None:
        return refused
    admin = Admin(board.app.repository)
    if action == "requeue":
        n = await admin.requeue_dead(DeadLetterFilter(ids=[job_id]))
        notice = f"requeued {n} job" if n else "not requeued: the job is not a dead letter"
    elif action == "retry":
        done = await admin.retry([job_id])
        notice = (
            "queued to run now"
            if done
            else "not retried: the job is not dead, cancelled or retrying"
        )
    elif action == "cancel":
        try:
            notice = f"cancel: {await board.app.cancel(job_id)}"
        except JobNotFoundError:
            notice = "cancel: no such job"
    else:
        n = await admin.purge_dead(DeadLetterFilter(ids=[job_id]))
        if n:
            base = request.scope.get("root_path", "")
            return RedirectResponse(
                f"{base}/dead?{urlencode({'done': f'purged job {job_id}'})}", 303
            )
        notice = "not purged: the job is not a dead letter"
    base = request.scope.get("root_path", "")
    return RedirectResponse(f"{base}/jobs/{job_id}?{urlencode({'done': notice})}", 303)


async def _refuse_action(board: Dashboard, request: Request, action: str) -> Response | None:
    if not board.actions:
        return PlainTextResponse(
            "actions are disabled on this dashboard (create_app(actions=True), "
            "pgqueue dashboard --enable-actions)\n",
            status_code=403,
        )
    if action not in ACTIONS:
        return PlainTextResponse(f"unknown action; actions are {', '.join(ACTIONS)}\n", 404)
    form = await _form(request)
    problem = csrf_problem(request, form.get(CSRF_FIELD))
    if problem is not None:
        return PlainTextResponse(problem + "\n", status_code=403)
    return None


async def _workers_page(board: Dashboard, request: Request) -> Response:
    return board.render(request, "workers.html", workers=await board.monitor.workers())


def _dead_filter(request: Request) -> dict[str, str | None]:
    return {"queue": _param(request, "queue"), "task": _param(request, "task")}


def _dead_letters(which: dict[str, str | None]) -> DeadLetterFilter:
    return DeadLetterFilter(queue=which["queue"], task=which["task"])


def _cursor(request: Request) -> tuple[datetime, int] | None:
    at, last = _param(request, "after_at"), _int_param(request, "after_id")
    if at is None or last is None:
        return None
    try:
        return datetime.fromisoformat(at), last
    except ValueError:
        raise _BadInputError(f"after_at must be an ISO 8601 time, got {at[:40]!r}") from None


async def _dead_page(board: Dashboard, request: Request) -> Response:
    try:
        which = _dead_filter(request)
        page = await board.queries.dead_page(
            queue=which["queue"], task=which["task"], after=_cursor(request)
        )
    except _BadInputError as exc:
        return _bad(board, request, exc)
    older = None
    if page.older is not None:
        params = [(k, v) for k, v in which.items() if v]
        params += [("after_at", page.older[0].isoformat()), ("after_id", str(page.older[1]))]
        older = f"{request.scope.get('root_path', '')}/dead?{urlencode(params)}"
    return board.render(
        request, "dead.html", page=page, which=which, older=older, notice=_param(request, "done")
    )


async def _dead_confirm(board: Dashboard, request: Request) -> Response:
    action = request.query_params.get("action", "")
    if not board.actions or action not in ("requeue", "purge"):
        return PlainTextResponse("actions are disabled on this dashboard\n", status_code=403)
    which = _dead_filter(request)
    count = await Admin(board.app.repository).count_dead(_dead_letters(which))
    return board.render(request, "confirm.html", action=action, which=which, count=count)


async def _dead_action(board: Dashboard, request: Request) -> Response:
    action: str = request.path_params["action"]
    refused = await _refuse_action(board, request, action)
    if refused is not None:
        return refused
    if action not in ("requeue", "purge"):
        return PlainTextResponse("dead letters can be requeued or purged\n", status_code=404)
    form = await _form(request)
    which = {k: (str(form.get(k) or "").strip() or None) for k in ("queue", "task")}
    admin = Admin(board.app.repository)
    if action == "requeue":
        notice = f"requeued {await admin.requeue_dead(_dead_letters(which))} dead letters"
    else:
        notice = f"purged {await admin.purge_dead(_dead_letters(which))} dead letters"
    base = request.scope.get("root_path", "")
    return RedirectResponse(f"{base}/dead?{urlencode({'done': notice})}", 303)


async def _schedules_page(board: Dashboard, request: Request) -> Response:
    return board.render(request, "schedules.html", schedules=await board.monitor.schedules())


# -- JSON and streams ---------------------------------------------------------------------------


async def _api_overview(board: Dashboard, _request: Request) -> Response:
    return JSONResponse(await board.overview())


async def _api_queues(board: Dashboard, _request: Request) -> Response:
    return JSONResponse(as_json(await board.monitor.queues()))


async def _api_jobs(board: Dashboard, request: Request) -> Response:
    try:
        _filters, page = await _job_list(board, request)
    except _BadInputError as exc:
        return _bad(board, request, exc)
    return JSONResponse(as_json(page))


async def _api_job(board: Dashboard, request: Request) -> Response:
    job_id = request.path_params["job_id"]
    info = await board.monitor.job(job_id)
    if info is None:
        return JSONResponse({"error": f"no job with id {job_id}"}, status_code=404)
    return JSONResponse(board.job_json(info))


async def _api_job_events(board: Dashboard, request: Request) -> Response:
    job_id = request.path_params["job_id"]
    if await board.monitor.job(job_id) is None:
        return JSONResponse({"error": f"no job with id {job_id}"}, status_code=404)

    async def events() -> AsyncIterator[bytes]:
        async for event in board.hub.job_events(job_id):
            if event is None:
                yield _sse("error", {"job_id": job_id, "error": "no such job"})
            elif isinstance(event, FinishedEvent):
                yield _sse("finished", board.event_json(event))
            else:
                yield _sse("progress", board.event_json(event))

    return _stream(events())


async def _api_workers(board: Dashboard, _request: Request) -> Response:
    return JSONResponse(as_json(await board.monitor.workers()))


async def _api_dead(board: Dashboard, request: Request) -> Response:
    try:
        which = _dead_filter(request)
        page = await board.queries.dead_page(
            queue=which["queue"], task=which["task"], after=_cursor(request)
        )
    except _BadInputError as exc:
        return _bad(board, request, exc)
    return JSONResponse(as_json(page))


async def _api_schedules(board: Dashboard, _request: Request) -> Response:
    return JSONResponse(as_json(await board.monitor.schedules()))


async def _api_live(board: Dashboard, _request: Request) -> Response:
    async def events() -> AsyncIterator[bytes]:
        async for snapshot in board.hub.overview():
            yield _sse("overview", snapshot)

    return _stream(events())
