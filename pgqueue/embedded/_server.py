"""A PostgreSQL server of pgqueue's own, in a directory of its own:

    DIRECTORY/data/        the cluster (initdb), owned by the account the server runs as
    DIRECTORY/password     the generated superuser password (mode 0600)
    DIRECTORY/port         the TCP port it last listened on, reused when still free
    DIRECTORY/server.log   the server's log
    DIRECTORY/lock         serialises start, stop and reset across processes

It listens on 127.0.0.1 only, without a Unix socket, and every connection authenticates with
scram-sha-256: what works against it works against a server that wants a password.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pgqueue.embedded._account import Account, can_reach, give_to, run_as, server_account
from pgqueue.embedded._binaries import reachable_bin, require_bin
from pgqueue.errors import PgQueueError

SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0
LOCK_TIMEOUT = 120.0
# Throwaway servers (the test suite's) trade durability for speed; a development server keeps
# its data across a crash.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class EmbeddedServerError(PgQueueError):
    """The embedded server could not be initialised, started or stopped."""


@dataclass(frozen=True, slots=True)
class Postmaster:
    """A live server, as its postmaster.pid describes it."""

    pid: int
    port: int | None
    status: str  # "starting", "ready", "stopping", ...


class EmbeddedServer:
    def __init__(
        self,
        directory: Path | str,
        *,
        durable: bool = True,
        bin_dir: Path | None = None,
        settings: tuple[str, ...] = (),
    ) -> None:
        self.directory = Path(directory).absolute()
        self.data = self.directory / "data"
        self.logfile = self.directory / "server.log"
        self.account: Account = server_account()
        self._bin = bin_dir
        self._settings = (*(() if durable else FAST_SETTINGS), *settings)

    # -- what it is ----------------------------------------------------------------------------

    @property
    def bin(self) -> Path:
        if self._bin is None:
            self._bin = reachable_bin(require_bin(), self.account)
        return self._bin

    @property
    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    @property
    def major_version(self) -> str:
        """PostgreSQL's major version of the cluster (its PG_VERSION file), e.g. "18"."""
        return (self.data / "PG_VERSION").read_text().strip()

    @property
    def password(self) -> str:
        return (self.directory / "password").read_text().strip()

    @property
    def port(self) -> int:
        running = self.postmaster()
        if running is not None and running.port is not None:
            return running.port
        return int((self.directory / "port").read_text())

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@{HOST}:{self.port}/{database}"

    def postmaster(self) -> Postmaster | None:
        """The server running on this data directory, if any (a stale postmaster.pid left by a
        crash, or one whose pid now belongs to another process, counts as none)."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not lines or not lines[0].strip().isdigit():
            return None
        pid = int(lines[0])
        if not _is_postmaster(pid, self.data):
            return None
        port = lines[3].strip() if len(lines) > 3 else ""
        status = lines[7].strip() if len(lines) > 7 else "starting"
        return Postmaster(pid, int(port) if port.isdigit() else None, status or "starting")

    # -- what it does --------------------------------------------------------------------------

    def init(self) -> bool:
        """Create the cluster (initdb) unless it exists. Returns whether this call created it."""
        self._prepare_directory()
        with self._locked():
            self._ensure_password()
            if self.initialized:
                return False
            self._initdb()
            return True

    def start(self) -> bool:
        """Start the server unless it runs already (initialising it first if needed); wait until
        it accepts connections. Returns whether this call started it."""
        self._prepare_directory()
        with self._locked():
            self._ensure_password()
            if self._wait_until_settled() is not None:
                return False
            if not self.initialized:
                self._initdb()
            self._clear_reused_pidfile()
            fresh_port = False
            for _ in range(3):
                outcome = self._pg_ctl_start(self._choose_port(fresh=fresh_port))
                if outcome == "started":
                    return True
                if outcome == "port taken":
                    fresh_port = True
                else:  # a crashed server's processes still hold its shared memory
                    self._wait_for_leftovers_to_exit()
            raise self._failure("did not start")

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server ("fast": end sessions, checkpoint; "immediate": as a crash would).
        Returns whether it was running."""
        if not self.directory.exists():
            return False
        with self._locked():
            if self.postmaster() is None:
                return False
            done = run_as(
                self.account,
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    mode,
                    "-w",
                    "-t",
                    "60",
                    "stop",
                ],
                timeout=90,
            )
            if done.returncode != 0 and self.postmaster() is not None:
                raise EmbeddedServerError(
                    f"could not stop the embedded PostgreSQL in {self.directory}: "
                    f"{_last_line(done.stderr or done.stdout)}"
                )
            return True

    def reset(self) -> None:
        """Stop the server and delete everything in its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- how -----------------------------------------------------------------------------------

    def _prepare_directory(self) -> None:
        self.directory.mkdir(
            parents=True, exist_ok=True, mode=0o700 if self.account.is_current else 0o755
        )
        if not can_reach(self.directory, self.account):
            raise EmbeddedServerError(
                f"the embedded PostgreSQL runs as {self.account.name!r} (PostgreSQL refuses to "
                f"run as root), which cannot reach {self.directory}: set PGQUEUE_DEV_DIR to a "
                "directory it can reach (e.g. under /tmp), or run as a normal user"
            )

    def _ensure_password(self) -> None:
        """Under the lock: two starters racing on a new directory must not both create it."""
        password = self.directory / "password"
        if not password.exists():
            fd = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(18) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl  # POSIX only: imported here so that importing pgqueue.embedded never fails

        with open(self.directory / "lock", "a") as lock:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedServerError(
                            f"another process has held {self.directory / 'lock'} for over "
                            f"{LOCK_TIMEOUT:.0f}s"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _wait_until_settled(self) -> Postmaster | None:
        """The running server once it is ready; None once a stopping one has gone (or if none
        runs). Another process may be starting or stopping it right now."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            running = self.postmaster()
            if running is None or running.status == "ready":
                return running
            if time.monotonic() > deadline:
                raise self._failure(f"stayed {running.status!r} for {START_TIMEOUT:.0f}s")
            time.sleep(0.05)

    def _initdb(self) -> None:
        """initdb into a staging directory renamed into place once complete, so an interrupted
        initdb (Ctrl-C) never leaves a half-made cluster that looks initialised."""
        for leftover in self.directory.glob("data.initdb-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        staging = self.directory / f"data.initdb-{os.getpid()}"
        staging.mkdir(mode=0o700)
        give_to(staging, self.account)
        pwfile = self.directory / f"pwfile.initdb-{os.getpid()}"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.password + "\n")
        give_to(pwfile, self.account)
        try:
            done = run_as(
                self.account,
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(staging),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise EmbeddedServerError(
                f"initdb failed in {self.directory}: {_last_line(done.stderr or done.stdout)}"
            )
        staging.rename(self.data)

    def _choose_port(self, *, fresh: bool) -> int:
        saved = self.directory / "port"
        if not fresh and saved.exists():
            port = int(saved.read_text())
            if _port_free(port):
                return port
        port = _free_port()
        saved.write_text(f"{port}\n")
        return port

    def _clear_reused_pidfile(self) -> None:
        """A postmaster.pid whose pid now belongs to a live process that is not this server's
        postmaster (the pid was reused after a crash) makes PostgreSQL refuse to start; one
        whose pid is dead PostgreSQL handles itself, checking that no old process still uses
        its shared memory. So only the first is removed, once no old process is left."""
        pidfile = self.data / "postmaster.pid"
        try:
            first = pidfile.read_text().split("\n", 1)[0].strip()
        except FileNotFoundError:
            return
        if first.isdigit() and _alive(int(first)):
            self._wait_for_leftovers_to_exit()
            pidfile.unlink(missing_ok=True)

    def _wait_for_leftovers_to_exit(self) -> None:
        """Wait until no process of a crashed server runs in the data directory (its backends
        notice the postmaster's death and exit within moments)."""
        deadline = time.monotonic() + START_TIMEOUT
        while _processes_in(self.data):
            if time.monotonic() > deadline:
                raise self._failure("has processes of an earlier server still running")
            time.sleep(0.05)

    def _pg_ctl_start(self, port: int) -> str:
        """pg_ctl start on `port`: "started", "port taken" (try another) or "busy" (an earlier
        server's processes still hold its shared memory: wait for them)."""
        self.logfile.touch()
        give_to(self.logfile, self.account)
        offset = self.logfile.stat().st_size
        options = [f"-p {port}", f"-c listen_addresses={HOST}", "-c unix_socket_directories=''"]
        options += [f"-c {setting}" for setting in self._settings]
        done = run_as(
            self.account,
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.logfile),
                "-o",
                " ".join(options),
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
                "start",
            ],
            timeout=START_TIMEOUT + 30,
            detach=True,
        )
        if done.returncode == 0 and self.postmaster() is not None:
            return "started"
        with open(self.logfile, errors="replace") as log:
            log.seek(offset)
            said = log.read()
        if "could not bind" in said:
            return "port taken"
        if "pre-existing shared memory block" in said:
            return "busy"
        raise self._failure("did not start", done)

    def _failure(
        self, what: str, done: subprocess.CompletedProcess[str] | None = None
    ) -> EmbeddedServerError:
        detail = _last_line(done.stderr or done.stdout) if done is not None else ""
        log = _last_line(self.logfile.read_text(errors="replace")) if self.logfile.exists() else ""
        reason = "; ".join(part for part in (detail, log) if part)
        return EmbeddedServerError(
            f"the embedded PostgreSQL in {self.directory} {what}"
            + (f": {reason}" if reason else "")
            + f" (log: {self.logfile})"
        )


def _is_postmaster(pid: int, data: Path) -> bool:
    """Whether `pid` is a postgres process serving `data` (not a reused pid, nor a zombie)."""
    if not Path("/proc/self/cmdline").exists():  # no /proc (macOS): only whether it lives
        return _alive(pid)
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        bool(argv[0])
        and Path(os.fsdecode(argv[0])).name == "postgres"
        and os.fsencode(data) in argv
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _processes_in(data: Path) -> list[int]:
    """Processes whose working directory is `data` (every PostgreSQL process chdirs into its
    data directory); empty where /proc does not tell."""
    found: list[int] = []
    proc = Path("/proc")
    if not (proc / "self" / "cwd").exists():
        return found
    real = os.path.realpath(data)
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == real:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _port_free(port: int) -> bool:
    """Whether the server could bind `port`: as PostgreSQL does, with SO_REUSEADDR, so a port
    the server itself left in TIME_WAIT by a restart counts as free."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
