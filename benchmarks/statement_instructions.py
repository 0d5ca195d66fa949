"""What one statement costs the server in CPU instructions, counted by valgrind rather than
timed (docs/benchmarks.md, "Where a single-row write's and a claim's server time goes"): the
same count on every run, whatever else this shared machine is doing, so differences of 1% show.

    python -m benchmarks.statement_instructions [--calls 500]

A throwaway cluster (initdb in a temporary directory, migrated to pgqueue's head revision) gets
copies of pgqueue.jobs beside it and queued jobs in it; then, per statement, PostgreSQL runs in
single-user mode under `valgrind --tool=callgrind`, once with 50 calls of the prepared statement
and once with 50 + `--calls`, each run after a VACUUM. The difference divided by `--calls` is
one call's instructions in the backend: the first calls' parse and plans, the start-up and the
shut-down cancel out. A call is an EXECUTE of a PREPAREd statement, as a long-lived connection's
cached statement runs, on the plan PostgreSQL's plan cache picks (a generic plan after five
custom ones, if it looks no dearer). Beside the total: the part spent under ExecConstraints, the
table's CHECK constraints, which PostgreSQL reads back from their stored text (stringToNode)
and prepares again in every statement that writes a row (ExecRelCheck builds them once per
statement, never across statements); and the part under GetCachedPlan, planning when the plan
cache plans again.

Rows: the goal-1 raw INSERT + NOTIFY into bench.raw_jobs (pgqueue.jobs' columns, indexes and
checks), the same into a copy without the CHECK constraints, the same into a copy whose name, key
and state checks are domains (PostgreSQL keeps a domain's checks prepared in its type cache), a
one-row UPDATE of each, job_insert_one.sql with and without its pgqueue.limits lookup,
job_insert_plain.sql (what `task.enqueue()` without options sends), and the worker's claim
(job_claim.sql) of 50 jobs and of one, under plan_cache_mode auto and force_generic_plan.
Needs valgrind and the PostgreSQL server binaries (initdb) on this machine; the shared server
is not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from benchmarks.baselines import INSERT_NOTIFY
from benchmarks.cluster import Cluster, initialised_cluster
from benchmarks.insert_cost import LIMITS_LOOKUP
from pgqueue import migrate
from pgqueue._schema import _NAME_CHECKS, _states_sql
from pgqueue._sql import query

WARM_UP = 50  # calls in both runs: past the five custom plans, and what cancels out


def _domain(name: str, check: str, column: str) -> str:
    """A domain holding one of pgqueue.jobs' column checks, the column name replaced by VALUE."""
    on_value = re.sub(rf"\b{column}\b", "VALUE", check)
    return f"CREATE DOMAIN bench.{name} AS text CHECK ({on_value})"


TABLES = f"""
CREATE SCHEMA bench;
CREATE TABLE bench.raw_jobs (LIKE pgqueue.jobs INCLUDING ALL);
CREATE TABLE bench.unchecked_jobs (LIKE pgqueue.jobs INCLUDING ALL EXCLUDING CONSTRAINTS);
{_domain("job_name", _NAME_CHECKS["task_name"], "task")};
{_domain("job_key", _NAME_CHECKS["unique_key"], "unique_key")};
CREATE DOMAIN bench.job_state AS text CHECK (VALUE IN ({_states_sql}));
CREATE TABLE bench.domain_jobs (LIKE pgqueue.jobs INCLUDING ALL EXCLUDING CONSTRAINTS);
ALTER TABLE bench.domain_jobs
    ALTER task TYPE bench.job_name, ALTER queue TYPE bench.job_name,
    ALTER unique_key TYPE bench.job_key, ALTER limit_key TYPE bench.job_key,
    ALTER state TYPE bench.job_state;
INSERT INTO bench.domain_jobs (task) VALUES ('seed');
"""
# pgqueue.jobs' other checks, which domain_jobs keeps as they are: two read two columns, the
# others are small.
_OTHER_CHECKS = ("attempts", "max_attempts", "running_has_worker", "finished_state", "metadata")

