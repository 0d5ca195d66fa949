"""The driver: asyncpg's pool and connections, and the one place its errors are translated.

Driver errors become pgqueue's own errors here (chained with `from exc`), so nothing above the
repository needs to know asyncpg. `Database` is the base every subject of the repository (jobs,
workers, leases, schedules, stats) builds its named queries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

import asyncpg

from pgqueue._dsn import dsn_database
from pgqueue.errors import (
    AuthenticationError,
    ConfigurationError,
    DatabaseError,
    DatabaseNotFoundError,
    DatabaseUnavailableError,
    PgQueueError,
    SchemaMissingError,
)
from pgqueue.settings import dsn_host

# One result row as the repository hands it out: a plain dict, never the driver's Record.
Row = dict[str, Any]

# Errors that mean "the database or the network went away": retry later, never crash.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    ConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # A query on a pooled connection the server has just terminated, before the driver saw
    # it close ("cannot switch to state ..."): not an Exception subclass of the above.
    asyncpg.InternalClientError,
)


def leaves_connection_usable(error: BaseException) -> bool:
    """Whether a connection whose call raised `error` may serve the next call: an error the server
    raised for the statement (bad input) leaves it as it was; a driver or network error, a
    timeout or a cancellation may have left it mid-statement or broken."""
    return isinstance(error, asyncpg.PostgresError) and not isinstance(error, _UNAVAILABLE)


async def close_gracefully(conn: asyncpg.Connection, timeout: float) -> None:
    """Close a connection whose call failed so that the cancel request asyncpg sends for a
    cancelled or timed-out call reaches the server before the socket closes (terminating at once
    drops it, and the statement goes on to commit); one that does not close within `timeout`, or
    a close that is itself cancelled, is terminated. A pooled connection (a proxy) may already
    be back in its pool when its close fails: there is nothing left to terminate then."""
    try:
        await asyncio.wait_for(conn.close(), timeout)
    except BaseException as exc:
        with contextlib.suppress(asyncpg.InterfaceError):
            conn.terminate()
        if not isinstance(exc, Exception):
            raise


def translate_error(exc: BaseException, dsn: str | None) -> PgQueueError:
    """The pgqueue error for a driver error, with a message an operator can act on."""
    where = dsn_host(dsn)
    if isinstance(exc, PgQueueError):
        return exc
    if isinstance(exc, asyncpg.ClientConfigurationError):
        return ConfigurationError(f"bad connection settings for {where}: {exc}")
    if isinstance(
        exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        return AuthenticationError(f"the database at {where} refused the credentials: {exc}")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return DatabaseNotFoundError(f"the database at {where} does not exist: {exc}")
    if isinstance(
        exc,
        asyncpg.UndefinedTableError
        | asyncpg.InvalidSchemaNameError
        | asyncpg.UndefinedFunctionError,
    ) and "pgqueue" in str(exc):
        return SchemaMissingError(
            f"the pgqueue schema is missing or out of date in database {dsn_database(dsn)!r} "
            f"at {where}: run `pgqueue migrate` there, or check the DSN names the right "
            f"database ({exc})"
        )
    if isinstance(exc, _UNAVAILABLE):
        detail = str(exc) or type(exc).__name__
        return DatabaseUnavailableError(f"cannot reach the database at {where}: {detail}")
    error = DatabaseError(f"database error at {where}: {exc}")
    error.sqlstate = getattr(exc, "sqlstate", None)
    return error


# What `translated` turns into pgqueue's errors (a hot path catches these itself: Jobs.enqueue).
TRANSLATED = (asyncpg.PostgresError, asyncpg.ClientConfigurationError, *_UNAVAILABLE)


@contextlib.contextmanager
def translated(dsn: str | None) -> Any:
    try:
        yield
    except PgQueueError:
        raise
    except TRANSLATED as exc:
        raise translate_error(exc, dsn) from exc


async def connect(
    dsn: str | None, *, timeout: float = 10.0, command_timeout: float | None = None
) -> asyncpg.Connection:
    """One connection of its own (LISTEN, heartbeats), errors translated. `command_timeout` is
    asyncpg's own per-query bound: it gives up at once and cancels the query in the background,
    where an outer `wait_for` would wait for that cancel request too (on a stalled network, until
    the network comes back)."""
    with translated(dsn):
        # No statement cache: named prepared statements would not survive a transaction pooler
        # (PgBouncer pool_mode=transaction, docs/pgbouncer.md), and these connections run one
        # query every few seconds, so a cache would save nothing.
        return await asyncpg.connect(
            dsn, timeout=timeout, command_timeout=command_timeout, statement_cache_size=0
        )


async def create_pool(
    dsn: str | None,
    *,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 10.0,
    command_timeout: float | None = 30.0,
    prepared_statements: bool = True,
) -> asyncpg.Pool:
    """The pool for pgqueue's own short queries. `command_timeout` bounds each one, so a network
    that stalls without closing the socket surfaces as an error (and a reconnect), not a hang.
    `prepared_statements=False` (behind a transaction pooler) turns off asyncpg's statement
    cache: every query is then parsed as the unnamed statement in the same protocol exchange
    (Parse, Bind, Execute before one Sync), which a transaction pooler keeps on one server
    connection, where a named statement prepared on one server connection is missing on the
    next ("prepared statement __asyncpg_stmt_1__ does not exist")."""
    with translated(dsn):
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            command_timeout=command_timeout,
            statement_cache_size=100 if prepared_statements else 0,
            reset=_keep_session,
        )


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL):
    a second round trip after every pooled call. asyncpg still rolls back an open transaction.
    Nothing of pgqueue's leaves session state on a pooled connection: LISTEN and anything
    session-scoped (session advisory locks) use a connection of their own (`connect`), and the
    one setting made on a pooled connection, a worker's ClaimConnection's, is undone by it before
    the connection goes back (or the connection is terminated)."""


