"""The table: one row per measurement, each with its same-run baseline, the ratio and a verdict."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

PASS, FAIL, INFO = "PASS", "FAIL", "info"


@dataclass
class Row:
    workload: str
    measured: str
    baseline: str
    ratio: str
    target: str
    verdict: str


def rate(value: float) -> str:
    return f"{value:,.0f} jobs/s"


def ms(value: float) -> str:
    return f"{value:.2f} ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def header(info: dict[str, Any]) -> list[str]:
    settings = ", ".join(f"{k}={v}" for k, v in info["server"]["settings"].items())
    load = ", ".join(f"{x:.2f}" for x in info["load_before"])
    return [
        f"machine: {os.cpu_count()} cores, load average before the run {load}; "
        f"Python {platform.python_version()}, workers' event loop {info['loop']}",
        f"PostgreSQL {info['server']['postgres']}"
        f"{' (throwaway cluster, --own-cluster)' if info['server'].get('own_cluster') else ''}: "
        f"{settings}",
        f"pgqueue {info['commit']}; {info['args']}",
    ]


def print_table(rows: list[Row], info: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=200)
    for line in header(info):
        console.print(line, highlight=False, soft_wrap=True)
    table = Table(show_lines=False)
    for name in ("workload", "pgqueue", "baseline (same run)", "ratio", "target", "verdict"):
        table.add_column(name, overflow="fold")
    for row in rows:
        style = {PASS: "green", FAIL: "bold red"}.get(row.verdict)
        table.add_row(
            row.workload,
            row.measured,
            row.baseline,
            row.ratio,
            row.target,
            f"[{style}]{row.verdict}[/]" if style else row.verdict,
        )
    console.print(table)


def markdown(rows: list[Row], info: dict[str, Any]) -> str:
    lines = [f"- {line}" for line in header(info)]
    lines += [
        "",
        "| workload | pgqueue | baseline (same run) | ratio | target | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r.workload} | {r.measured} | {r.baseline} | {r.ratio} | {r.target} | {r.verdict} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def rows_as_json(rows: list[Row]) -> list[dict[str, str]]:
    return [asdict(r) for r in rows]
