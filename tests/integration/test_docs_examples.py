"""Docs that run: every script in docs/examples/ is executed as a user would run it (a separate
Python process, PGQUEUE_DSN pointing at a fresh database) and must exit 0 with its output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from pgqueue import migrate

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def run(argv: list[str], dsn: str) -> str:
    env = {**os.environ, "PGQUEUE_DSN": dsn}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        # -W error: an example that warns (an unclosed pool, a never-awaited coroutine) fails.
        [sys.executable, "-W", "error", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, (
        f"{argv} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout


def run_example(relative: str, dsn: str) -> str:
    return run([str(EXAMPLES / relative)], dsn)


def test_transactional_enqueue(dsn: str) -> None:
    out = run_example("transactional_enqueue.py", dsn)
    assert "users committed: [1, 3, 5, 6, 7]" in out
    assert "jobs committed for users: [1, 3, 5, 6, 7]" in out
    assert "results: ['welcome, user 1', 'welcome, user 3'," in out


def test_sql_enqueue(dsn: str) -> None:
    out = run_example("sql_enqueue.py", dsn)
    assert "scheduled job state: scheduled" in out
    assert "batch: [(1, False), (2, False)]" in out
    assert "results: ['order 100 confirmed', 'indexed 1 (en)', 'indexed 2 (de)'," in out


def test_tasks_and_results(dsn: str) -> None:
    out = run_example("tasks_and_results.py", dsn)
    assert "refused: positional arguments of docs.flaky (job #1) is not JSON serializable" in out
    assert "did not finish within 0.2s (state queued)" in out
    assert "flaky: {'attempt': 3, 'max_attempts': 5}" in out
    assert "slow_sync: ('dead', 1, ['timeout'], 'TimeoutError', 'timed out after 0.2s')" in out
    assert "slow_sync after its thread finished: dead, result None" in out


def test_application_alembic_env_runs_pgqueue_revisions(empty_db: str) -> None:
    """`alembic upgrade head` with the example env.py, on an empty database and then again at
    head (a no-op): both histories end at their heads, each in its own version table."""
    ini = str(EXAMPLES / "alembic_app" / "alembic.ini")
    for _ in range(2):
        run(["-m", "alembic", "-c", ini, "upgrade", "head"], empty_db)
    with psycopg.connect(empty_db) as conn:
        pgqueue_at = conn.execute("SELECT version_num FROM pgqueue.alembic_version").fetchall()
        app_at = conn.execute("SELECT version_num FROM public.alembic_version").fetchall()
        tables = conn.execute(
            "SELECT to_regclass('pgqueue.jobs')::text, to_regclass('public.users')::text"
        ).fetchone()
    assert pgqueue_at == [(head,) for head in migrate.heads()]
    assert app_at == [("app_0001",)]
    assert tables == ("pgqueue.jobs", "users")


def test_typed_payloads(dsn: str) -> None:
    out = run_example("typed_payloads.py", dsn)
    assert "stored args: [{'cents': 250, 'customer': 'ada', 'due': '2026-12-24'}]" in out
    assert "result: Receipt(customer='ada', paid_cents=250)" in out
    assert "bad: dead 1 payload" in out
    assert "invoice.customer: Field required; invoice.cents: Input should be a valid" in out


def test_workflows(dsn: str) -> None:
    """docs/workflows.md's example: a chain in the caller's committed transaction, a group rolled
    back with its transaction, a group whose callback gets every result; twice, as the docs
    test runs examples."""
    for _ in range(2):
        out = run_example("chain_and_group.py", dsn)
        assert "is waiting" in out
        assert "published: ['thumb-64.png', 'thumb-128.png', 'thumb-256.png']" in out
