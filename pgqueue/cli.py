"""The `pgqueue` command. Each command is thin: flags -> settings -> one call -> print.

Every option also reads PGQUEUE_<OPTION> from the environment (e.g. PGQUEUE_DSN).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from pgqueue import serialization
from pgqueue.client import App
from pgqueue.errors import ConfigurationError, PgQueueError
from pgqueue.job import JobRequest
from pgqueue.settings import WorkerSettings, resolve_dsn

T = TypeVar("T")

EXIT_ERROR = 1
EXIT_CONFIG = 2


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine, turning pgqueue errors into one clear line and a non-zero exit."""
    try:
        return asyncio.run(_as_coro(coro_factory))
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except PgQueueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)


async def _as_coro(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


def _dsn(dsn: str | None) -> str | None:
    try:
        return resolve_dsn(dsn)
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


def load_app(spec: str) -> App:
    """Import `module:attribute` (attribute defaults to `app`) from the current directory too."""
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attr or "app", None)
    if not isinstance(app, App):
        raise click.BadParameter(f"{spec!r} is not a pgqueue.App (found {type(app).__name__})")
    return app


def configure_logging(level: str, fmt: str = "text") -> None:
    """The CLI owns the process, so it (not the library) sets up logging."""
    handler = logging.StreamHandler()
    if fmt == "json":
        from pgqueue.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        from pgqueue.logs import TextFormatter

        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


dsn_option = click.option(
    "--dsn", envvar="PGQUEUE_DSN", show_envvar=True,
    help="PostgreSQL DSN. Default: PGQUEUE_DSN, then DATABASE_URL, then libpq defaults.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pgqueue")
def main() -> None:
    """pgqueue: a PostgreSQL-native job queue."""


@main.command()
@dsn_option
@click.option("--sql", "sql_only", is_flag=True, envvar="PGQUEUE_SQL",
              help="Print the DDL instead of running it (for a DBA).")
@click.option("--revision", default="head", envvar="PGQUEUE_REVISION", show_default=True,
              help="Target revision.")
def migrate(dsn: str | None, sql_only: bool, revision: str) -> None:
    """Create or upgrade pgqueue's schema (Alembic revisions, schema `pgqueue`)."""
    from pgqueue import migrate as migrations

    if sql_only:
        click.echo(migrations.upgrade_sql(revision))
        return
    resolved = _dsn(dsn)

    async def check() -> None:
        from pgqueue.repository import connect

        conn = await connect(resolved)
        await conn.close()

    _run(check)  # a clear error for a bad host/password/database before Alembic's traceback
    migrations.upgrade(resolved, revision)
    click.echo(f"pgqueue schema is at {revision}")


@main.command()
@click.argument("app_spec", metavar="MODULE:APP", envvar="PGQUEUE_APP")
@dsn_option
@click.option("--queue", "-q", "queues", multiple=True, envvar="PGQUEUE_QUEUE", show_envvar=True,
              help="Queue to serve (repeatable). Default: default.")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), envvar="PGQUEUE_CONCURRENCY",
              show_envvar=True, help="Jobs run at once. Default: 10.")
@click.option("--poll-interval", type=click.FloatRange(min=0.01), envvar="PGQUEUE_POLL_INTERVAL",
              show_envvar=True, help="Seconds between polls when no NOTIFY arrives. Default: 2.")
@click.option("--no-listen", is_flag=True, envvar="PGQUEUE_NO_LISTEN", show_envvar=True,
              help="Poll only, without LISTEN (e.g. behind PgBouncer in transaction mode).")
@click.option("--shutdown-timeout", type=click.FloatRange(min=0), envvar="PGQUEUE_SHUTDOWN_TIMEOUT",
              show_envvar=True, help="Seconds running jobs get to finish on SIGTERM. Default: 30.")
@click.option("--log-level", default="INFO", envvar="PGQUEUE_LOG_LEVEL", show_envvar=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--log-format", default="text", envvar="PGQUEUE_LOG_FORMAT", show_envvar=True,
              type=click.Choice(["text", "json"]))
def worker(
    app_spec: str,
    dsn: str | None,
    queues: tuple[str, ...],
    concurrency: int | None,
    poll_interval: float | None,
    no_listen: bool,
    shutdown_timeout: float | None,
    log_level: str,
    log_format: str,
) -> None:
    """Run a worker for the tasks of MODULE:APP."""
    from pgqueue.worker import run_until_signalled

    configure_logging(log_level, log_format)
    app = load_app(app_spec)
    if dsn:
        app.dsn = _dsn(dsn)
    try:
        settings = WorkerSettings.from_env(
            queues=queues or None, concurrency=concurrency, poll_interval=poll_interval,
            shutdown_timeout=shutdown_timeout, listen=False if no_listen else None,
        )
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)

    async def serve() -> None:
        try:
            await run_until_signalled(app.worker(settings))
        finally:
            await app.close()

    _run(serve)


@main.command()
@click.argument("task")
@dsn_option
@click.option("--args", "args_json", default="[]", envvar="PGQUEUE_ARGS",
              help="Positional arguments as a JSON array.")
@click.option("--kwargs", "kwargs_json", default="{}", envvar="PGQUEUE_KWARGS",
              help="Keyword arguments as a JSON object.")
@click.option("--queue", default="default", envvar="PGQUEUE_QUEUE", show_default=True)
@click.option("--priority", type=int, default=0, envvar="PGQUEUE_PRIORITY", show_default=True)
@click.option("--delay", type=click.FloatRange(min=0), default=None, envvar="PGQUEUE_DELAY",
              help="Seconds from now before the job may run.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=None,
              envvar="PGQUEUE_MAX_ATTEMPTS")
def enqueue(
    task: str, dsn: str | None, args_json: str, kwargs_json: str, queue: str, priority: int,
    delay: float | None, max_attempts: int | None,
) -> None:
    """Enqueue a job for TASK (by name) and print its id."""
    try:
        args = serialization.loads(args_json)
        kwargs = serialization.loads(kwargs_json)
    except PgQueueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not isinstance(args, list):
        raise click.BadParameter("--args must be a JSON array, e.g. '[1, 2]'")
    if not isinstance(kwargs, dict):
        raise click.BadParameter('--kwargs must be a JSON object, e.g. \'{"x": 1}\'')
    app = App(_dsn(dsn))
    request = JobRequest(task=task, args=args, kwargs=kwargs, queue=queue, priority=priority,
                         delay_seconds=delay, max_attempts=max_attempts)

    async def send() -> int:
        async with app:
            [done] = await app.enqueue_requests([request])
            return done.id

    click.echo(_run(send))


