"""The `pgqueue` command, run as a real subprocess (`python -m pgqueue ...`) against real
databases: what it prints, what it writes, and how it fails (one clear line, the right exit code,
no traceback, never a password)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
import pytest

import pgqueue as pgqueue_package
from pgqueue import migrate
from tests.conftest import TEST_DSN, dsn_for
from tests.helpers import fetch, fetchval, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"
SECRET = "s3cr3t-Pa55word"
SERVER = urlsplit(TEST_DSN)
SERVER_AT = f"{SERVER.hostname}:{SERVER.port or 5432}"


def with_password(dsn: str, password: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


def cli_env(dsn: str | None = None, **extra: str) -> dict[str, str]:
    """The current environment without any PGQUEUE_*/DATABASE_URL, plus what the test sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGQUEUE_")}
    env.pop("DATABASE_URL", None)
    if dsn is not None:
        env["PGQUEUE_DSN"] = dsn
    env.update(extra)
    return env


def pgqueue(
    *args: str, dsn: str | None = None, cwd: Path | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgqueue", *args],
        env=cli_env(dsn, **extra),
        cwd=cwd or REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(sql, params or None).fetchall())  # type: ignore[arg-type]


def job_count(dsn: str) -> int:
    [[n]] = rows(dsn, "SELECT count(*) FROM pgqueue.jobs")
    return int(n)


def assert_one_clean_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    return done.stderr


# -- help ------------------------------------------------------------------------------------


def test_help() -> None:
    done = pgqueue("--help")
    assert done.returncode == 0, done.stderr
    for command in ("migrate", "worker", "enqueue"):
        assert command in done.stdout
    done = pgqueue("enqueue", "-h")
    assert done.returncode == 0
    assert "--args" in done.stdout
    assert "--delay" in done.stdout


def test_version() -> None:
    done = pgqueue("--version")
    assert done.returncode == 0
    assert done.stdout.endswith(f", version {pgqueue_package.__version__}\n")


# -- enqueue ---------------------------------------------------------------------------------


def test_enqueue_prints_the_id_and_writes_the_exact_row(dsn: str) -> None:
    done = pgqueue(
        "enqueue",
        "billing.charge",
        "--args",
        '[42, "eur", {"deep": [1, 2.5, null]}]',
        "--kwargs",
        '{"retry": true, "note": "héllo"}',
        "--queue",
        "billing",
        "--priority",
        "7",
        "--max-attempts",
        "4",
        dsn=dsn,
    )
    assert done.returncode == 0, done.stderr
    job_id = int(done.stdout.strip())
    assert done.stdout == f"{job_id}\n"
    [row] = rows(
        dsn,
        "SELECT id, task, args, kwargs, queue, priority, state, attempts, max_attempts, "
        "run_at <= now(), finished_at FROM pgqueue.jobs",
    )
    assert row == (
        job_id,
        "billing.charge",
        [42, "eur", {"deep": [1, 2.5, None]}],
        {"retry": True, "note": "héllo"},
        "billing",
        7,
        "queued",
        0,
        4,
        True,
        None,
    )


def test_enqueue_defaults(dsn: str) -> None:
    done = pgqueue("enqueue", "examples.tasks.add", dsn=dsn)
    assert done.returncode == 0, done.stderr
    [row] = rows(
        dsn, "SELECT id, task, args, kwargs, queue, priority, state, max_attempts FROM pgqueue.jobs"
    )
    assert row == (int(done.stdout), "examples.tasks.add", [], {}, "default", 0, "queued", None)


def test_enqueue_with_delay_makes_a_scheduled_job(dsn: str) -> None:
    done = pgqueue("enqueue", "reports.build", "--delay", "3600", dsn=dsn)
    assert done.returncode == 0, done.stderr
    [(job_id, state, wait)] = rows(dsn, "SELECT id, state, run_at - enqueued_at FROM pgqueue.jobs")
    assert job_id == int(done.stdout)
    assert state == "scheduled"
    # Both times are the database's now() of the same transaction: the delay is exact.
    assert wait == dt.timedelta(hours=1)


