"""Output: the one table renderer for people, one JSON document for machines (`--json`, stable
keys documented in docs/operations.md). rich and orjson are imported when something is printed,
not when the command modules load (`pgqueue --help` stays fast)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


def console() -> Console:
    from rich.console import Console

    probe = Console()
    # Piped output gets a wide, plain table rather than one cut to 80 columns (unless COLUMNS
    # says how wide).
    if probe.is_terminal:
        return probe
    width = None if os.environ.get("COLUMNS") else 200
    return Console(width=width, color_system=None, highlight=False)


def show(renderable: RenderableType | str) -> None:
    console().print(renderable)


def echo_json(value: Any) -> None:
    import orjson

    from pgqueue._monitoring import as_json

    click.echo(orjson.dumps(as_json(value)).decode())


def table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> RenderableType:
    """Columns named in capitals; numbers right-aligned. One space before each column and no
    borders, so a table of ten columns reads at 80 columns; text columns wrap, others never."""
    from rich.table import Table

    t = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=None,
        padding=(0, 0, 0, 1),
    )
    for name in columns:
        t.add_column(
            name,
            justify="right" if name in NUMERIC else "left",
            no_wrap=name not in WRAP,
            overflow="fold",
        )
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
    "BEAT",
    "UPTIME",
    "DONE",
    "FAIL",
    "RUN",
}
# Columns whose text may wrap inside the cell when the terminal is narrow.
WRAP = {"HOST", "QUEUES", "TASK", "QUEUE", "LAST ERROR", "ERROR", "HEALTH", "VALUE", "NAME"}


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
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
    from pgqueue._durations import format_duration

    return "-" if seconds is None else format_duration(max(seconds, 0.0))


def short(text: str | None, width: int = 60) -> str:
    if not text:
        return "-"
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
