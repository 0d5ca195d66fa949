"""The CLI as a newcomer and an operator meet it (issue 9 property 5, issue 14 items 4, 8, 9, 10,
11): real subprocesses against a real database, asserting the exact output, the exit code and the
rows left behind."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import click
import pytest

from pgqueue import App
from pgqueue._cli import _common, main
from tests.helpers import fetch, fetchval, running_worker, wait_for

ROOT = Path(__file__).parents[2]
OPS_APP = "tests.integration.ops_app:app"


def env(dsn: str | None, columns: int = 200) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PGQUEUE_")}
    clean.pop("DATABASE_URL", None)
    extra = {"PGQUEUE_DSN": dsn} if dsn else {}
    return {**clean, **extra, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns)}


async def cli(dsn: str | None, *args: str, columns: int = 200) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pgqueue",
        *args,
        cwd=ROOT,
        env=env(dsn, columns),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# -- property 5: --version and --help import nothing heavy ---------------------------------------


def test_the_command_imports_nothing_heavy_until_a_command_runs() -> None:
    """`pgqueue --version`/`--help` import every command module; none of them may pull in the
    database driver, SQLAlchemy, Alembic or rich (0.42 s before, under 0.3 s after)."""
    probe = (
        "import sys; from pgqueue._cli import main\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'asyncpg', 'sqlalchemy', 'alembic', 'rich', 'orjson', 'croniter', 'pgqueue._client'})\n"
        "heavy += [m for m in ('pgqueue._client', 'pgqueue._worker', 'pgqueue._repository') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env(None), capture_output=True, text=True
    )
    assert (done.returncode, done.stdout.strip()) == (0, ""), done.stderr
    for args in (["--version"], ["--help"]):
        shown = subprocess.run(
            [sys.executable, "-m", "pgqueue", *args], env=env(None), capture_output=True, text=True
        )
        assert shown.returncode == 0 and shown.stdout, shown.stderr
    assert "pgqueue, version " in shown.stdout or "Usage: " in shown.stdout


def test_pgqueue_still_exports_its_api_lazily() -> None:
    import pgqueue

    assert pgqueue.App is App
    assert sorted(name for name in pgqueue.__all__ if not hasattr(pgqueue, name)) == []
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = pgqueue.nope  # type: ignore[attr-defined]


# -- item 4: `pgqueue workers` at 80 columns -----------------------------------------------------


async def test_workers_reads_at_80_columns(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, state,
                heartbeat_ttl, started_at, last_heartbeat, processed, failed, active)
            VALUES ('0f3a9c21-0000-0000-0000-000000000001', 'worker-7f9c4b-x2k', 48213,
                    '{default,mail}', 10, '0.1.0', 'running', '30 seconds', now(),
                    now() - interval '3 seconds', 1204, 17, 3),
                   ('0f3a9c22-0000-0000-0000-000000000002', 'worker-7f9c4b-x2m', 48214,
                    '{default}', 10, '0.1.0', 'stopping', '30 seconds', now(),
                    now() - interval '312 seconds', 12, 0, 0)
            """
        )
    finally:
        await conn.close()
    rc, out, err = await cli(dsn, "workers", columns=80)
    assert rc == 0, err
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    assert "…" not in out
    rows = [line.split() for line in lines]
    beats = [rows[1].pop(6), rows[2].pop(6)]  # heartbeat ages: clock-dependent
    assert rows[0] == ["ID", "HOST", "PID", "QUEUES", "STATE", "UP", "BEAT", "DONE", "FAIL", "RUN"]
    live = ["0f3a9c21", "worker-7f9c4b-x2k", "48213", "default,mail", "running", "yes"]
    stopping = ["0f3a9c22", "worker-7f9c4b-x2m", "48214", "default", "stopping", "no"]
    assert rows[1:] == [[*live, "1204", "17", "3"], [*stopping, "12", "0", "0"]]
    assert re.fullmatch(r"\d\.\ds", beats[0])  # 3.0s or a little more
    assert re.fullmatch(r"5m1\ds", beats[1])


