"""The web dashboard (`pip install "pgqueue[web]"`): `pgqueue dashboard`, or mount
`create_app(app)` inside a Starlette or FastAPI application. See docs/dashboard.md.

Pages for queues, jobs, a job (live progress), workers, dead letters and schedules; JSON for
each list; `GET /api/jobs/{id}/events`, a Server-Sent Events stream of one job's progress and
outcome for an application's own frontend.
"""

from __future__ import annotations

from pgqueue.web._app import create_app
from pgqueue.web._security import AuthHook, basic_auth, token_auth

__all__ = ["AuthHook", "basic_auth", "create_app", "serve", "token_auth"]


def serve(
    *,
    dsn: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    auth: AuthHook | None = None,
    actions: bool = False,
    hide_payloads: bool = False,
) -> None:
    """Run the dashboard with uvicorn until interrupted (what `pgqueue dashboard` does)."""
    import uvicorn

    web = create_app(dsn=dsn, auth=auth, actions=actions, hide_payloads=hide_payloads)
    # Open event streams would hold a graceful shutdown forever: give them two seconds.
    uvicorn.run(web, host=host, port=port, timeout_graceful_shutdown=2, log_level="info")
