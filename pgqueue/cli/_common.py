"""What every command shares: DSN resolution, running a coroutine with clear errors, loading
MODULE:APP, logging setup.

Errors are one line on stderr (`error: ...`) saying what went wrong and what to do, and an exit
code; `--log-level DEBUG` adds the traceback below that line.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import sysconfig
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

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
        fail(str(exc), EXIT_CONFIG, exc)
    except PgQueueError as exc:
        fail(str(exc), EXIT_ERROR, exc)


def fail(message: str, code: int, exc: BaseException | None = None) -> NoReturn:
    """Print `error: message` (one line) and exit with `code`; under --log-level DEBUG also the
    traceback of `exc`."""
    click.echo(f"error: {' '.join(message.split())}", err=True)
    if exc is not None and debugging():
        click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
    sys.exit(code)


def debugging() -> bool:
    return logging.getLogger("pgqueue").isEnabledFor(logging.DEBUG)


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
        fail(str(exc), EXIT_CONFIG, exc)


def load_app(spec: str) -> App:
    """Import `module:attribute` (attribute defaults to `app`) from the current directory too.

    Whatever goes wrong is one line and exit 2: the module cannot be found, it raised while it
    was imported (a bug, a malformed cron in @app.periodic, a malformed DSN), or the attribute is
    not an App."""
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        fail(f"cannot import {module_name!r}: {exc}{_raised_at(exc)}", EXIT_CONFIG, exc)
    except ConfigurationError as exc:  # App() at import time with a malformed DSN: says it all
        fail(str(exc), EXIT_CONFIG, exc)
    except PgQueueError as exc:  # a malformed cron or task definition
        fail(
            f"{exc} (while importing {module_name!r}{_raised_at(exc, bare=True)})", EXIT_CONFIG, exc
        )
    except Exception as exc:
        fail(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}{_raised_at(exc)}; "
            "fix the module (--log-level DEBUG prints the traceback)",
            EXIT_CONFIG,
            exc,
        )
    app = getattr(module, attr or "app", None)
    if not isinstance(app, App):
        fail(
            f"{spec!r} is not a pgqueue.App (found {type(app).__name__}): "
            "name the App as MODULE:ATTRIBUTE, e.g. myapp.tasks:app",
            EXIT_CONFIG,
        )
    return app


def _raised_at(exc: BaseException, *, bare: bool = False) -> str:
    """Where the import failed: the innermost frame in the application's own files (not Python's,
    an installed package's or pgqueue's), or nothing if there is none (the module is missing)."""
    own = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<") and not _is_library(frame.filename)
    ]
    if not own:
        return ""
    where = f"at {_shown_path(own[-1].filename)}:{own[-1].lineno}"
    return f", {where}" if bare else f" ({where})"


def _is_library(filename: str) -> bool:
    path = Path(filename).resolve()
    paths = sysconfig.get_paths()
    roots = {paths["stdlib"], paths["purelib"], paths["platlib"], str(Path(__file__).parents[1])}
    return any(path.is_relative_to(Path(root).resolve()) for root in roots)


def _shown_path(filename: str) -> str:
    relative = os.path.relpath(filename)
    return filename if relative.startswith("..") else relative


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


LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


def _set_log_level(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        configure_logging(value)


def log_level_everywhere(group: click.Group) -> None:
    """Give every command of `group` a --log-level option (PGQUEUE_LOG_LEVEL) unless it has its
    own (`worker`): DEBUG adds the traceback to an error, and pgqueue's debug logs."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            log_level_everywhere(command)
        elif not any(param.name == "log_level" for param in command.params):
            command.params.append(
                click.Option(
                    ["--log-level"],
                    type=LOG_LEVELS,
                    envvar="PGQUEUE_LOG_LEVEL",
                    show_envvar=True,
                    expose_value=False,
                    is_eager=True,
                    callback=_set_log_level,
                    help="DEBUG: also print the traceback of an error. Default: warnings only.",
                )
            )


dsn_option = click.option(
    "--dsn",
    envvar="PGQUEUE_DSN",
    show_envvar=True,
    help="PostgreSQL DSN. Default: PGQUEUE_DSN, then DATABASE_URL, then libpq defaults.",
)