RAW_SIGNATURE = "(text, jsonb, jsonb, text)"
RAW_ARGUMENTS = "('noop', '[]', '{}', 'default')"
INSERT_ONE_SIGNATURE = "(text, text, text, text, integer, text, float8, integer, text, text)"
INSERT_ONE_ARGUMENTS = "('noop', '[]', '{}', 'default', 0, NULL, NULL, NULL, NULL, NULL)"
UPDATE_ONE = "UPDATE {table} SET progress = $1 WHERE id = 1"
CLAIM = query("job_claim")
CLAIM_SIGNATURE = "(text[], integer, uuid)"
CLAIM_ARGUMENTS = "('{{default}}', {jobs}, '00000000-0000-4000-8000-000000000001')"


def _seeded_jobs(calls: int) -> int:
    """Queued jobs enough for every claim row's two runs, 50 jobs and one job a call."""
    return 2 * (2 * WARM_UP + calls) * (50 + 1) + 1_000


INSERT_ONE = query("job_insert_one")


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    statement: str
    signature: str  # the PREPARE's parameter types
    arguments: str  # one EXECUTE's
    baseline: str | None  # the row its ratio is to
    settings: tuple[str, ...] = ()  # the server's -c options for this row's runs


def _claim_rows(jobs: int, who: str) -> tuple[Row, Row]:
    """The worker's claim of `jobs` under PostgreSQL's default plan_cache_mode, and forced to
    its generic plan."""
    arguments = CLAIM_ARGUMENTS.format(jobs=jobs)
    return (
        Row(f"job_claim.sql, {who}, plan_cache_mode auto", CLAIM, CLAIM_SIGNATURE, arguments, None),
        Row(
            "  the same, plan_cache_mode force_generic_plan",
            CLAIM,
            CLAIM_SIGNATURE,
            arguments,
            None,
            settings=("plan_cache_mode=force_generic_plan",),
        ),
    )


RAW_INSERT = "raw INSERT + NOTIFY (bench.raw_jobs)"
RAW_UPDATE = "raw one-row UPDATE (bench.raw_jobs)"
ROWS = [
    Row(RAW_INSERT, INSERT_NOTIFY, RAW_SIGNATURE, RAW_ARGUMENTS, RAW_INSERT),
    Row(
        "  into a copy without CHECK constraints",
        INSERT_NOTIFY.replace("bench.raw_jobs", "bench.unchecked_jobs"),
        RAW_SIGNATURE,
        RAW_ARGUMENTS,
        RAW_INSERT,
    ),
    Row(
        "  into a copy, name/key/state checks as domains",
        INSERT_NOTIFY.replace("bench.raw_jobs", "bench.domain_jobs"),
        RAW_SIGNATURE,
        RAW_ARGUMENTS,
        RAW_INSERT,
    ),
    Row(
        "job_insert_one.sql (pgqueue.jobs)",
        INSERT_ONE,
        INSERT_ONE_SIGNATURE,
        INSERT_ONE_ARGUMENTS,
        RAW_INSERT,
    ),
    Row(
        "  without its pgqueue.limits lookup",
        INSERT_ONE.replace(LIMITS_LOOKUP, "false"),
        INSERT_ONE_SIGNATURE,
        INSERT_ONE_ARGUMENTS,
        RAW_INSERT,
    ),
    Row(
        "job_insert_plain.sql (a job without options)",
        query("job_insert_plain"),
        "(text, text, text, text, integer, integer)",
        "('noop', '[]', '{}', 'default', 0, NULL)",
        RAW_INSERT,
    ),
    Row(RAW_UPDATE, UPDATE_ONE.format(table="bench.raw_jobs"), "(jsonb)", "('{}')", RAW_UPDATE),
    Row(
        "  of a copy without CHECK constraints",
        UPDATE_ONE.format(table="bench.unchecked_jobs"),
        "(jsonb)",
        "('{}')",
        RAW_UPDATE,
    ),
    Row(
        "  of a copy, name/key/state checks as domains",
        UPDATE_ONE.format(table="bench.domain_jobs"),
        "(jsonb)",
        "('{}')",
        RAW_UPDATE,
    ),
    # A worker's claim of the seeded jobs, which the runs drain: each run starts after a VACUUM,
    # but within a run the dead entries the claims leave at the head of the claim index add up
    # (single-user mode runs no autovacuum), so a claim's total grows over the run; its planning
    # does not depend on them.
    *(
        row
        for jobs, who in ((50, "50 jobs (a busy worker's claim)"), (1, "1 job (an idle worker's)"))
        for row in _claim_rows(jobs, who)
    ),
]


