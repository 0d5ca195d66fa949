"""pgqueue's tables as SQLAlchemy Core: the model Alembic compares its revisions against.

Everything lives in the `pgqueue` Postgres schema so it sits beside an application's own tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INTERVAL, JSONB, UUID

from pgqueue._job import JobState

SCHEMA = "pgqueue"
VERSION_TABLE = "alembic_version"

metadata = MetaData(
    schema=SCHEMA,
    naming_convention={
        "ix": "%(table_name)s_%(column_0_N_name)s_idx",
        "ck": "%(table_name)s_%(constraint_name)s_check",
        "pk": "%(table_name)s_pkey",
        "fk": "%(table_name)s_%(column_0_name)s_fkey",
    },
)

# 0004_hardening: the limits of pgqueue/_names.py, for a raw INSERT too. Control characters are
# Unicode category Cc (U+0000 itself cannot be stored in text at all).
_CONTROL = r"[\u0001-\u001f\u007f-\u009f]"
_NAME_CHECKS = {
    "task_name": f"task <> '' AND octet_length(task) <= 200 AND task !~ '{_CONTROL}'",
    "queue_name": f"queue <> '' AND octet_length(queue) <= 200 AND queue !~ '{_CONTROL}'",
    "unique_key": (
        "unique_key IS NULL OR (unique_key <> '' AND octet_length(unique_key) <= 1000 "
        f"AND unique_key !~ '{_CONTROL}')"
    ),
    # 0013_limits
    "limit_key": (
        "limit_key IS NULL OR (limit_key <> '' AND octet_length(limit_key) <= 1000 "
        f"AND limit_key !~ '{_CONTROL}')"
    ),
}

# One list of states, JobState's, in the order of 0001's CHECK (the drift check compares them).
_states_sql = ", ".join(f"'{s.value}'" for s in JobState)

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("task", Text, nullable=False),
    Column("queue", Text, nullable=False, server_default=text("'default'")),
    Column("args", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("kwargs", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("state", Text, nullable=False, server_default=text("'queued'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=True),
    Column("run_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("enqueued_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("worker_id", UUID(as_uuid=False), nullable=True),
    Column("result", JSONB, nullable=True),
    Column("errors", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("cancel_requested_at", DateTime(timezone=True), nullable=True),
    # 0003_operations: unique jobs and progress reports.
    Column("unique_key", Text, nullable=True),
    Column("progress", JSONB, nullable=True),
    # 0012_job_metadata: integrations' context from the enqueuer to the worker (docs/tracing.md).
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # 0013_limits: flow control (docs/limits.md). `limited` is set at enqueue when the job's task
    # or queue has a row in `limits`: the plain claim leaves such jobs to pgqueue.claim_limited.
    Column("limit_key", Text, nullable=True),
    Column("limited", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint(f"state IN ({_states_sql})", name="state"),
    CheckConstraint("attempts >= 0", name="attempts"),
    CheckConstraint("max_attempts IS NULL OR max_attempts >= 1", name="max_attempts"),
    CheckConstraint("state <> 'running' OR worker_id IS NOT NULL", name="running_has_worker"),
    # 0006_finished_states: finished_at is set exactly when the state is final.
    CheckConstraint(
        "(finished_at IS NOT NULL) = (state IN ('succeeded', 'dead', 'cancelled'))",
        name="finished_state",
    ),
    *(CheckConstraint(check, name=name) for name, check in _NAME_CHECKS.items()),
    CheckConstraint("jsonb_typeof(metadata) = 'object'", name="metadata"),
    # The claim reads this index in order and stops after LIMIT rows: only runnable rows are in it,
    # so history and far-future schedules never slow the claim down. 0013_limits: `limited` second,
    # so the plain claim (NOT limited) never walks past limited jobs waiting on their limits.
    Index(
        "jobs_claim_idx",
        "queue",
        "limited",
        text("priority DESC"),
        "run_at",
        "id",
        postgresql_where=text("state = 'queued'"),
    ),
    # Promotion of due scheduled jobs and retries reads this one.
    Index(
        "jobs_due_idx",
        "run_at",
        postgresql_where=text("state IN ('scheduled', 'retrying')"),
    ),
    # Rescue of jobs held by lost workers reads this one.
    Index(
        "jobs_running_idx",
        "worker_id",
        postgresql_where=text("state = 'running'"),
    ),
    # 0003_operations: at most one queued-or-running job per unique key (the ON CONFLICT of
    # pgqueue/_sql/functions/enqueue_many.v1.sql infers this index from its predicate).
    Index(
        "jobs_unique_key_idx",
        "unique_key",
        unique=True,
        postgresql_where=text(
            "unique_key IS NOT NULL AND state IN ('scheduled', 'queued', 'running', 'retrying')"
        ),
    ),
    # 0013_limits: the limited claim's groups (queue, task, key) and each one's jobs in claim
    # order; the running counts of limited jobs (at most the workers' concurrency in all).
    Index(
        "jobs_limited_idx",
        "queue",
        "task",
        text("COALESCE(limit_key, ''::text)"),
        text("priority DESC"),
        "run_at",
        "id",
        postgresql_where=text("state = 'queued' AND limited"),
    ),
    Index(
        "jobs_limited_running_idx",
        "task",
        "limit_key",
        "queue",
        postgresql_where=text("state = 'running' AND limited"),
    ),
    # 0014_workflows: queue_stats counts the jobs waiting on their parents per queue.
    Index("jobs_waiting_idx", "queue", postgresql_where=text("state = 'waiting'")),
    # 0003_operations: retention deletes and the monitoring views' recent windows are range
    # scans of this one; history is never read in full.
    Index(
        "jobs_finished_idx",
        "state",
        "finished_at",
        postgresql_where=text("state IN ('succeeded', 'dead', 'cancelled')"),
    ),
)

# -- 0014_workflows: dependencies between jobs ---------------------------------------------------

# One row per parent of a waiting job, numbered in the order given (parent_results()' order).
# needs_success is false when the child runs whatever its parents end in (on_parent_failure="run").
job_dependencies = Table(
    "job_dependencies",
    metadata,
    Column(
        "child_id",
        BigInteger,
        ForeignKey("pgqueue.jobs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ord", Integer, primary_key=True),
    Column(
        "parent_id",
        BigInteger,
        ForeignKey("pgqueue.jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("needs_success", Boolean, nullable=False, server_default=text("true")),
    # Resolution looks up the children of the jobs that just finished.
    Index("job_dependencies_parent_idx", "parent_id"),
)

# -- 0003_operations: the maintenance lease and periodic schedules ----------------------------

# Named leases with an expiry in database time: the maintenance leader holds "maintenance".
leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# One row per periodic schedule; last_tick only moves forward, which makes each tick's job
# exactly-once however many workers race for it.
schedules = Table(
    "schedules",
    metadata,
    Column("name", Text, primary_key=True),
    Column("task", Text, nullable=False),
    Column("cron", Text, nullable=False),
    Column("timezone", Text, nullable=False, server_default=text("'UTC'")),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_tick", DateTime(timezone=True), nullable=True),
)

# -- 0013_limits: flow control (docs/limits.md) -------------------------------------------------

# One row per limited task (scope 'task') or queue (scope 'queue'), registered by the workers at
# start from @app.task(rate_limit=..., concurrency_limit=...) and app.queue(...). A rate is
# rate_count starts per rate_seconds, with bursts of at most `burst`.
limits = Table(
    "limits",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("concurrency", Integer, nullable=True),
    Column("rate_count", Integer, nullable=True),
    Column("rate_seconds", Float, nullable=True),
    Column("burst", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint("scope IN ('task', 'queue')", name="scope"),
    CheckConstraint("concurrency IS NULL OR concurrency >= 1", name="concurrency"),
    CheckConstraint(
        "(rate_count IS NULL) = (rate_seconds IS NULL) AND (rate_count IS NULL) = "
        "(burst IS NULL) AND (rate_count IS NULL OR (rate_count >= 1 AND rate_seconds > 0 "
        "AND burst >= 1))",
        name="rate",
    ),
)

# A rate's token bucket per (task, key) and per queue (key ''), written by the limited claim: the
# tokens left at refilled_at. No row is a full bucket.
limit_buckets = Table(
    "limit_buckets",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("refilled_at", DateTime(timezone=True), nullable=False),
)

# -- 0002_workers, with the columns of 0005_worker_health and 0010_worker_tasks ------------------

# One row per worker process start (a fresh uuid each time: hostnames and pids get reused).
# Rescue asks "is there a live row for this job's worker?", never "is there a dead one?", so a
# pruned row can only make a lost job easier to rescue, never harder.
workers = Table(
    "workers",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("hostname", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("queues", ARRAY(Text), nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("version", Text, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'running'")),
    Column("heartbeat_ttl", INTERVAL, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_heartbeat", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("stopped_at", DateTime(timezone=True), nullable=True),
    Column("processed", BigInteger, nullable=False, server_default=text("0")),
    Column("failed", BigInteger, nullable=False, server_default=text("0")),
    Column("active", Integer, nullable=False, server_default=text("0")),
    # 0005_worker_health: what the heartbeat reports of the worker's health.
    Column("abandoned_threads", Integer, nullable=False, server_default=text("0")),
    Column("claiming", Boolean, nullable=False, server_default=text("true")),
    Column("loop_stall_seconds", Float, nullable=False, server_default=text("0")),
    Column("loop_stalls", BigInteger, nullable=False, server_default=text("0")),
    # 0010_worker_tasks: the task names the worker serves ('{}': not reported, a worker started
    # before the upgrade; `pgqueue status` then warns about none of its queues' tasks).
    Column("tasks", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    CheckConstraint("state IN ('running', 'stopping', 'stopped', 'lost')", name="state"),
)
