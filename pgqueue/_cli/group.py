"""The `pgqueue` click group every command module attaches to."""

from __future__ import annotations

import click

from pgqueue import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pgqueue")
def main() -> None:
    """pgqueue: a PostgreSQL-native job queue.

    Every option also reads PGQUEUE_<OPTION> from the environment; every command that connects
    takes --dsn (PGQUEUE_DSN, then DATABASE_URL, then libpq's defaults). Exit codes: 0 success,
    1 error, 2 bad flags or settings, 3 unhealthy, 4 no such job, 5 the watched job failed."""