# After a failed attempt to open the lane's connection, the pool serves alone this long.
_LANE_RETRY_AFTER = 5.0


class Lane:
    """One connection, outside the pool, for single enqueues made one after another (a web
    request's `task.enqueue`): asyncpg's pool wraps every call in an acquire and a release, and
    the release alone costs a task and two turns of the event loop, a fifth of pgqueue's own work
    per enqueue (py-spy, docs/benchmarks.md). The pool is opened one connection smaller, so an App
    still holds at most `pool_max_size` connections.

    The lane is opened in the background at the second enqueue (a process that enqueues once,
    `pgqueue enqueue` say, never opens it); while it is not open, or a call is using it
    (concurrent enqueues), callers use the pool. A driver or network error, a timeout or a
    cancellation during a call drops its connection (the next call opens another); an error the
    server raised for the statement (bad input) leaves it open: autocommit holds no transaction.

    `command_timeout` bounds each call as asyncpg's own does (the caller's task is cancelled,
    which sends the server a cancel request, and the call raises TimeoutError instead), but from
    one watchdog timer instead of asyncpg's timer per query: that timer, armed and cancelled on
    every call, cost about 15 us of a 170 us round trip and 5% of a single enqueue (issue 18 goal
    1, docs/benchmarks.md). The watchdog is armed while calls come and disarms itself when none
    is under way."""

    def __init__(self, dsn: str | None, *, timeout: float, command_timeout: float | None) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.command_timeout = command_timeout
        self._conn: asyncpg.Connection | None = None
        self._busy = False
        self._opening: asyncio.Task[None] | None = None
        self._retry_at = 0.0
        self._closed = False
        self._asked = 0  # calls while not open: the first one does not open it
        # The call under way (`take` to `give_back`): its task and when it began.
        self._caller: asyncio.Task[Any] | None = None
        self._since = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self._expired: asyncio.Task[Any] | None = None  # a caller the watchdog cancelled
        self._retiring: asyncio.Future[None] | None = None  # a failed call's connection closing

    def take(self) -> asyncpg.Connection | None:
        """The lane's connection, now reserved for one call, or None: use the pool."""
        if self._busy:  # before the check below: the call under way gives its own back
            return None
        conn = self._conn
        if conn is None or conn.is_closed():
            self._conn = None
            self._asked += 1
            if self._asked > 1:
                self._open_soon()
            return None
        self._busy = True
        if self.command_timeout is not None:
            self._caller = asyncio.current_task()
            self._since = time.monotonic()
            if self._watchdog is None:
                self._watch_in(self.command_timeout)
        return conn

    def give_back(
        self, conn: asyncpg.Connection, error: BaseException | None
    ) -> TimeoutError | None:
        """End the call `take` began. Returns the TimeoutError to raise instead of `error` when
        the call ran out of `command_timeout` (the watchdog cancelled it), else None."""
        self._busy = False
        self._caller = None
        timed_out = None
        if self._expired is not None:
            task, self._expired = self._expired, None
            # Ours alone: a cancel someone else asked for too stays a cancel (asyncio.timeout).
            if isinstance(error, asyncio.CancelledError) and task.uncancel() == 0:
                timed_out = TimeoutError(
                    f"no answer within command_timeout ({self.command_timeout:g} s)"
                )
        if error is not None and not leaves_connection_usable(error):
            if self._conn is conn:
                self._conn = None
            self._retiring = asyncio.ensure_future(self._retire(conn))
        return timed_out

    async def _retire(self, conn: asyncpg.Connection) -> None:
        """Close a connection whose call failed, in the background: gracefully, so the cancel
        request asyncpg sends for a cancelled or timed-out call reaches the server before the
        socket closes (terminating at once dropped it, and a statement waiting on a lock went on
        to write its row); a dead one closes at once, a stalled one is terminated after
        `timeout`. The lane opens its next connection after (the pool serves meanwhile), so the
        App still holds at most `pool_max_size`."""
        try:
            await close_gracefully(conn, self.timeout)
        finally:
            self._retiring = None
        self._open_soon()  # the lane was in use: its next connection opens now

    def _watch_in(self, delay: float) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(delay, self._watch)

    def _watch(self) -> None:
        self._watchdog = None
        caller, timeout = self._caller, self.command_timeout
        if caller is None or timeout is None:
            return  # no call under way: the next one arms the watchdog again
        left = self._since + timeout - time.monotonic()
        if left > 0:
            self._watch_in(left)
        elif not caller.done():
            self._expired = caller
            caller.cancel()

    def _open_soon(self) -> None:
        if (
            self._conn is None
            and self._opening is None
            and self._retiring is None
            and not self._closed
            and time.monotonic() >= self._retry_at
        ):
            self._opening = asyncio.ensure_future(self._open())

    async def _open(self) -> None:
        try:
            # No command_timeout of asyncpg's own: the watchdog bounds each call (see above).
            conn = await asyncpg.connect(self.dsn, timeout=self.timeout)
        except Exception:  # the pool serves meanwhile, and reports any error itself
            self._retry_at = time.monotonic() + _LANE_RETRY_AFTER
        else:
            if self._closed:
                await conn.close()
            else:
                self._conn = conn
                if self._watchdog is not None:  # armed on another event loop, maybe closed
                    self._watchdog.cancel()
                    self._watchdog = None
        finally:
            self._opening = None

    async def close(self) -> None:
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(BaseException):
                await self._opening
        if self._retiring is not None:  # bounded by `timeout` itself; a cancel of close() stays
            await asyncio.wait([self._retiring])
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), self.timeout)
            except (Exception, asyncio.CancelledError):
                conn.terminate()
                raise


