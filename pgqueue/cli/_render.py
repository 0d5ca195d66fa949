"""Output for operator commands: rich tables for people, one JSON document per line for
machines (`--json`, stable keys documented in docs/operations.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from pgqueue.durations import format_duration
from pgqueue.monitoring import as_json


def console() -> Console:
    probe = Console()
    # Piped output gets a wide, plain table rather than one cut to 80 columns.
    if probe.is_terminal:
        return probe
    return Console(width=200, color_system=None, highlight=False)


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(as_json(value)).decode())


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold", show_edge=False)
    for name in columns:
        numeric = name.isupper() and name in NUMERIC
        t.add_column(name, justify="right" if numeric else "left", no_wrap=name in NO_WRAP)
    for row in rows:
        t.add_row(*(cell(v) for v in row))
    return t


NUMERIC = {
    "ID",
    "READY",
    "SCHEDULED",
    "RUNNING",
    "RETRYING",
    "DEAD",
    "OK/5M",
    "FAILED/5M",
    "LAG",
    "PID",
    "PROCESSED",
    "FAILED",
    "ACTIVE",
    "ATTEMPTS",
    "PRIORITY",
    "HEARTBEAT",
}
NO_WRAP = {"ID", "RUN AT", "FINISHED", "DIED", "LAST TICK", "NEXT RUN", "WORKER"}


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def age(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(max(seconds, 0.0))


def short(text: str | None, width: int = 60) -> str:
    if not text:
        return "-"
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
