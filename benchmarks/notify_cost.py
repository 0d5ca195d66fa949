"""Server-side cost of the notification triggers on the worker's hot UPDATEs (issue 9's speed
condition, docs/benchmarks.md "Notifications v2"): EXPLAIN (ANALYZE) execution times of
job_claim.sql and job_complete_many.sql, medians over interleaved rounds, with the UPDATE
triggers as migrated (head), with an empty PL/pgSQL function in their place (what PostgreSQL's
transition-table capture and one call cost) and disabled (no completion notice at all: the floor).

    python -m benchmarks.notify_cost [--batch 10] [--rounds 5]

Each variant runs inside a transaction that is rolled back, on a fresh migrated database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import uuid
from typing import Any

import asyncpg

from benchmarks.db import BENCH_DSN, admin, dsn_for
from pgqueue import migrate
from pgqueue._sql import query

# Every UPDATE trigger the migrated schema has (since 0016_finish_hooks only jobs_notify_queued).
DISABLE = [
    "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tgname FROM pg_trigger "
    "WHERE tgrelid = 'pgqueue.jobs'::regclass AND NOT tgisinternal AND (tgtype & 16) <> 0 "
    "LOOP EXECUTE format('ALTER TABLE pgqueue.jobs DISABLE TRIGGER %I', t); END LOOP; END $$",
]
VARIANTS: dict[str, list[str]] = {
    "disabled": DISABLE,
    "empty function": [
        *DISABLE,
        "CREATE FUNCTION pgqueue.bench_nop() RETURNS trigger LANGUAGE plpgsql "
        "AS $$BEGIN RETURN NULL; END$$",
        "CREATE TRIGGER bench_nop AFTER UPDATE ON pgqueue.jobs "
        "REFERENCING OLD TABLE AS previous NEW TABLE AS changed "
        "FOR EACH STATEMENT EXECUTE FUNCTION pgqueue.bench_nop()",
    ],
    "head": [],
}


class _RollbackError(Exception):
    pass


async def _variant(conn: asyncpg.Connection, setup: list[str], pairs: int, batch: int) -> Any:
    # EXPLAIN's JSON plans, one per statement run.
    claims: list[dict[str, Any]] = []
    completes: list[dict[str, Any]] = []
    try:
        async with conn.transaction():
            for statement in setup:
                await conn.execute(statement)
            worker = str(uuid.uuid4())
            claim = await conn.prepare("EXPLAIN (ANALYZE, FORMAT JSON) " + query("job_claim"))
            done = await conn.prepare(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + query("job_complete_many")
            )
            for _ in range(pairs):
                claims.append(json.loads(await claim.fetchval(["default"], batch, worker))[0])
                rows = await conn.fetch(
                    "SELECT id, attempts FROM pgqueue.jobs WHERE worker_id = $1", worker
                )
                n = len(rows)
                args = ([r["id"] for r in rows], [r["attempts"] for r in rows])
                plan = await done.fetchval(
                    *args,
                    ["succeeded"] * n,
                    ["null"] * n,
                    [None] * n,
                    [None] * n,
                    [False] * n,
                    [True] * n,
                    worker,
                )
                completes.append(json.loads(plan)[0])
            raise _RollbackError
    except _RollbackError:
        pass
    return [p["Execution Time"] for p in claims], [p["Execution Time"] for p in completes]


async def main(batch: int, rounds: int, pairs: int = 150) -> None:
    name = f"pgqueue_bench_notify_{uuid.uuid4().hex[:8]}"
    await admin(BENCH_DSN, f"CREATE DATABASE {name}")
    dsn = dsn_for(name)
    times: dict[str, tuple[list[float], list[float]]] = {v: ([], []) for v in VARIANTS}
    try:
        await migrate.upgrade_async(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "INSERT INTO pgqueue.jobs (task) SELECT 'noop' FROM generate_series(1, $1)",
                pairs * batch * 2,
            )
            await conn.execute("VACUUM ANALYZE pgqueue.jobs")
            for _ in range(rounds):
                for variant, setup in VARIANTS.items():
                    claims, completes = await _variant(conn, setup, pairs, batch)
                    times[variant][0].extend(claims)
                    times[variant][1].extend(completes)
        finally:
            await conn.close()
    finally:
        await admin(BENCH_DSN, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    floor = statistics.median(times["disabled"][0])
    print(f"batch {batch}, {rounds} rounds x {pairs} claim+complete pairs per variant")
    for variant, (claims, completes) in times.items():
        claim = statistics.median(claims)
        print(
            f"{variant:15s} claim {claim:.3f} ms ({claim / floor - 1:+.0%} over disabled)  "
            f"complete {statistics.median(completes):.3f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.batch, args.rounds))
