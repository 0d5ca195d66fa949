"""FastAPI / Starlette: open and close the App with the web app's lifespan, and give a request
its database session or connection inside one transaction, so a job enqueued while handling the
request commits with the request's own writes, or not at all (docs/fastapi.md).

    pip install "pgqueue[fastapi]"
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeVar, overload

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from pgqueue import App

if TYPE_CHECKING:
    from fastapi import params

__all__ = ["lifespan", "session", "transaction"]

AppT = TypeVar("AppT")
StateT = TypeVar("StateT", bound=Mapping[str, Any] | None)


@overload
def lifespan(
    queue: App, inner: None = None
) -> Callable[[Any], AbstractAsyncContextManager[None]]: ...


@overload
def lifespan(
    queue: App, inner: Callable[[AppT], AbstractAsyncContextManager[StateT]]
) -> Callable[[AppT], AbstractAsyncContextManager[StateT]]: ...


def lifespan(
    queue: App, inner: Callable[[Any], AbstractAsyncContextManager[Any]] | None = None
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    """A lifespan for `FastAPI(lifespan=...)` / `Starlette(lifespan=...)`: opens `queue` at
    start-up (a wrong DSN or a database that is down fails the start, not the first request) and
    closes its pool and listeners at shutdown. `inner`, the application's own lifespan, runs
    inside it, so it may already use the App; the state it yields is passed on."""

    @contextlib.asynccontextmanager
    async def run(web_app: Any) -> AsyncIterator[Any]:
        async with queue:
            if inner is None:
                yield None
                return
            async with inner(web_app) as state:
                yield state

    return run


def transaction(dependency: Callable[..., Any]) -> params.Depends:
    """A dependency (use it as `Annotated[AsyncSession, transaction(get_session)]`) giving the
    request the session or connection that `dependency` gives (a SQLAlchemy AsyncSession or
    AsyncConnection, or an asyncpg Connection) inside a transaction opened for the request.

    The transaction commits when the endpoint returns and rolls back when it raises (an
    HTTPException too), so `task.using(connection=...).enqueue(...)` inside the endpoint writes
    the job if and only if the request's own writes commit. It ends with the endpoint, before
    the response is sent (scope="function"): a client that got a success status knows the job
    exists, and a failed commit is a 500, not a success for a job that never was."""

    async def in_transaction(handle: Any = Depends(dependency)) -> AsyncIterator[Any]:  # noqa: B008
        async with _begin(handle):
            yield handle

    depends: params.Depends = Depends(in_transaction, scope="function")
    return depends


def session(sessions: async_sessionmaker[AsyncSession]) -> params.Depends:
    """`transaction(...)` over a new AsyncSession from `sessions` for each request, closed when
    the request ends: `Annotated[AsyncSession, session(Sessions)]`."""

    async def new_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as opened:
            yield opened

    return transaction(new_session)


def _begin(handle: Any) -> AbstractAsyncContextManager[Any]:
    if isinstance(handle, AsyncSession | AsyncConnection):
        return handle.begin()
    # An asyncpg Connection (duck-typed: asyncpg stays out of this module's imports).
    start = getattr(handle, "transaction", None)
    if callable(start):
        return start()  # type: ignore[no-any-return]
    raise TypeError(
        "pgqueue.contrib.fastapi.transaction needs a dependency giving a SQLAlchemy AsyncSession "
        f"or AsyncConnection, or an asyncpg Connection; it gave {type(handle).__name__}"
    )
