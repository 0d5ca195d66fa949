"""`pgqueue dev MODULE:APP`: local development in one command. A server (the DSN given, else
libpq's defaults when something answers there, else an embedded PostgreSQL that persists in
.pgqueue/dev-pg between runs), the schema migrated, its DSN printed, a worker on the app.
`--stop` stops the embedded server, `--reset` deletes its data."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from pgqueue.cli._common import (
    EXIT_CONFIG,
    EXIT_ERROR,
    configure_logging,
    dsn_option,
    load_app,
    run_or_exit,
)
from pgqueue.cli.group import main
from pgqueue.errors import ConfigurationError, PgQueueError
from pgqueue.settings import WorkerSettings, redact_dsn

if TYPE_CHECKING:
    from pgqueue.embedded import DevDatabase

T = TypeVar("T")


@main.command()
@click.argument("app_spec", metavar="[MODULE:APP]", required=False, envvar="PGQUEUE_APP")
@dsn_option
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".pgqueue") / "dev-pg",
    envvar="PGQUEUE_DEV_DIR",
    show_envvar=True,
    show_default=True,
    help="Where the embedded server keeps its data (used only when no server is configured).",
)
@click.option("--stop", is_flag=True, help="Stop the embedded server, then exit.")
@click.option("--reset", is_flag=True, help="Stop the embedded server and delete its data.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before --reset deletes the data.")
@click.option(
    "--queue", "-q", "queues", multiple=True, help="Queue to serve (repeatable). Default: default."
)
@click.option("--concurrency", "-c", type=click.IntRange(min=1), help="Jobs run at once.")
@click.option(
    "--log-level",
    default="INFO",
    envvar="PGQUEUE_LOG_LEVEL",
    show_envvar=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def dev(
    app_spec: str | None,
    dsn: str | None,
    data_dir: Path,
    stop: bool,
    reset: bool,
    yes: bool,
    queues: tuple[str, ...],
    concurrency: int | None,
    log_level: str,
) -> None:
    """Develop against a local server: migrate, print the DSN, run a worker for MODULE:APP.

    Without a DSN (--dsn, PGQUEUE_DSN, DATABASE_URL) and with nothing answering at libpq's
    defaults, an embedded PostgreSQL is started in --data-dir (pip install 'pgqueue[embedded]')
    and keeps running after Ctrl-C, for the next run; `pgqueue dev --stop` stops it.
    """
    if stop and (reset or app_spec):
        raise click.UsageError("--stop takes no MODULE:APP and no --reset")
    if stop:
        _stop(data_dir)
        return
    if reset:
        _reset(data_dir, yes)
        if not app_spec:
            return
    if not app_spec:
        raise click.UsageError("missing MODULE:APP (e.g. pgqueue dev examples.tasks:app)")
    configure_logging(log_level)
    app = load_app(app_spec)  # before any server starts: a bad MODULE:APP fails at once
    database = _or_exit(lambda: _dev_database(dsn or app.dsn, data_dir))
    if database.server is not None:
        click.echo(f"PGQUEUE_DSN={database.dsn}")
    else:
        click.echo(f"using {redact_dsn(database.dsn)}")
    _migrate(database.dsn)
    app.dsn = database.dsn
    settings = _or_exit(
        lambda: WorkerSettings.from_env(queues=queues or None, concurrency=concurrency)
    )

    async def serve() -> None:
        from pgqueue.worker import run_until_signalled

        try:
            await run_until_signalled(app.worker(settings))
        finally:
            await app.close()

    run_or_exit(serve)
    if database.server is not None:
        click.echo(
            f"the embedded PostgreSQL keeps running in {data_dir} (pgqueue dev --stop stops it)",
            err=True,
        )


def _dev_database(dsn: str | None, data_dir: Path) -> DevDatabase:
    from pgqueue.embedded import dev_database

    return dev_database(dsn, directory=data_dir)


def _stop(data_dir: Path) -> None:
    from pgqueue.embedded import EmbeddedServer

    stopped = _or_exit(lambda: EmbeddedServer(data_dir).stop())
    if stopped:
        click.echo(f"stopped the embedded PostgreSQL in {data_dir}")
    else:
        click.echo(f"no embedded PostgreSQL runs in {data_dir}")


def _reset(data_dir: Path, yes: bool) -> None:
    from pgqueue.embedded import EmbeddedServer

    if not data_dir.exists():
        click.echo(f"nothing to reset: {data_dir} does not exist")
        return
    if not yes:
        click.confirm(
            f"Delete the embedded PostgreSQL's data in {data_dir} for good?", abort=True, err=True
        )
    _or_exit(lambda: EmbeddedServer(data_dir).reset())
    click.echo(f"deleted {data_dir}")


def _migrate(dsn: str | None) -> None:
    from alembic.util.exc import CommandError

    from pgqueue import migrate as migrations

    async def check() -> None:
        from pgqueue.repository import connect

        conn = await connect(dsn)
        await conn.close()

    run_or_exit(check)  # a clear error for a bad host/password/database before Alembic's traceback
    try:
        migrations.upgrade(dsn)
    except CommandError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    click.echo("pgqueue schema is at head")


def _or_exit(action: Callable[[], T]) -> T:
    try:
        return action()
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except PgQueueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
