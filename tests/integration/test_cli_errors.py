"""The CLI's errors, through the real command (subprocesses, and click's CliRunner where an
argument cannot travel through a process's argv, such as a NUL): one clear line that says what to
do and the right exit code; the traceback only under --log-level DEBUG; and never a password, in
any form, whatever the DSN looks like and whichever command prints it."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result

from pgqueue._cli import main
from tests.integration.test_cli import cli_env, job_count, pgqueue, rows
from tests.roles import dsn_as, temporary_role

PIECES = ("hunter2", "zebra9", "quux7")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """--log-level configures the root logger of this very process under CliRunner."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def invoke(*args: str, dsn: str | None = None) -> Result:
    """The command in this process; PGQUEUE_* and DATABASE_URL unset but for `dsn`."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PGQUEUE_")}
    env.update({"DATABASE_URL": None, "PGQUEUE_DSN": dsn})
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- 9. no password, from any command, for any DSN shape ----------------------------------------

# Pointing at a port nothing listens on, or malformed; each with a password in another form.
DSN_SHAPES = [
    "host=127.0.0.1 port=1 user=u password = hunter2zebra9quux7",
    "host=127.0.0.1 port=1 password='hunter2 zebra9 quux7'",
    r"host=127.0.0.1 port=1 password='hunter2\' zebra9 quux7'",
    "host=127.0.0.1,127.0.0.2 port=1,1 password=hunter2zebra9quux7",
    "postgresql://u:hunter2%20zebra9%40quux7@127.0.0.1:1/x",
    "postgres://u:hunter2zebra9quux7@127.0.0.1:1/x",
    "postgresql+asyncpg://u:hunter2?zebra9#quux7@127.0.0.1:1/x",
    "postgresql://u@127.0.0.1:1/x?sslmode=disable&password=hunter2+zebra9+quux7",
    "postgresql://u:hunter2zebra9quux7@127.0.0.1:1,127.0.0.2:1/x",
    # malformed
    "host=127.0.0.1 port=1 password=hunter2 zebra9 quux7",
    "host=127.0.0.1 password=hunter2 zebra9=quux7",
    "host=127.0.0.1 port=1 password='hunter2 zebra9 quux7",
    "postgresql://u:hunter2@zebra9quux7@127.0.0.1:1/x",
    "postgresql://u:hunter2/zebra9quux7@127.0.0.1:1/x",
    "postgresql://u:hunter2zebra9quux7",
    "mysql://u:hunter2zebra9quux7@127.0.0.1:1/x",
]

COMMANDS = {
    "migrate": ["migrate"],
    "worker": ["worker", "examples.tasks:app"],
    "enqueue": ["enqueue", "t"],
    "status": ["status"],
    "workers": ["workers"],
    "cancel": ["cancel", "1"],
    "jobs list": ["jobs", "list"],
    "jobs show": ["jobs", "show", "1"],
    "jobs cancel": ["jobs", "cancel", "1"],
    "jobs retry": ["jobs", "retry", "1"],
    "dlq list": ["dlq", "list"],
    "dlq show": ["dlq", "show", "1"],
    "dlq requeue": ["dlq", "requeue", "1"],
    "dlq purge": ["dlq", "purge", "1", "--yes"],
    "prune": ["prune", "--older-than", "1d"],
    "periodic list": ["periodic", "list"],
    "watch": ["watch", "1"],
}


def assert_no_password(*texts: str) -> None:
    for text in texts:
        for piece in PIECES:
            assert piece not in text, text


@pytest.mark.parametrize("dsn", DSN_SHAPES)
@pytest.mark.parametrize("debug", [False, True], ids=["default", "debug"])
def test_no_command_ever_prints_a_password(dsn: str, debug: bool) -> None:
    for name, args in COMMANDS.items():
        extra = ["--log-level", "DEBUG"] if debug else []
        done = invoke(*args, *extra, "--dsn", dsn)
        assert done.exit_code in (1, 2), (name, done.exit_code, done.output)
        if debug:
            assert "\nerror: " in f"\n{done.stderr}", (name, done.stderr)
        else:
            one_error_line(done.stderr)
        assert_no_password(done.stdout, done.stderr)


@pytest.mark.parametrize(
    "dsn",
    [
        "host=127.0.0.1 port=1 password = hunter2zebra9quux7",
        "host=127.0.0.1 port=1 password=hunter2 zebra9 quux7",
        "postgresql://u:hunter2?zebra9#quux7@127.0.0.1:1/x",
    ],
)
@pytest.mark.parametrize("command", ["migrate", "worker", "status"])
def test_no_password_from_the_real_process(dsn: str, command: str) -> None:
    done = pgqueue(*COMMANDS[command], "--log-level", "DEBUG", dsn=dsn)
    assert done.returncode in (1, 2), done.stderr
    assert "\nerror: " in f"\n{done.stderr}"
    assert "Traceback" in done.stderr or "malformed DSN" in done.stderr
    assert_no_password(done.stdout, done.stderr)


def test_a_keyword_dsn_with_spaces_and_quotes_connects(dsn: str) -> None:
    database = dsn.rsplit("/", 1)[1]
    server = urlsplit(dsn)
    password = f" password = '{server.password}'" if server.password else ""
    keyword = (
        f"host = {server.hostname}  port = {server.port or 5432} user='{server.username}'"
        f"{password} dbname = '{database}'"
    )
    done = pgqueue("enqueue", "t", dsn=keyword)
    assert done.returncode == 0, done.stderr
    assert job_count(dsn) == 1


def server_at(dsn: str) -> str:
    parts = urlsplit(dsn)
    return f"{parts.hostname}:{parts.port or 5432}"


# -- 12. one clear line, the traceback only under DEBUG -----------------------------------------


@pytest.fixture
def role_without_create(empty_db: str) -> Iterator[str]:
    """A login role with no CREATE on any database (roles are cluster-wide: a unique name)."""
    with temporary_role(empty_db, "nocreate") as name:
        yield name


def as_role(dsn: str, role: str) -> str:
    return dsn_as(role, dsn)


def test_migrate_without_create_privilege_is_one_line_saying_what_to_do(
    empty_db: str, role_without_create: str
) -> None:
    done = pgqueue("migrate", dsn=as_role(empty_db, role_without_create))
    assert done.returncode == 1
    assert done.stdout == ""
    line = one_error_line(done.stderr)
    database = empty_db.rsplit("/", 1)[1]
    assert line == (
        f"error: the database at {server_at(empty_db)} refused the migration: permission denied for "
        f"database {database}. Run `pgqueue migrate` as a role that may create the pgqueue "
        "schema there (the database owner, or a role granted CREATE ON DATABASE), or hand the "
        "DDL of `pgqueue migrate --sql` to a DBA"
    )
    assert rows(empty_db, "SELECT to_regnamespace('pgqueue')::text") == [(None,)]

    debug = pgqueue("migrate", "--log-level", "DEBUG", dsn=as_role(empty_db, role_without_create))
    assert debug.returncode == 1
    assert line in debug.stderr.splitlines()
    assert "Traceback (most recent call last)" in debug.stderr
    assert "InsufficientPrivilegeError" in debug.stderr


APP_WITH_ERROR = """\
from pgqueue import App