class Lent(Protocol):
    """Something a pool connection is lent to until it is closed (a worker's ClaimConnection)."""

    async def close(self) -> None: ...


class Database:
    """The pool and the DSN its errors name; the base of every subject's queries.

    Each query method runs one named .sql file inside `translated`, so a driver error leaves the
    repository as a pgqueue error and nothing else. `lane`: a connection for single enqueues
    beside the pool (see `Lane`), or None. `prepared_statements` is False behind a transaction
    pooler: no query may then use a named prepared statement (`Connection.prepare`)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str | None,
        lane: Lane | None = None,
        *,
        prepared_statements: bool = True,
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.lane = lane
        self.prepared_statements = prepared_statements
        # Whether the schema has pgqueue.enqueue_one (revision 0015_enqueue_fast): None until the
        # first single enqueue on the pool or the lane finds out (Jobs.enqueue).
        self.enqueue_one: bool | None = None
        # Whether this pool's role may INSERT into pgqueue.jobs itself (job_insert_one.sql,
        # job_insert_batch.sql): None until the first keyless job or batch finds out.
        self.insert_one: bool | None = None
        # Whether it has pgqueue.enqueue_batch (revision 0017_enqueue_batch): None until a batch
        # on the pool or the lane finds out it has not (False); the other paths never try it.
        self.enqueue_batch: bool | None = None
        # Pool connections lent for good to a worker's claims (ClaimConnection), handed back
        # before the pool closes: asyncpg's close would wait for them for ever.
        self.lent: set[Lent] = set()

    async def close(self) -> None:
        """Take back the connections lent to workers' claims (each after its claim under way),
        close the lane and the pool (waits for connections in use to be released)."""
        with translated(self.dsn):
            for lent in list(self.lent):
                await lent.close()
            if self.lane is not None:
                await self.lane.close()
            await self.pool.close()
