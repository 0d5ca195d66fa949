"""`pgqueue dashboard`: the web dashboard (needs the `web` extra; docs/dashboard.md).

Starlette and uvicorn are imported only when the command runs, so the rest of the CLI starts
fast and works without the extra.
"""

from __future__ import annotations

import ipaddress

import click

from pgqueue._cli._common import EXIT_CONFIG, app_settings, dsn_option, fail
from pgqueue._cli.group import main


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@main.command()
@dsn_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="PGQUEUE_DASHBOARD_HOST",
    help="Address to listen on.",
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="PGQUEUE_DASHBOARD_PORT",
    help="Port to listen on.",
)
@click.option(
    "--token",
    envvar="PGQUEUE_DASHBOARD_TOKEN",
    show_envvar=True,
    help="Require this token (Authorization: Bearer, or open the dashboard once with ?token=...).",
)
@click.option(
    "--basic-auth",
    "basic",
    metavar="USER:PASSWORD",
    envvar="PGQUEUE_DASHBOARD_BASIC_AUTH",
    show_envvar=True,
    help="Require HTTP basic auth with this user and password.",
)
@click.option(
    "--enable-actions",
    "actions",
    is_flag=True,
    envvar="PGQUEUE_DASHBOARD_ACTIONS",
    help="Allow requeue, retry, cancel and purge (read-only without it).",
)
@click.option(
    "--hide-payloads",
    is_flag=True,
    envvar="PGQUEUE_DASHBOARD_HIDE_PAYLOADS",
    help="Never show job arguments or results.",
)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Listen on a non-loopback address without --token or --basic-auth.",
)
def dashboard(
    dsn: str | None,
    host: str,
    port: int,
    token: str | None,
    basic: str | None,
    actions: bool,
    hide_payloads: bool,
    allow_unauthenticated: bool,
) -> None:
    """Serve the live web dashboard.

    Queues, jobs, workers, dead letters and schedules, live from the database."""
    try:
        from pgqueue import web
    except ImportError as exc:
        fail('the dashboard needs its extra: pip install "pgqueue[web]"', EXIT_CONFIG, exc)
    if token and basic:
        fail("give --token or --basic-auth, not both", EXIT_CONFIG)
    auth = None
    if token:
        auth = web.token_auth(token)
    elif basic:
        user, sep, password = basic.partition(":")
        if not sep or not user or not password:
            fail("--basic-auth takes USER:PASSWORD", EXIT_CONFIG)
        auth = web.basic_auth(user, password)
    if auth is None and not _loopback(host) and not allow_unauthenticated:
        fail(
            f"refusing to serve the dashboard on {host} without --token or --basic-auth "
            "(anyone who can reach it would see every job); pass --allow-unauthenticated "
            "if something in front of it checks who comes in",
            EXIT_CONFIG,
        )
    web.serve(
        dsn=app_settings(dsn=dsn).dsn,
        host=host,
        port=port,
        auth=auth,
        actions=actions,
        hide_payloads=hide_payloads,
    )
