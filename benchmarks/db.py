"""Throwaway databases for the benchmarks and what the table header says about the server.

Every workload runs in a database of its own, cloned from one migrated template built per run
(CREATE DATABASE ... TEMPLATE) and dropped WITH (FORCE) afterwards, so no run sees another's
rows, dead tuples or statistics.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from pgqueue import migrate

BENCH_DSN = os.environ.get("PGQUEUE_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

# The raw baselines write to a copy of pgqueue.jobs with the same columns, defaults, identity,
# constraints and indexes, but none of pgqueue's triggers or functions.
RAW_TABLE_DDL = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE bench.raw_jobs (LIKE pgqueue.jobs INCLUDING ALL);
"""

SETTINGS = (
    "shared_buffers",
    "synchronous_commit",
    "fsync",
    "wal_level",
    "max_connections",
    "work_mem",
    "checkpoint_timeout",
    "max_wal_size",
    "autovacuum",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_naptime",
)


def dsn_for(database: str, base: str = BENCH_DSN) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def admin(base: str, *statements: str) -> None:
    conn = await asyncpg.connect(base)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


class Databases:
    """Creates the migrated template once, clones it per workload, drops everything at the end."""

    def __init__(self, base: str = BENCH_DSN) -> None:
        self.base = base
        self.prefix = f"pgqueue_bench_{uuid.uuid4().hex[:8]}"
        self.template: str | None = None
        self._count = 0

    async def _template(self) -> str:
        if self.template is None:
            name = f"{self.prefix}_tpl"
            await admin(self.base, f"CREATE DATABASE {name}")
            self.template = name
            await migrate.upgrade_async(dsn_for(name, self.base))
            conn = await asyncpg.connect(dsn_for(name, self.base))
            try:
                await conn.execute(RAW_TABLE_DDL)
            finally:
                await conn.close()
        return self.template

    @contextlib.asynccontextmanager
    async def fresh(self) -> AsyncIterator[str]:
        """A fresh migrated database (pgqueue schema + bench.raw_jobs); its DSN."""
        template = await self._template()
        self._count += 1
        name = f"{self.prefix}_{self._count}"
        await admin(self.base, f"CREATE DATABASE {name} TEMPLATE {template}")
        try:
            yield dsn_for(name, self.base)
        finally:
            await admin(self.base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    async def close(self) -> None:
        if self.template is not None:
            await admin(self.base, f"DROP DATABASE IF EXISTS {self.template} WITH (FORCE)")
            self.template = None


async def server_info(base: str = BENCH_DSN) -> dict[str, Any]:
    conn = await asyncpg.connect(base)
    try:
        version = await conn.fetchval("SHOW server_version")
        settings = {
            r["name"]: r["setting"] + (r["unit"] or "")
            for r in await conn.fetch(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
                list(SETTINGS),
            )
        }
    finally:
        await conn.close()
    # shared_buffers is reported in 8kB pages; say it in MB.
    if "shared_buffers" in settings and settings["shared_buffers"].endswith("8kB"):
        pages = int(settings["shared_buffers"].removesuffix("8kB"))
        settings["shared_buffers"] = f"{pages * 8 // 1024}MB"
    return {"postgres": version, "settings": settings}