app = App()
raise RuntimeError("the settings module is missing")
"""

APP_WITH_BAD_CRON = """\
from pgqueue import App

app = App()


@app.periodic(cron="61 * * * *")
async def tick() -> None: ...
"""

APP_WITH_CRON_THAT_NEVER_FIRES = """\
from pgqueue import App

app = App()


@app.periodic(cron="0 0 30 2 *", name="february-30")
async def tick() -> None: ...
"""


def write_app(tmp_path: Path, name: str, source: str) -> Path:
    (tmp_path / f"{name}.py").write_text(source)
    return tmp_path


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "app_with_error",
            APP_WITH_ERROR,
            "error: importing 'app_with_error' raised RuntimeError: the settings module is "
            "missing (at app_with_error.py:4); fix the module (--log-level DEBUG prints the "
            "traceback)",
        ),
        (
            "app_with_bad_cron",
            APP_WITH_BAD_CRON,
            "error: schedule tests_cli_app.tick: invalid cron expression '61 * * * *': use 5 "
            "fields (minute hour day month weekday) or 6 with seconds first (while importing "
            "'app_with_bad_cron', at app_with_bad_cron.py:6)",
        ),
        (
            "app_never_fires",
            APP_WITH_CRON_THAT_NEVER_FIRES,
            "error: schedule february-30: cron expression '0 0 30 2 *' never fires (no tick "
            "within 10 years): check its day and month fields (while importing "
            "'app_never_fires', at app_never_fires.py:6)",
        ),
    ],
    ids=["exception", "malformed-cron", "cron-never-fires"],
)
def test_an_app_that_fails_to_import_is_one_line(
    dsn: str, tmp_path: Path, module: str, source: str, expected: str
) -> None:
    cwd = write_app(tmp_path, module, source)
    done = pgqueue("worker", f"{module}:app", dsn=dsn, cwd=cwd)
    assert done.returncode == 2
    assert done.stdout == ""
    line = one_error_line(done.stderr)
    assert line == expected.replace("tests_cli_app", module)

    debug = pgqueue("worker", f"{module}:app", "--log-level", "DEBUG", dsn=dsn, cwd=cwd)
    assert debug.returncode == 2
    assert line in debug.stderr.splitlines()
    assert "Traceback (most recent call last)" in debug.stderr
    assert f'{module}.py", line' in debug.stderr
    # Nothing started: no worker registered.
    assert rows(dsn, "SELECT count(*) FROM pgqueue.workers") == [(0,)]


# A NUL in a name: encode_jobs names the field (or, with pgqueue._names' checks, the request does).
NUL_IN_A_NAME = {
    "nul-task": (
        ["a\x00b"],
        r"^error: (the )?task name 'a\\x00b'.*(NUL character \(\\u0000\)|U\+0000)",
    ),
    "nul-queue": (
        ["t", "--queue", "q\x00"],
        r"^error: (the )?queue name (of t \(job #1\) |'q\\x00' ).*(NUL character|U\+0000)",
    ),
    "nul-unique-key": (
        ["t", "--unique-key", "k\x00"],
        r"^error: (the )?unique[ _]key (of t \(job #1\) |'k\\x00' ).*(NUL character|U\+0000)",
    ),
}
NAN_DELAY = {
    "nan-delay": (
        ["t", "--delay", "nan"],
        r"^error: delay must be a finite number of seconds, not nan$",
    ),
    "inf-delay": (
        ["t", "--delay", "inf"],
        r"^error: delay must be a finite number of seconds, not inf$",
    ),
}


@pytest.mark.parametrize(
    ("args", "expected"),
    list({**NUL_IN_A_NAME, **NAN_DELAY}.values()),
    ids=list({**NUL_IN_A_NAME, **NAN_DELAY}),
)  # fmt: skip
def test_enqueue_input_the_database_cannot_store_names_the_field(
    dsn: str, args: list[str], expected: str
) -> None:
    done = invoke("enqueue", *args, dsn=dsn)
    assert done.exit_code == 2
    assert done.stdout == ""
    line = one_error_line(done.stderr)
    assert re.search(expected, line), line
    debug = invoke("enqueue", *args, "--log-level", "DEBUG", dsn=dsn)
    assert debug.exit_code == 2
    assert line in debug.stderr.splitlines()
    assert "Traceback (most recent call last)" in debug.stderr
    assert job_count(dsn) == 0


def test_nan_delay_through_the_real_process(dsn: str) -> None:
    done = pgqueue("enqueue", "t", "--delay", "nan", dsn=dsn)
    assert done.returncode == 2
    assert one_error_line(done.stderr) == (
        "error: delay must be a finite number of seconds, not nan"
    )
    assert job_count(dsn) == 0


def test_log_level_reaches_every_command_and_its_environment_variable() -> None:
    for name, args in COMMANDS.items():
        done = invoke(*args, "--help")
        assert "--log-level" in done.stdout, name
        assert "PGQUEUE_LOG_LEVEL" in done.stdout, name


def test_the_dsn_parser_needs_no_psycopg() -> None:
    """psycopg (libpq) is a dev dependency only: the CLI and the parser never import it."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pgqueue._cli; from pgqueue.settings import normalize_dsn; "
            "normalize_dsn(\"host=h password = 'a b'\"); print('psycopg' in sys.modules)",
        ],
        env=cli_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "False\n"


def test_enqueue_unique_key_prints_the_job_that_holds_it(dsn: str) -> None:
    first = pgqueue("enqueue", "t", "--unique-key", "nightly-2026-11-23", dsn=dsn)
    again = pgqueue("enqueue", "t", "--unique-key", "nightly-2026-11-23", dsn=dsn)
    assert (first.returncode, again.returncode) == (0, 0), first.stderr + again.stderr
    assert first.stdout == again.stdout
    assert rows(dsn, "SELECT id::text, unique_key FROM pgqueue.jobs") == [
        (first.stdout.strip(), "nightly-2026-11-23")
    ]
