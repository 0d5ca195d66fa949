"""Shared fixtures: a migrated template database built once per run, cloned for every test
(CREATE DATABASE ... TEMPLATE) and dropped WITH (FORCE) afterwards.

The server: PGQUEUE_TEST_DSN; else the one at PGHOST:PGPORT (default 127.0.0.1:5432) as user
postgres; else an embedded PostgreSQL started for the session (tests/database_server.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from pgqueue import App
from pgqueue.settings import redact_dsn
from tests import database_server

pytest_plugins = ["tests.ci_strict"]

SERVER = database_server.choose()
TEST_DSN = SERVER.dsn
# The testing kit's own fixtures (pgqueue_dsn, pgqueue_app) use the same server.
os.environ["PGQUEUE_TEST_DSN"] = TEST_DSN


def pytest_report_header() -> str:
    return f"database: {redact_dsn(TEST_DSN)} ({SERVER.description})"


def pytest_unconfigure() -> None:
    SERVER.close()


def dsn_for(database: str, base: str = TEST_DSN) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}"))


def admin_execute(*statements: str) -> None:
    with psycopg.connect(TEST_DSN, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def create_database(template: str | None = None) -> str:
    name = f"pgqueue_test_{uuid.uuid4().hex[:12]}"
    suffix = f" TEMPLATE {template}" if template else ""
    admin_execute(f"CREATE DATABASE {name}{suffix}")
    return name


def drop_database(name: str) -> None:
    admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def template_db(pgqueue_template_database: str) -> str:
    """The migrated template every test database is cloned from (the testing kit's own)."""
    return pgqueue_template_database


@pytest.fixture
def empty_db() -> Iterator[str]:
    """A fresh database with nothing in it (for migration tests); dropped afterwards."""
    name = create_database()
    try:
        yield dsn_for(name)
    finally:
        drop_database(name)


@pytest.fixture
def dsn(pgqueue_dsn: str) -> str:
    """A fresh, migrated database for this test, dropped afterwards: the testing kit's
    `pgqueue_dsn` (pgqueue.testing.plugin), as an application's tests would use it."""
    return pgqueue_dsn


@pytest.fixture
async def app(dsn: str) -> AsyncIterator[App]:
    application = App(dsn)
    try:
        yield application
    finally:
        await application.close()
