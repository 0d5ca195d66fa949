"""Throwaway login roles for privilege tests. Roles are cluster-wide (every engineer's test
databases share them), so each gets a unique name and is dropped afterwards, with what it was
granted in the test's database."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.conftest import TEST_DSN

# The server may want a password (CI's does: scram-sha-256): every throwaway role gets this one.
ROLE_PASSWORD = secrets.token_urlsafe(18)


def dsn_as(role: str, dsn: str) -> str:
    """`dsn` (same server and database) logging in as `role` (made by temporary_role)."""
    parts = urlsplit(dsn)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}:{ROLE_PASSWORD}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def temporary_role(dsn: str, purpose: str) -> Iterator[str]:
    """A LOGIN role with no grants, named uniquely; `dsn` is the database it may be granted on."""
    name = f"pgqueue_{purpose}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(TEST_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{ROLE_PASSWORD}'")  # type: ignore[arg-type]
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(  # its sessions, and only its, so nothing holds the role
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (name,),
            )
            conn.execute(f"DROP OWNED BY {name}")  # type: ignore[arg-type]
        with psycopg.connect(TEST_DSN, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {name}")  # type: ignore[arg-type]
