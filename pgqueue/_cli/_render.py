"""Output: the one table renderer for people, one JSON document for machines (`--json`, stable
keys documented in docs/operations.md). On a terminal tables go through rich; piped (scripts,
health checks, `watch`) a table of plain text cells is laid out here, as rich would lay it out,
so those commands never import rich (34 ms of the 300 ms `pgqueue status` may take: issue 18
goal 10). rich and orjson are imported when something is printed, not when the command modules
load (`pgqueue --help` stays fast)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import click

if TYPE_CHECKING:
    from rich.console import Console

# Piped output gets a wide table rather than one cut to 80 columns (unless COLUMNS says how wide).
PIPED_WIDTH = 200
# What rich looks at, besides isatty, to treat the output as a terminal.
_TERMINAL_ENV = ("FORCE_TERMINAL", "TTY_INTERACTIVE", "TTY_COMPATIBLE")


@dataclass(frozen=True, slots=True)
class Table:
    """Columns named in capitals and rows of text cells (`cell`), for `Output.print`."""

    title: str | None
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]


class Output(Protocol):
    @property
    def width(self) -> int: ...

    @property
    def is_terminal(self) -> bool: ...

    def print(self, value: Table | str, *, markup: bool = True, highlight: bool = True) -> None:
        """A table or a line; `markup`/`highlight` False: the text is shown as it is."""
        ...

    def clear(self) -> None: ...


def console() -> Output:
    if sys.stdout.isatty() or any(os.environ.get(name) for name in _TERMINAL_ENV):
        return _RichOutput(_rich_console())
    columns = os.environ.get("COLUMNS", "")
    return _PlainOutput(int(columns) if columns.isdigit() else PIPED_WIDTH)


def show(value: Table | str) -> None:
    console().print(value)


def _rich_console() -> Console:
    from rich.console import Console

    probe = Console()
    if probe.is_terminal:
        return probe
    width = None if os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(width=width, color_system=None, highlight=False)


class _RichOutput:
    def __init__(self, rich: Console) -> None:
        self._rich = rich

    @property
    def width(self) -> int:
        return self._rich.width

    @property
    def is_terminal(self) -> bool:
        return self._rich.is_terminal

    def print(self, value: Table | str, *, markup: bool = True, highlight: bool = True) -> None:
        if isinstance(value, Table):
            self._rich.print(_rich_table(value))
        else:
            self._rich.print(value, markup=markup, highlight=highlight)

    def clear(self) -> None:
        self._rich.clear()


class _PlainOutput:
    def __init__(self, width: int) -> None:
        self.width = width
        self.is_terminal = False

    def print(self, value: Table | str, *, markup: bool = True, highlight: bool = True) -> None:
        if isinstance(value, str):
            click.echo(value)
            return
        lines = plain_lines(value, self.width)
        if lines is None:  # text that needs rich's measuring or wrapping
            _RichOutput(_rich_console()).print(value)
            return
        for line in lines:
            click.echo(line)

    def clear(self) -> None:
        pass


def plain_lines(t: Table, width: int) -> list[str] | None:
    """`t` laid out as rich lays out `table()` on a plain console of `width` columns: one space
    before each column, numbers right-aligned, the title left-aligned over the table's width. None
    when rich would do something else: a cell that is not printable ASCII (wide characters), or a
    table (or a title) wider than the table may be (rich wraps them)."""
    cells = [list(t.columns), *([str(v) for v in row] for row in t.rows)]
    if not all(c.isascii() and c.isprintable() for row in cells for c in row):
        return None
    widths = [max(len(row[i]) for row in cells) for i in range(len(t.columns))]
    total = sum(w + 1 for w in widths)
    if total > width or (t.title is not None and len(t.title) > total):
        return None
    right = [name in NUMERIC for name in t.columns]
    lines = [] if t.title is None else [t.title.ljust(total)]
    for row in cells:
        lines.append(
            "".join(
                " " + (c.rjust(w) if r else c.ljust(w))
                for c, w, r in zip(row, widths, right, strict=True)
            )
        )
    return lines


def echo_json(value: Any) -> None:
    import orjson

    from pgqueue._monitoring import as_json

    click.echo(orjson.dumps(as_json(value)).decode())


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """Columns named in capitals; numbers right-aligned. One space before each column and no
    borders, so a table of ten columns reads at 80 columns; text columns wrap, others never."""
    return Table(title, list(columns), [[cell(v) for v in row] for row in rows])


def _rich_table(t: Table) -> Any:
    from rich.table import Table as RichTable

    rich = RichTable(
        title=t.title,
        title_justify="left",
        header_style="bold",
        box=None,
        padding=(0, 0, 0, 1),
    )
    for name in t.columns:
        rich.add_column(
            name,
            justify="right" if name in NUMERIC else "left",
            no_wrap=name not in WRAP,
            overflow="fold",
        )
    for row in t.rows:
        rich.add_row(*row)
    return rich


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
