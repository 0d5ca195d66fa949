"""What every command shares: the exit codes, one error line, the settings load, MODULE:APP,
the duration type, logging.

Nothing heavy is imported at module level: `pgqueue --help` imports every command module, and
must stay fast (no SQLAlchemy, asyncpg or rich until a command runs). Errors are one line on
stderr (`error: ...`) saying what went wrong and what to do, and an exit code from the table
below; `--log-level DEBUG` adds the traceback below that line.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    import asyncio

    from pgqueue._client import App
    from pgqueue.settings import AppSettings, WorkerSettings

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# The exit codes, the one table of docs/cli.md ("Exit codes"); every command uses only these.
EXIT_OK = 0
EXIT_ERROR = 1  # a database or unexpected error; also click's "Aborted!"
EXIT_CONFIG = 2  # bad flags, settings or MODULE:APP (click's usage errors too)
EXIT_UNHEALTHY = 3  # a `status --fail-if-...` health check failed
EXIT_NOT_FOUND = 4  # no such job, or a job named by id could not be acted on
EXIT_JOB_FAILED = 5  # `watch`: the job ended dead-lettered or cancelled


def fail(message: str, code: int, exc: BaseException | None = None) -> NoReturn:
    """Print `error: message` (one line) and exit with `code`; under --log-level DEBUG also the
    traceback of `exc`."""
    click.echo(f"error: {' '.join(message.split())}", err=True)
    if exc is not None and debugging():
        import traceback

        click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
    sys.exit(code)


@contextmanager
def errors_exit() -> Iterator[None]:
    """pgqueue errors inside become one line and their exit code: configuration 2, else 1."""
    from pgqueue.errors import ConfigurationError, PgQueueError

    try:
        yield
    except ConfigurationError as exc:
        fail(str(exc), EXIT_CONFIG, exc)
    except PgQueueError as exc:
        fail(str(exc), EXIT_ERROR, exc)


def debugging() -> bool:
    import logging

    return logging.getLogger("pgqueue").isEnabledFor(logging.DEBUG)


def run_or_exit(coro_factory: Callable[[], Awaitable[T]], *, loop: str = "asyncio") -> T:
    """Run a coroutine, turning pgqueue errors into one clear line and a non-zero exit.

    `loop`: "asyncio", "uvloop", or "auto" (uvloop when it is installed: pip install
    pgqueue[uvloop])."""
    import asyncio

    async def as_coro() -> T:
        return await coro_factory()

    with errors_exit(), asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(as_coro())


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop factory for --loop; None means asyncio's own."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            from pgqueue.errors import ConfigurationError

            raise ConfigurationError(
                "--loop uvloop needs uvloop: pip install 'pgqueue[uvloop]'"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


# -- settings ----------------------------------------------------------------------------------


def app_settings(**flags: Any) -> AppSettings:
    """The one settings load of a command: defaults < PGQUEUE_* < the flags given (None: not
    given); a bad value is one line and exit 2."""
    from pgqueue.settings import AppSettings

    with errors_exit():
        return AppSettings.load(**flags)


def open_app(dsn: str | None, **flags: Any) -> App:
    """An App for an operator command (no tasks), on the settings of the flags."""
    from pgqueue._client import App

    return App(settings=app_settings(dsn=dsn, **flags))


def with_app(dsn: str | None, action: Callable[[App], Awaitable[T]]) -> T:
    """Open an App on the DSN, run `action`, close it; errors become one line and an exit code."""
    app = open_app(dsn, pool_max_size=2)

    async def run() -> T:
        async with app:
            return await action(app)

    return run_or_exit(run)


def load_app(spec: str, **flags: Any) -> App:
    """Import `module:attribute` (attribute defaults to `app`) from the current directory too.

    The flags given (`dsn=`, `command_timeout=`; None: not given) are the top layer of the
    settings the module's App loads when it is built, so it never changes afterwards. Whatever
    goes wrong is one line and exit 2."""
    from pgqueue._cli._load import import_app

    given = {name: value for name, value in flags.items() if value is not None}
    if "dsn" in given:
        given["dsn"] = app_settings(dsn=given["dsn"]).dsn  # malformed: exit 2 before importing
    return import_app(spec, given, lambda message, exc: fail(message, EXIT_CONFIG, exc))


def load_modules(names: Sequence[str], **flags: Any) -> None:
    """Import the task modules `names` (after `load_app`, with the same flags): whatever goes
    wrong is one line and exit 2, as for MODULE:APP."""
    from pgqueue._cli._load import import_modules

    given = {name: value for name, value in flags.items() if value is not None}
    if "dsn" in given:
        given["dsn"] = app_settings(dsn=given["dsn"]).dsn
    import_modules(names, given, lambda message, exc: fail(message, EXIT_CONFIG, exc))


async def report_tasks(app: App, settings: WorkerSettings) -> None:
    """Before the worker claims: warn by name about tasks with jobs waiting on its queues that
    no imported module registers (the worker dead-letters such a job as an unknown task). Best
    effort: a database that cannot answer yet is the worker's start-up to wait for and report,
    not this check's."""
    import logging

    from pgqueue._monitoring import Monitor
    from pgqueue.errors import PgQueueError

    log = logging.getLogger("pgqueue.worker")
    names = app.registry.names()
    try:
        await app.open()
        missing = await Monitor(app.repository).unregistered_tasks(settings.queues, names)
    except PgQueueError as exc:
        log.debug("could not check for unregistered tasks: %s", exc)
        return
    if missing:
        log.warning(
            "jobs are waiting for task(s) that no imported module registers: %s; they will be "
            "dead-lettered as unknown tasks: name the module(s) that define them with --import "
            "(or PGQUEUE_IMPORTS)",
            ", ".join(f"{task} ({n} job{'s' * (n != 1)})" for task, n in missing.items()),
        )