def test_dsn_flag_beats_the_environment(dsn: str) -> None:
    done = pgqueue("enqueue", "t", "--dsn", dsn, dsn=UNREACHABLE)
    assert done.returncode == 0, done.stderr
    assert job_count(dsn) == 1


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        pytest.param(
            "--args",
            "nope",
            "--args",
            id="args-not-json",
        ),
        ("--args", '{"a": 1}', "--args must be a JSON array"),
        ("--args", '"text"', "--args must be a JSON array"),
        ("--args", "3", "--args must be a JSON array"),
        pytest.param(
            "--kwargs",
            "{oops",
            "--kwargs",
            id="kwargs-not-json",
        ),
        ("--kwargs", "[1, 2]", "--kwargs must be a JSON object"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message_and_write_nothing(
    dsn: str, option: str, value: str, fragment: str
) -> None:
    done = pgqueue("enqueue", "t", option, value, dsn=dsn)
    stderr = assert_one_clean_error(done, 2)
    assert fragment in stderr
    assert "JSON" in stderr
    assert job_count(dsn) == 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--priority", "high"], "'high' is not a valid integer"),
        (["--delay", "-1"], "--delay"),
        (["--max-attempts", "0"], "--max-attempts"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(dsn: str, args: list[str], fragment: str) -> None:
    stderr = assert_one_clean_error(pgqueue("enqueue", "t", *args, dsn=dsn), 2)
    assert fragment in stderr
    assert job_count(dsn) == 0


def test_enqueue_on_an_unmigrated_database_says_run_migrate(empty_db: str) -> None:
    stderr = assert_one_clean_error(pgqueue("enqueue", "t", dsn=empty_db), 1)
    assert stderr.startswith("error: the pgqueue schema is missing")
    assert "run `pgqueue migrate`" in stderr
    assert len(stderr.strip().splitlines()) == 1


# -- migrate ---------------------------------------------------------------------------------


def test_migrate_on_an_empty_database(empty_db: str) -> None:
    done = pgqueue("migrate", dsn=empty_db)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # It says what it did (issue 14 item 8): every revision applied, then nothing to do.
    head = migrate.heads()[0]
    n = len(migrate.revisions_between(None))  # 0001_core up to the head
    assert (
        done.stdout == f"applied {n} revisions (0001_core .. {head}): pgqueue schema is at head\n"
    )
    assert rows(empty_db, "SELECT to_regclass('pgqueue.jobs')::text") == [("pgqueue.jobs",)]
    assert rows(empty_db, "SELECT version_num FROM pgqueue.alembic_version") == [
        (migrate.heads()[0],)
    ]
    # Again: nothing to do, still fine.
    again = pgqueue("migrate", dsn=empty_db)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"nothing to apply: pgqueue schema is at head ({head})\n"
    assert rows(empty_db, "SELECT version_num FROM pgqueue.alembic_version") == [
        (migrate.heads()[0],)
    ]


def test_migrate_from_an_older_revision_names_what_it_applied(empty_db: str) -> None:
    done = pgqueue("migrate", "--revision", "0003_operations", dsn=empty_db)
    assert done.stdout == (
        "applied 3 revisions (0001_core .. 0003_operations): pgqueue schema is at 0003_operations\n"
    )
    done = pgqueue("migrate", dsn=empty_db)
    head = migrate.heads()[0]
    n = len(migrate.revisions_between("0003_operations"))
    assert migrate.revisions_between("0003_operations")[0] == "0004_hardening"
    assert done.stdout == (
        f"applied {n} revisions (0004_hardening .. {head}): pgqueue schema is at head\n"
    )
    assert rows(empty_db, "SELECT version_num FROM pgqueue.alembic_version") == [(head,)]


def test_migrate_sql_prints_ddl() -> None:
    done = pgqueue("migrate", "--sql", dsn=UNREACHABLE)
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE pgqueue.jobs" in done.stdout
    assert "CREATE FUNCTION pgqueue.enqueue(" in done.stdout


# -- connection errors -----------------------------------------------------------------------

COMMANDS = {
    "enqueue": ["enqueue", "t"],
    "migrate": ["migrate"],
    "worker": ["worker", "examples.tasks:app"],
}


@pytest.mark.parametrize(
    "command",
    [
        "enqueue",
        "migrate",
        pytest.param(
            "worker",
        ),
    ],
)
def test_malformed_dsn_exits_2_with_a_clear_message(command: str) -> None:
    stderr = assert_one_clean_error(pgqueue(*COMMANDS[command], dsn="mysql://x"), 2)
    assert stderr == "error: malformed DSN 'mysql://x': scheme 'mysql' is not postgresql://\n"


@pytest.mark.parametrize("command", ["enqueue", "migrate", "worker"])
def test_unreachable_host_names_the_host_without_a_traceback(command: str) -> None:
    stderr = assert_one_clean_error(pgqueue(*COMMANDS[command], dsn=UNREACHABLE), 1)
    assert stderr.startswith("error: cannot reach the database at 127.0.0.1:1: ")
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["enqueue", "migrate", "worker"])
def test_wrong_database_name_says_it_does_not_exist(command: str) -> None:
    missing = dsn_for("pgqueue_test_no_such_database")
    stderr = assert_one_clean_error(pgqueue(*COMMANDS[command], dsn=missing), 1)
    assert stderr.startswith(f"error: the database at {SERVER_AT} does not exist")
    assert 'database "pgqueue_test_no_such_database" does not exist' in stderr


@pytest.mark.parametrize(
    "dsn",
    [
        pytest.param(f"postgresql://postgres:{SECRET}@127.0.0.1:1/x", id="unreachable"),
        pytest.param(
            with_password(dsn_for("pgqueue_test_no_such_database"), SECRET),
            id="no-database",
        ),
        pytest.param(f"postgresql://postgres:{SECRET}@127.0.0.1:99999/x", id="bad-port"),
        pytest.param(f"mysql://postgres:{SECRET}@127.0.0.1/x", id="bad-scheme"),
        pytest.param(
            f"postgresql://postgres@127.0.0.1:99999/x?password={SECRET}",
            id="query-password",
        ),
    ],
)
@pytest.mark.parametrize("command", ["enqueue", "migrate"])
def test_errors_never_print_the_password(dsn: str, command: str) -> None:
    done = pgqueue(*COMMANDS[command], dsn=dsn)
    assert done.returncode in (1, 2)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    assert SECRET not in done.stderr + done.stdout


def test_libpq_keyword_dsn_works(dsn: str) -> None:
    database = dsn.rsplit("/", 1)[1]
    keyword = f"host={SERVER.hostname} port={SERVER.port or 5432} user={SERVER.username} dbname={database}"
    if SERVER.password:
        keyword += f" password={unquote(SERVER.password)}"
    done = pgqueue("enqueue", "t", dsn=keyword)
    assert done.returncode == 0, done.stderr
    assert job_count(dsn) == 1


def test_invalid_connection_option_is_a_configuration_error(dsn: str) -> None:
    stderr = assert_one_clean_error(pgqueue("enqueue", "t", dsn=f"{dsn}?sslmode=bogus"), 2)
    assert "sslmode" in stderr
    assert "cannot reach" not in stderr


# -- worker ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"PGQUEUE_CONCURRENCY": "abc"},
        {"PGQUEUE_CONCURRENCY": "0"},
        {"PGQUEUE_POLL_INTERVAL": "often"},
        {"PGQUEUE_HEARTBEAT_INTERVAL": "abc"},
        {"PGQUEUE_HEARTBEAT_TTL": "-5"},
        # Not a command-line option: read by WorkerSettings.from_env.
        {"PGQUEUE_SCHEDULE_INTERVAL": "abc"},
        {"PGQUEUE_COMPLETION_BATCH_SIZE": "lots"},
    ],
    ids=lambda extra: "-".join(f"{k}={v}" for k, v in extra.items()),
)
def test_worker_bad_environment_is_a_clear_error(dsn: str, extra: dict[str, str]) -> None:
    """Exit 2 before connecting, naming the variable and the bad value."""
    done = pgqueue("worker", "examples.tasks:app", dsn=dsn, **extra)
    stderr = assert_one_clean_error(done, 2)
    [(name, value)] = extra.items()
    assert name in stderr
    assert value in stderr


