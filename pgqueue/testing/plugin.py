"""The pgqueue pytest plugin (entry point `pytest11`, loaded wherever pgqueue is installed).

Fixtures:
- `pgqueue_dsn`: the DSN of a fresh database for this test, cloned in milliseconds
  (CREATE DATABASE ... TEMPLATE) from one migrated once per session, dropped after.
- `pgqueue_app`: an `App` on that database, opened in the test's event loop, closed after
  (needs pytest-asyncio or anyio).

The server: `PGQUEUE_TEST_DSN` (any database on it: the fixtures create their own), else
postgresql://postgres@127.0.0.1:5432/postgres. The role needs CREATEDB.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from pgqueue import migrate
from pgqueue._client import App
from pgqueue._repository import testkit

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_dsn() -> str:
    return os.environ.get("PGQUEUE_TEST_DSN") or DEFAULT_SERVER


def database_dsn(database: str, server: str | None = None) -> str:
    parts = urlsplit(server or server_dsn())
    return urlunsplit(parts._replace(path=f"/{database}"))


def _off_loop(coroutine: Any) -> Any:
    """Run a coroutine to completion on a loop of its own, whatever loop the caller is in."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def create_database(server: str, template: str | None = None) -> str:
    name = f"pgqueue_test_{uuid.uuid4().hex[:16]}"
    _off_loop(testkit.create_database(server, name, template))
    return name


def drop_database(server: str, name: str) -> None:
    _off_loop(testkit.drop_database(server, name))


@pytest.fixture(scope="session")
def pgqueue_template_database() -> Iterator[str]:
    """The name of a database migrated to pgqueue's head, made once per session."""
    server = server_dsn()
    name = create_database(server)
    try:
        _off_loop(migrate.upgrade_async(database_dsn(name, server)))
        yield name
    finally:
        drop_database(server, name)


@pytest.fixture
def pgqueue_dsn(pgqueue_template_database: str) -> Iterator[str]:
    """A fresh database with pgqueue's schema, for this test only."""
    server = server_dsn()
    name = create_database(server, template=pgqueue_template_database)
    try:
        yield database_dsn(name, server)
    finally:
        drop_database(server, name)


async def _opened_app(dsn: str) -> AsyncIterator[App]:
    async with App(dsn) as app:
        yield app


try:  # pytest-asyncio in strict mode needs its own decorator; auto mode and anyio take either
    import pytest_asyncio

    _async_fixture: Any = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - exercised where only anyio is installed
    _async_fixture = pytest.fixture


@_async_fixture  # type: ignore[untyped-decorator]
async def pgqueue_app(pgqueue_dsn: str) -> AsyncIterator[App]:
    """An App on the test's fresh database, open for the test."""
    async for app in _opened_app(pgqueue_dsn):
        yield app
