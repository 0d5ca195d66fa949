"""What every command shares: DSN resolution, running a coroutine with clear errors, loading
MODULE:APP, logging setup."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from pgqueue.client import App
from pgqueue.errors import ConfigurationError, PgQueueError
from pgqueue.settings import resolve_dsn

T = TypeVar("T")

# Exit codes (docs/operations.md): 0 success.
EXIT_ERROR = 1  # a database or unexpected error; also click's "Aborted!"
EXIT_CONFIG = 2  # bad flags or settings (click usage errors too)
EXIT_UNHEALTHY = 3  # a `status --fail-if-...` health check failed
EXIT_NOT_FOUND = 4  # no such job, or a job given by id could not be acted on
EXIT_JOB_FAILED = 5  # `watch`: the job ended dead-lettered or cancelled


def run_or_exit(coro_factory: Callable[[], Awaitable[T]], *, loop: str = "asyncio") -> T:
    """Run a coroutine, turning pgqueue errors into one clear line and a non-zero exit.

    `loop`: "asyncio", "uvloop", or "auto" (uvloop when it is installed: pip install
    pgqueue[uvloop])."""
    try:
        with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
            return runner.run(_as_coro(coro_factory))
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except PgQueueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop factory for --loop; None means asyncio's own."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise ConfigurationError(
                "--loop uvloop needs uvloop: pip install 'pgqueue[uvloop]'"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _as_coro(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


def resolve_or_exit(dsn: str | None) -> str | None:
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
    except ConfigurationError as exc:  # e.g. App() at import time with a malformed DSN
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    app = getattr(module, attr or "app", None)
    if not isinstance(app, App):
        raise click.BadParameter(f"{spec!r} is not a pgqueue.App (found {type(app).__name__})")
    return app


def configure_logging(level: str, fmt: str = "text") -> None:
    """The CLI owns the process, so it (not the library) sets up logging."""
    from pgqueue.logs import JobContextFilter

    handler = logging.StreamHandler()
    handler.addFilter(JobContextFilter())
    if fmt == "json":
        from pgqueue.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        from pgqueue.logs import TextFormatter

        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # During an outage asyncpg's pool logs a full traceback per connection it fails to restore;
    # pgqueue already logs one line per backoff step for the same event.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


dsn_option = click.option(
    "--dsn",
    envvar="PGQUEUE_DSN",
    show_envvar=True,
    help="PostgreSQL DSN. Default: PGQUEUE_DSN, then DATABASE_URL, then libpq defaults.",
)