async def test_workers_shows_uptime_where_it_fits(dsn: str) -> None:
    """Item 14: UPTIME from 100 columns (since started_at; until stopped_at once stopped)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO pgqueue.workers (id, hostname, pid, queues, concurrency, version, state,
                heartbeat_ttl, started_at, last_heartbeat, stopped_at)
            VALUES ('0f3a9c21-0000-0000-0000-000000000001', 'w1', 1, '{default}', 10, '0.1.0',
                    'running', '30 seconds', now() - interval '2 hours 5 minutes', now(), NULL),
                   ('0f3a9c22-0000-0000-0000-000000000002', 'w2', 2, '{default}', 10, '0.1.0',
                    'stopped', '30 seconds', now() - interval '3 days',
                    now() - interval '2 days', now() - interval '3 days' + interval '90 seconds')
            """
        )
    finally:
        await conn.close()
    rc, out, err = await cli(dsn, "workers", "--all", columns=120)
    assert rc == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert rows[0][:8] == ["ID", "HOST", "PID", "QUEUES", "STATE", "UP", "UPTIME", "BEAT"]
    assert [r[6] for r in rows[1:]] == ["1m30s", "2h05m"]  # by started_at
    rc, out, err = await cli(dsn, "workers", "--all", columns=80)
    assert rc == 0 and "UPTIME" not in out


# -- item 8: messages that say what happened and what to do -------------------------------------


async def test_app_spec_mistakes_name_the_fix(dsn: str) -> None:
    rc, _, err = await cli(dsn, "worker", "tests.integration.ops_app:ap")
    assert (rc, err) == (
        2,
        "error: module 'tests.integration.ops_app' has no attribute 'ap'; "
        "its App is tests.integration.ops_app:app\n",
    )
    rc, _, err = await cli(dsn, "worker", "tests/integration/ops_app.py:app")
    assert (rc, err) == (
        2,
        "error: 'tests/integration/ops_app.py:app' is a file path: name the module dotted, "
        "e.g. tests.integration.ops_app:app\n",
    )


async def test_requeue_of_what_is_not_dead_says_why(dsn: str) -> None:
    queued = await fetchval(dsn, "SELECT pgqueue.enqueue('t')")
    rc, out, err = await cli(dsn, "dlq", "requeue", str(queued), "999999")
    assert (rc, out) == (4, "requeued 0 dead letters\n")
    assert err == (
        f"job {queued} not requeued: it is queued, not dead\njob 999999 not requeued: no such job\n"
    )
    assert [tuple(r) for r in await fetch(dsn, "SELECT id, state FROM pgqueue.jobs")] == [
        (queued, "queued")
    ]


# -- item 9: one table of exit codes -------------------------------------------------------------


async def test_a_missing_job_is_exit_4_from_every_command(dsn: str) -> None:
    for args in (
        ["cancel", "999999"],
        ["jobs", "cancel", "999999"],
        ["jobs", "retry", "999999"],
        ["jobs", "show", "999999"],
        ["dlq", "show", "999999"],
        ["dlq", "requeue", "999999"],
        ["watch", "999999"],
    ):
        rc, _, err = await cli(dsn, *args)
        assert rc == _common.EXIT_NOT_FOUND == 4, (args, rc, err)
        assert "999999" in err and "Traceback" not in err, (args, err)


def test_docs_exit_code_table_is_the_code() -> None:
    """docs/cli.md's table lists exactly the EXIT_* codes of pgqueue/_cli/_common.py."""
    text = (ROOT / "docs" / "cli.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = [int(m) for m in re.findall(r"^\| `(\d)` \|", section, re.MULTILINE)]
    codes = sorted(v for k, v in vars(_common).items() if k.startswith("EXIT_"))
    assert documented == codes == [0, 1, 2, 3, 4, 5]


# -- item 10: --help ----------------------------------------------------------------------------


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix}{name} "))
    return found


