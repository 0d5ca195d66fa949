"""The database boundary holds (docs/architecture.md, "The database boundary").

Read from the source, no database: every named .sql file has exactly one caller, a function of
the repository (or enqueue.py, for the paths that write on the caller's own connection), and
none is unused; no module outside the repository reaches a pool or runs a query. The
import-linter contract "asyncpg only at the database boundary" holds the import side.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pgqueue"
SQL_DIR = PACKAGE / "_sql"
REPOSITORY = PACKAGE / "_repository"
# Where query() may be called: the repository, and enqueue.py's caller-connection paths.
CALLERS_ALLOWED = (REPOSITORY, PACKAGE / "_enqueue.py")
# Modules that hold a connection of their own besides the repository: the notifier's LISTEN
# connection, enqueue.py's caller connection, migrate.py's Alembic run.
CONNECTIONS_ALLOWED = (
    REPOSITORY,
    PACKAGE / "_notifier.py",
    PACKAGE / "_enqueue.py",
    PACKAGE / "migrate.py",
)
# Driver calls that run SQL (taking a connection from a pool needs `.pool`, caught on its own).
DRIVER_CALLS = {
    "fetch",
    "fetchrow",
    "fetchval",
    "execute",
    "executemany",
    "cursor",
    "copy_records_to_table",
}
SQL_TEXT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|DROP|ALTER)\s")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _inside(path: Path, allowed: tuple[Path, ...]) -> bool:
    return any(path == a or a in path.parents for a in allowed)


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def _query_calls_in(path: Path) -> list[tuple[str | None, str]]:
    """query("name") calls in one module, each with the function it is in."""
    found: list[tuple[str | None, str]] = []

    def visit(node: ast.AST, scope: tuple[str, ...]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            scope = (*scope, node.name)
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called == "query":
                arg = node.args[0] if node.args else None
                literal = arg.value if isinstance(arg, ast.Constant) else None
                where = f"{_name(path)}:{'.'.join(scope) or '<module>'}:{node.lineno}"
                found.append((literal if isinstance(literal, str) else None, where))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(ast.parse(path.read_text(encoding="utf-8")), ())
    return found


def _query_calls() -> list[tuple[str | None, str, Path]]:
    calls = []
    for path in _modules():
        if path.parent == SQL_DIR:
            continue  # the loader itself
        calls += [(name, where, path) for name, where in _query_calls_in(path)]
    return calls


def test_every_sql_file_has_exactly_one_caller_in_the_repository() -> None:
    files = {p.stem for p in SQL_DIR.glob("*.sql")}
    callers: dict[str, list[str]] = defaultdict(list)
    problems = []
    for name, where, path in _query_calls():
        if name is None:
            problems.append(
                f"{where}: query() with a computed name (name it, so it can be counted)"
            )
        elif not _inside(path, CALLERS_ALLOWED):
            problems.append(f"{where}: runs {name}.sql outside the repository")
        else:
            callers[name].append(where)
    problems += [
        f"{n}.sql: no such file, called from {callers[n]}" for n in callers if n not in files
    ]
    problems += [
        f"{n}.sql: unused (remove it, or call it from one repository method)"
        for n in sorted(files - callers.keys())
    ]
    problems += [
        f"{n}.sql: {len(w)} callers, one wanted: {w}"
        for n, w in sorted(callers.items())
        if len(w) > 1
    ]
    assert problems == []
    assert len(callers) == len(files) >= 30  # the check really saw the queries


def test_nothing_outside_the_repository_reaches_a_pool_or_runs_sql() -> None:
    problems = []
    for path in _modules():
        if _inside(path, CONNECTIONS_ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "pool":
                problems.append(f"{_name(path)}:{node.lineno}: reaches .pool")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in DRIVER_CALLS
            ):
                problems.append(f"{_name(path)}:{node.lineno}: .{node.func.attr}() on a connection")
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SQL_TEXT.match(node.value)
            ):
                problems.append(f"{_name(path)}:{node.lineno}: SQL text {node.value[:30]!r}")
    assert problems == []
