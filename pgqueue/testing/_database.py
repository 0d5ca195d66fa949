"""use_database(): point an application's own App at a test's database for one test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from pgqueue._client import App
from pgqueue.settings import normalize_dsn


@contextlib.asynccontextmanager
async def use_database(app: App, dsn: str) -> AsyncIterator[App]:
    """Open `app` (the one your tasks are registered on, made at import with its production
    DSN) on `dsn` for the block, then close it and give it its own DSN back. The App must not
    be open already: its pool would still point at the other database."""
    if app.is_open:
        raise RuntimeError("use_database(app, ...) needs an App that is not open yet")
    own = app.dsn
    app.dsn = normalize_dsn(dsn)
    try:
        async with app:
            yield app
    finally:
        app.dsn = own