async def _prepare(dsn: str, calls: int) -> None:
    await migrate.upgrade_async(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(TABLES)
        for name in _OTHER_CHECKS:
            definition = await conn.fetchval(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'pgqueue.jobs'::regclass AND conname = $1",
                f"jobs_{name}_check",
            )
            assert definition is not None, name
            await conn.execute(f"ALTER TABLE bench.domain_jobs ADD {definition}")
        # The UPDATE rows' job, id 1 in each table (domain_jobs has its own in TABLES).
        await conn.execute("INSERT INTO bench.raw_jobs (task) VALUES ('seed')")
        await conn.execute("INSERT INTO bench.unchecked_jobs (task) VALUES ('seed')")
        await conn.execute(
            "INSERT INTO pgqueue.jobs (task) SELECT 'noop' FROM generate_series(1, $1)",
            _seeded_jobs(calls),
        )
        await conn.execute("VACUUM ANALYZE pgqueue.jobs")
    finally:
        await conn.close()


def _single_user(cluster: Cluster, script: Path, settings: tuple[str, ...], *tool: str) -> None:
    """Run `script` through PostgreSQL in single-user mode (-j: a statement ends at a semicolon
    followed by an empty line), under `tool` if given."""
    options = [option for setting in ("fsync=off", *settings) for option in ("-c", setting)]
    with script.open() as stdin:
        subprocess.run(
            [
                *cluster.as_user,
                *tool,
                str(cluster.bindir / "postgres"),
                "--single",
                "-j",
                "-D",
                str(cluster.data),
                *options,
                "postgres",
            ],
            stdin=stdin,
            check=True,
            capture_output=True,
        )


def _instructions(cluster: Cluster, work: Path, row: Row, calls: int) -> dict[str, int]:
    """One single-user run under callgrind, after a VACUUM: the program's instructions, and
    those under ExecConstraints (the CHECKs) and GetCachedPlan (planning, when it plans)."""
    vacuum = work / "vacuum.sql"
    vacuum.write_text("VACUUM pgqueue.jobs;\n\n")
    _single_user(cluster, vacuum, ())
    script = work / "script.sql"
    script.write_text(
        f"PREPARE s{row.signature} AS {row.statement.strip()};\n\n"
        + f"EXECUTE s{row.arguments};\n\n" * calls
    )
    output = work / "callgrind.out"
    _single_user(
        cluster,
        script,
        row.settings,
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={output}",
    )
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(output)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    counts = {"total": 0, "checks": 0, "planning": 0}
    for line in annotated.splitlines():
        match = re.match(r"\s*([\d,]+)\s+\([\s\d.]+%\)\s+(\S+)", line)
        if match is None:
            continue
        count, function = int(match.group(1).replace(",", "")), match.group(2)
        if function == "PROGRAM":
            counts["total"] = count
        elif function.endswith(":ExecConstraints"):
            counts["checks"] += count
        elif function.endswith(":GetCachedPlan"):
            counts["planning"] += count
    return counts


def main(calls: int) -> None:
    for program in ("valgrind", "callgrind_annotate"):
        if shutil.which(program) is None:
            raise SystemExit(f"{program} not found: apt-get install valgrind")
    with initialised_cluster() as cluster:
        cluster.start()
        try:
            asyncio.run(_prepare(cluster.dsn, calls))
        finally:
            cluster.stop()
        work = Path(tempfile.mkdtemp(dir=cluster.root))
        if cluster.as_user:
            shutil.chown(work, "postgres", "postgres")
        totals: dict[str, int] = {}
        print(
            f"instructions per call in the backend: the runs of {WARM_UP + calls} and "
            f"{WARM_UP} calls, their difference divided by {calls}"
        )
        width = max(len(row.name) for row in ROWS)
        print(
            f"{'statement':{width}s} {'instructions':>13s} {'ratio':>7s} {'CHECKs':>9s} "
            f"{'share':>6s} {'planning':>9s}"
        )
        for row in ROWS:
            few = _instructions(cluster, work, row, WARM_UP)
            many = _instructions(cluster, work, row, WARM_UP + calls)
            total, checks, planning = ((many[k] - few[k]) // calls for k in few)
            totals[row.name] = total
            ratio = f"{total / totals[row.baseline]:6.3f}x" if row.baseline else ""
            print(
                f"{row.name:{width}s} {total:13,d} {ratio:>7s} {checks:9,d} "
                f"{checks / max(total, 1):6.1%} {planning:9,d}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    main(parser.parse_args().calls)