def log_tasks(app: App) -> None:
    """Once the worker serves: the tasks it runs, by name."""
    import logging

    names = app.registry.names()
    logging.getLogger("pgqueue.worker").info(
        "serving %d task(s): %s", len(names), ", ".join(names) or "none"
    )


# -- flags -------------------------------------------------------------------------------------

KEEP = ("keep", "forever", "none", "off")


class Duration(click.ParamType[Any]):
    """The one duration type of every flag: seconds, or 30s, 15m, 2h, 7d, 1w, 1h30m; at least
    `minimum`. With `keep=True` also the words keep/forever/none/off, read as "keep"."""

    name = "duration"

    def __init__(self, minimum: float = 0.0, *, keep: bool = False) -> None:
        self.minimum = minimum
        self.keep = keep
        if keep:
            self.name = "duration|keep"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif self.keep and str(value).strip().lower() in KEEP:
            return "keep"
        else:
            from pgqueue._durations import parse_duration

            try:
                seconds = parse_duration(str(value))
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        if seconds < self.minimum:
            self.fail(f"{value!r} is shorter than the minimum, {self.minimum:g}s", param, ctx)
        return seconds


DURATION = Duration()


def option(*decls: str, **kwargs: Any) -> Callable[[F], F]:
    """click.option that also reads PGQUEUE_<LONG_FLAG> (--poll-interval: PGQUEUE_POLL_INTERVAL),
    shown in --help: every flag's environment variable is named the same way."""
    flag = next(d for d in decls if d.startswith("--"))
    kwargs.setdefault("envvar", "PGQUEUE_" + flag[2:].replace("-", "_").upper())
    kwargs.setdefault("show_envvar", True)
    return click.option(*decls, **kwargs)


dsn_option = option(
    "--dsn",
    help="PostgreSQL DSN. Default: PGQUEUE_DSN, then DATABASE_URL, then libpq's defaults.",
)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (stable keys: docs/operations.md)."
)


# -- logging -----------------------------------------------------------------------------------

LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)
LOG_LEVEL_HELP = "DEBUG also prints the traceback of an error."


def configure_logging(level: str, fmt: str = "text") -> None:
    """The CLI owns the process, so it (not the library) sets up logging."""
    import logging

    from pgqueue.logs import JobContextFilter, JsonFormatter, TextFormatter

    handler = logging.StreamHandler()
    handler.addFilter(JobContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # During an outage asyncpg's pool logs a full traceback per connection it fails to restore;
    # pgqueue already logs one line per backoff step for the same event.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


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
                    help=f"{LOG_LEVEL_HELP} Default: warnings only.",
                )
            )
