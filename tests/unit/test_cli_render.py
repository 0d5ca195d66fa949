"""The CLI's plain table layout (piped output, no rich) is the layout rich gives the same table,
character for character, and it hands rich what rich would lay out differently."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console

from pgqueue._cli._render import Table, _rich_table, plain_lines, table

TABLES = [
    table(
        "Queues",
        ["QUEUE", "READY", "SCHEDULED", "RUNNING", "RETRYING", "WAITING", "DEAD", "LAG"],
        [
            ["default", 12, 0, 3, 0, 0, 1, "1.5s"],
            ["a-much-longer-queue-name", 1234567, 5, 0, 2, 0, 0, "-"],
        ],
    ),
    table(None, ["FIELD", "VALUE"], [["id", 1], ["task", "app.tasks.send"], ["worker", None]]),
    table(
        "Workers",
        ["ID", "HOST", "PID", "QUEUES", "UP", "HEALTH"],
        [["ab12cd34", "h", 7, ["a", "b"], True, "ok"]],
    ),
    table("Limits", ["NAME", "RUN"], []),
    table("T", ["NAME", "VALUE"], [["short", "x"], ["k", "a value with  two spaces"]]),
]


def rich_lines(t: Table, width: int = 200) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, highlight=False).print(_rich_table(t))
    return out.getvalue().splitlines()


@pytest.mark.parametrize("t", TABLES, ids=lambda t: t.title or "untitled")
def test_plain_layout_is_riches(t: Table) -> None:
    assert plain_lines(t, 200) == rich_lines(t)


@pytest.mark.parametrize(
    "t",
    [
        table("Queues", ["QUEUE", "READY"], [["wide-é", 1]]),  # not ASCII: rich measures cells
        table("Q", ["QUEUE"], [["two\nlines"]]),
        table("Q", ["QUEUE", "READY"], [["x" * 250, 1]]),  # wider than the console: rich wraps
        table("A title longer than its table", ["ID"], [[1]]),
    ],
)
def test_what_rich_would_lay_out_differently_goes_to_rich(t: Table) -> None:
    assert plain_lines(t, 200) is None


def test_piped_status_path_does_not_import_rich() -> None:
    code = (
        "import sys\n"
        "from pgqueue._cli._render import console, table\n"
        "console().print(table('Queues', ['QUEUE', 'READY'], [['default', 1]]))\n"
        "console().print('Workers: none registered')\n"
        "print('rich' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines() == [
        "Queues        ",
        " QUEUE   READY",
        " default     1",
        "Workers: none registered",
        "False",
    ]
