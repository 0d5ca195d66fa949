"""Docs that run: every script in docs/examples/ and every ```python and ```sql block of README.md
and docs/*.md is executed as a reader would run it, twice in a row on a fresh migrated database,
and must exit 0 both times (so each one is idempotent). The convention (docs/development.md,
"Code blocks in the docs"):

- ```python            a complete script: `python -W error` with PGQUEUE_DSN set; exit 0, twice;
- ```sql               `psql -X -v ON_ERROR_STOP=1` against the same database; exit 0, twice;
- ```python fragment   not run, but must compile();
- ```sql fragment      not run (a piece of a statement, or DDL that needs roles of your own);
- ```console / bash / sh / text / json / ... and a bare ``` (output shown): not run.

Each block is its own test, named by file and line (`docs/enqueue.md:93`), so a failure names
the block to fix; its message shows the block's first lines and the run's output.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pgqueue import migrate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Info strings a page may use: the first two are run, the fragments compiled (python) or left
# alone, the rest are never run. Anything else is a typo (```pyhton, ```Python) that would
# silently skip a block, so it fails test_every_block_has_a_known_kind.
RUN = {"python", "sql"}
FRAGMENTS = {"python fragment", "sql fragment"}
NOT_RUN = {"", "console", "bash", "sh", "text", "json", "html", "mermaid", "promql", "toml", "ini"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`]*)$")
RUN_TIMEOUT = 90


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    info: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def head(self, lines: int = 6) -> str:
        return "\n".join(f"    {line}" for line in self.code.splitlines()[:lines])


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of a page, indented ones (inside a list item) dedented."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent = len(opening["indent"])
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        info = " ".join(opening["info"].split())
        found.append(Block(page, i + 1, info, "\n".join(body) + "\n"))
        i = j + 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks_of(page)]


def _of_kind(*kinds: str) -> list[pytest.ParameterSet]:
    return [pytest.param(b, id=b.where) for b in ALL_BLOCKS if b.info in kinds]


def run(argv: list[str], dsn: str, *, what: str = "", cwd: Path | None = None) -> str:
    env = {**os.environ, "PGQUEUE_DSN": dsn}
    env.pop("DATABASE_URL", None)
    # As from a clone of the repository: a block may import its examples (`examples.tasks`).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        done = subprocess.run(
            argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what or argv} did not finish within {RUN_TIMEOUT}s (waits forever?)\n{exc}")
    assert done.returncode == 0, (
        f"{what or argv} exited {done.returncode}\n--- stdout\n{done.stdout}\n"
        f"--- stderr\n{done.stderr}"
    )
    return done.stdout


def run_python(argv: list[str], dsn: str, **kwargs: object) -> str:
    # -W error: an example that warns (an unclosed pool, a never-awaited coroutine) fails.
    return run([sys.executable, "-W", "error", *argv], dsn, **kwargs)  # type: ignore[arg-type]


def run_example(relative: str, dsn: str) -> str:
    return run_python([str(EXAMPLES / relative)], dsn)


def run_example_twice(relative: str, dsn: str) -> list[str]:
    return [
        run_python([str(EXAMPLES / relative)], dsn, what=f"docs/examples/{relative} (run {n})")
        for n in (1, 2)
    ]


# -- every block of README.md and docs/*.md --------------------------------------------------


def test_every_block_has_a_known_kind() -> None:
    known = RUN | FRAGMENTS | NOT_RUN
    unknown = [f"{b.where}: ```{b.info}" for b in ALL_BLOCKS if b.info not in known]
    assert not unknown, (
        "code blocks with an info string the docs test does not know (use python, sql, "
        f"'python fragment', 'sql fragment', console, bash, text...): {unknown}"
    )


@pytest.mark.parametrize("block", _of_kind("python"))
def test_python_block_runs_twice(block: Block, dsn: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(block.code)
    for n in (1, 2):
        run_python(
            [str(script)],
            dsn,
            cwd=tmp_path,
            what=f"the ```python block at {block.where} (run {n} of 2; mark it ```python "
            f"fragment if it is not a complete script)\n{block.head()}\n",
        )


@pytest.mark.parametrize("block", _of_kind("sql"))
def test_sql_block_runs_twice(block: Block, dsn: str, tmp_path: Path) -> None:
    script = tmp_path / "block.sql"
    script.write_text(block.code)
    for n in (1, 2):
        run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(script)],
            dsn,
            what=f"the ```sql block at {block.where} (run {n} of 2; mark it ```sql fragment if "
            f"it is not a complete statement)\n{block.head()}\n",
        )


@pytest.mark.parametrize("block", _of_kind("python fragment"))
def test_python_fragment_compiles(block: Block) -> None:
    """A fragment compiles, and what it imports from pgqueue exists (a renamed name fails)."""
    tree = fragment_tree(block)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and _is_pgqueue(node):
            statement = ast.unparse(node)
            try:
                exec(statement, {})  # an import statement, from our own docs
            except ImportError as exc:
                pytest.fail(f"the ```python fragment at {block.where}: `{statement}`: {exc}")


def fragment_tree(block: Block) -> ast.Module:
    """The fragment parsed as a module (top-level await allowed) or, failing that, as the body
    of an `async def` (a `yield`, a `return`): fragments are often such bodies."""
    try:
        compile(block.code, block.where, "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        return ast.parse(block.code)
    except SyntaxError as exc:
        as_body = "async def _fragment():\n" + textwrap.indent(block.code, "    ")
        try:
            compile(as_body, block.where, "exec", dont_inherit=True)
        except SyntaxError:
            pytest.fail(f"the ```python fragment at {block.where} does not compile: {exc}")
        return ast.parse(as_body)


def _is_pgqueue(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] == "pgqueue"
    return any(alias.name.split(".")[0] == "pgqueue" for alias in node.names)


# -- docs/examples -----------------------------------------------------------------------------


def test_transactional_enqueue(dsn: str) -> None:
    for out in run_example_twice("transactional_enqueue.py", dsn):
        assert "users committed: [1, 3, 5, 6, 7]" in out
        assert "jobs committed for users: [1, 3, 5, 6, 7]" in out
        assert "results: ['welcome, user 1', 'welcome, user 3'," in out


def test_sql_enqueue(dsn: str) -> None:
    for out in run_example_twice("sql_enqueue.py", dsn):
        assert "scheduled job state: scheduled" in out
        assert "batch: [(1, False), (2, False)]" in out
        assert "results: ['order 100 confirmed', 'indexed 1 (en)', 'indexed 2 (de)'," in out


def test_tasks_and_results(dsn: str) -> None:
    for out in run_example_twice("tasks_and_results.py", dsn):
        assert (
            "refused: positional arguments of docs.flaky (job #1) is not JSON serializable" in out
        )
        assert "did not finish within 0.2s (state queued)" in out
        assert "flaky: {'attempt': 3, 'max_attempts': 5}" in out
        assert "slow_sync: ('dead', 1, ['timeout'], 'TimeoutError', 'timed out after 0.2s')" in out
        assert "slow_sync after its thread finished: dead, result None" in out


def test_typed_payloads(dsn: str) -> None:
    for out in run_example_twice("typed_payloads.py", dsn):
        assert "stored args: [{'cents': 250, 'customer': 'ada', 'due': '2026-12-24'}]" in out
        assert "result: Receipt(customer='ada', paid_cents=250)" in out
        assert "bad: dead 1 payload" in out
        assert "invoice.customer: Field required; invoice.cents: Input should be a valid" in out


@pytest.mark.parametrize("script", ["burst.py", "dashboard_mount.py"])
def test_example_runs_twice(script: str, dsn: str) -> None:
    """The examples whose output their own tests check (test_burst, test_dashboard), twice."""
    run_example_twice(script, dsn)


def test_every_example_script_is_run_here() -> None:
    here = Path(__file__).read_text()
    missing = [p.name for p in sorted(EXAMPLES.glob("*.py")) if f'"{p.name}"' not in here]
    assert not missing, f"docs/examples scripts no test in {__file__} runs twice: {missing}"


def test_application_alembic_env_runs_pgqueue_revisions(empty_db: str) -> None:
    """`alembic upgrade head` with the example env.py, on an empty database and then again at
    head (a no-op): both histories end at their heads, each in its own version table."""
    ini = str(EXAMPLES / "alembic_app" / "alembic.ini")
    for _ in range(2):
        run_python(["-m", "alembic", "-c", ini, "upgrade", "head"], empty_db)
    with psycopg.connect(empty_db) as conn:
        pgqueue_at = conn.execute("SELECT version_num FROM pgqueue.alembic_version").fetchall()
        app_at = conn.execute("SELECT version_num FROM public.alembic_version").fetchall()
        tables = conn.execute(
            "SELECT to_regclass('pgqueue.jobs')::text, to_regclass('public.users')::text"
        ).fetchone()
    assert pgqueue_at == [(head,) for head in migrate.heads()]
    assert app_at == [("app_0001",)]
    assert tables == ("pgqueue.jobs", "users")


def test_tracing(dsn: str) -> None:
    """docs/tracing.md's example: one trace, the retry as a second attempt span; the page shows
    the script word for word and what it prints."""
    expected = (
        "internal POST /orders\n"
        "  producer send docs.charge\n"
        "    consumer process docs.charge (attempt 1: retry)\n"
        "    consumer process docs.charge (attempt 2: succeeded)\n"
        "      internal call gateway\n"
    )
    for out in run_example_twice("tracing.py", dsn):
        assert out == expected
    page = (EXAMPLES.parent / "tracing.md").read_text()
    assert f"```python\n{(EXAMPLES / 'tracing.py').read_text()}```\n" in page
    assert f"```\n{expected}```\n" in page


def test_workflows(dsn: str) -> None:
    """docs/workflows.md's example: a chain in the caller's committed transaction, a group rolled
    back with its transaction, a group whose callback gets every result; twice, as the docs
    test runs examples."""
    for out in run_example_twice("chain_and_group.py", dsn):
        assert "is waiting" in out
        assert "published: ['thumb-64.png', 'thumb-128.png', 'thumb-256.png']" in out
