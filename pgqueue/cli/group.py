"""The `pgqueue` click group every command module attaches to."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pgqueue")
def main() -> None:
    """pgqueue: a PostgreSQL-native job queue."""