def test_help_describes_every_option_and_cuts_no_command_short() -> None:
    groups = {(): main, **{(n,): c for n, c in main.commands.items() if isinstance(c, click.Group)}}
    for path, group in groups.items():
        done = subprocess.run(
            [sys.executable, "-m", "pgqueue", *path, "--help"],
            env=env(None, 80),
            capture_output=True,
            text=True,
        )
        commands = done.stdout.split("Commands:\n", 1)[1].splitlines()
        assert isinstance(group, click.Group) and len(commands) == len(group.commands)
        assert [line for line in commands if line.endswith("...")] == [], path
    undescribed = [
        f"{name} {param.opts[0]}"
        for name, command in _commands(main)
        for param in command.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert undescribed == []
    worker = main.commands["worker"]
    prune = next(p for p in worker.params if p.name == "prune_interval")
    assert isinstance(prune, click.Option) and "Seconds" not in (prune.help or "")


# -- item 11: jobs show --------------------------------------------------------------------------


async def test_jobs_show_gives_the_real_maximum_and_starts_at_the_users_frame(
    app: App, dsn: str
) -> None:
    @app.task(name="broken", max_attempts=1)
    async def broken() -> None:
        raise ValueError("broken on purpose")

    # Enqueued from SQL, so the row has no max_attempts: the task's own (1) applies.
    job_id = await fetchval(dsn, "SELECT pgqueue.enqueue('broken')")
    async with running_worker(app):
        await wait_for(
            lambda: fetchval(dsn, "SELECT state = 'dead' FROM pgqueue.jobs WHERE id = $1", job_id),
            message="the job dead-lettered",
        )
    assert (
        await fetchval(dsn, "SELECT max_attempts FROM pgqueue.jobs WHERE id = $1", job_id) is None
    )

    rc, out, err = await cli(dsn, "jobs", "show", str(job_id), "--app", OPS_APP)
    assert rc == 0, err
    [attempts] = [
        line.split(None, 1)[1] for line in out.splitlines() if line.split()[:1] == ["attempts"]
    ]
    assert attempts == "1 of 1 (the task's default)"
    traceback = out.split("attempt 1", 1)[1]
    frames = re.findall(r'^  File "([^"]+)"', traceback, re.MULTILINE)
    assert frames and not frames[0].endswith(("_executor.py", "_worker.py")), traceback
    assert "test_cli_polish.py" in frames[0]
    assert re.search(r"\[\d+ pgqueue frames hidden\]", traceback)
    # --json keeps the traceback as stored.
    rc, out, _ = await cli(dsn, "jobs", "show", str(job_id), "--json")
    stored = json.loads(out)["errors"][0]["traceback"]
    assert "_executor.py" in stored


async def test_a_missing_schema_names_the_database(empty_db: str) -> None:
    """The wrong database is the likelier cause than the wrong host: the error names both."""
    database = empty_db.rsplit("/", 1)[1]
    rc, _, err = await cli(empty_db, "jobs", "list")
    assert rc == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(
        f"error: the pgqueue schema is missing or out of date in database '{database}' at "
    )
    assert "run `pgqueue migrate` there, or check the DSN names the right database" in err


def test_dsn_database_follows_libpq(monkeypatch: pytest.MonkeyPatch) -> None:
    from pgqueue._dsn import dsn_database

    monkeypatch.delenv("PGDATABASE", raising=False)
    monkeypatch.setenv("PGUSER", "ada")
    assert dsn_database("postgresql://h/app") == "app"
    assert dsn_database("host=h dbname=app2") == "app2"
    assert dsn_database("postgresql://bob@h") == "bob"  # no dbname: the user's own database
    assert dsn_database(None) == "ada"
    monkeypatch.setenv("PGDATABASE", "fromenv")
    assert dsn_database("postgresql://h") == "fromenv"


def test_state_names_spelt_out_for_a_fast_help_match_jobstate() -> None:
    from pgqueue._cli import jobs, ops
    from pgqueue._job import JobState

    assert [s.value for s in JobState] == jobs.STATES
    assert sorted(ops.PRUNABLE) == sorted(s.value for s in JobState if s.is_finished)