def test_worker_bad_app_spec_is_a_clear_error(dsn: str) -> None:
    done = pgqueue("worker", "no_such_module:app", dsn=dsn)
    stderr = assert_one_clean_error(done, 2)
    assert "cannot import 'no_such_module'" in stderr
    done = pgqueue("worker", "examples.tasks:add", dsn=dsn)
    stderr = assert_one_clean_error(done, 2)
    assert "'examples.tasks:add' is not a pgqueue.App (found Task)" in stderr


def test_worker_on_an_unmigrated_database_says_run_migrate(empty_db: str) -> None:
    done = pgqueue("worker", "examples.tasks:app", dsn=empty_db)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "run `pgqueue migrate`" in done.stderr


async def test_worker_runs_a_job_enqueued_from_sql_and_stops_on_sigterm(
    dsn: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pgqueue",
            "worker",
            "examples.tasks:app",
            "--concurrency",
            "2",
            cwd=REPO_ROOT,
            env=cli_env(dsn, PGQUEUE_POLL_INTERVAL="0.5"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        await wait_for(
            lambda: "serving queues default" in log_path.read_text(),
            timeout=30,
            message=f"the worker to start; log: {log_path}",
        )
        job_id = await fetchval(dsn, "SELECT pgqueue.enqueue('examples.tasks.add', '[2, 3]')")

        async def done() -> bool:
            [row] = await fetch(dsn, "SELECT state FROM pgqueue.jobs WHERE id = $1", job_id)
            return bool(row["state"] == "succeeded")

        await wait_for(done, timeout=30, message="the job to succeed")
        [row] = await fetch(
            dsn,
            "SELECT state, result::text, attempts, worker_id, finished_at IS NOT NULL AS finished "
            "FROM pgqueue.jobs WHERE id = $1",
            job_id,
        )
        assert (row["state"], json.loads(row["result"]), row["attempts"]) == ("succeeded", 5, 1)
        assert row["worker_id"] is None
        assert row["finished"] is True

        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=30)
        output = log_path.read_text()
        assert code == 0, output
        assert "received SIGTERM" in output
        assert "Traceback" not in output
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
