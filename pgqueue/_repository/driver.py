"""The driver: asyncpg's pool and connections, and the one place its errors are translated.

Driver errors become pgqueue's own errors here (chained with `from exc`), so nothing above the
repository needs to know asyncpg. `Database` is the base every subject of the repository (jobs,
workers, leases, schedules, stats) builds its named queries on.
"""

from __future__ import annotations

import contextlib
from typing import Any

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


@contextlib.contextmanager
def translated(dsn: str | None) -> Any:
    try:
        yield
    except PgQueueError:
        raise
    except (asyncpg.PostgresError, asyncpg.ClientConfigurationError, *_UNAVAILABLE) as exc:
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
    Nothing of pgqueue's keeps session state on a pooled connection: LISTEN and anything
    session-scoped (SET, session advisory locks) use a connection of their own (`connect`)."""


class Database:
    """The pool and the DSN its errors name; the base of every subject's queries.

    Each query method runs one named .sql file inside `translated`, so a driver error leaves the
    repository as a pgqueue error and nothing else. `prepared_statements` is False behind a
    transaction pooler: no query may then use a named prepared statement (`Connection.prepare`)."""

    def __init__(
        self, pool: asyncpg.Pool, dsn: str | None, *, prepared_statements: bool = True
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.prepared_statements = prepared_statements

    async def close(self) -> None:
        """Close the pool (waits for connections in use to be released)."""
        with translated(self.dsn):
            await self.pool.close()
