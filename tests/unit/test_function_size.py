"""No function over MAX_LINES in the worker and its services: a long function there is where
the next change gets tangled (Worker.run and the side loops were over 50 lines before issue 9)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 40
CHECKED = [
    "pgqueue/_worker.py",
    "pgqueue/_attempts.py",
    "pgqueue/_ops.py",
    "pgqueue/_maintenance.py",
    "pgqueue/_metrics.py",
    "pgqueue/_supervisor.py",
    "pgqueue/_threads.py",
    "pgqueue/_waits.py",
    "pgqueue/_clock.py",
    "pgqueue/_backoff.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pgqueue/_services").glob("*.py")),
]


@pytest.mark.parametrize("path", CHECKED)
def test_no_function_is_over_the_limit(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text())
    long = {
        f"{node.name} (line {node.lineno})": node.end_lineno - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_LINES
    }
    assert not long, f"functions over {MAX_LINES} lines in {path}: {long}"
