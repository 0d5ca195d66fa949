"""Settings: one validated object, built from defaults < environment (PGQUEUE_*) < explicit values."""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any

from pgqueue._dsn import dsn_host, normalize_dsn, redact_dsn
from pgqueue._durations import parse_duration
from pgqueue._job import DEFAULT_QUEUE
from pgqueue._names import queue_name_problem
from pgqueue.errors import ConfigurationError

# The DSN helpers live in pgqueue._dsn; these names have always been importable from here too.
__all__ = [
    "NOT_GIVEN",
    "AppSettings",
    "NotGiven",
    "WorkerSettings",
    "command_line",
    "dsn_host",
    "normalize_dsn",
    "redact_dsn",
    "resolve_dsn",
]


def resolve_dsn(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """Explicit -> PGQUEUE_DSN -> DATABASE_URL -> None (libpq defaults: PGHOST, PGUSER, socket)."""
    env = os.environ if env is None else env
    for candidate in (explicit, env.get("PGQUEUE_DSN"), env.get("DATABASE_URL")):
        if candidate:
            return normalize_dsn(candidate)
    return None


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker runs. Every field can come from PGQUEUE_<FIELD> in the environment."""

    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    # Jobs run at once, and so the most one claim asks for. 50: a claim's round trip is then
    # shared by up to 50 short jobs, and I/O-bound jobs overlap (docs/worker.md, "Concurrency").
    concurrency: int = 50
    # Jobs claimed beyond the free slots while jobs are short (pgqueue/_ready.py); 0: never.
    # Off by default: a worker that dies (SIGKILL, OOM) costs every job it held an attempt, and a
    # job claimed ahead is held without running (docs/worker.md, "Claim ahead").
    prefetch: int = 0
    poll_interval: float = 2.0
    completion_flush_interval: float = 0.005
    completion_batch_size: int = 200
    schedule_interval: float = 1.0
    heartbeat_interval: float = 10.0
    heartbeat_ttl: float = 30.0
    shutdown_timeout: float = 30.0
    worker_retention: float = 86400.0
    listen: bool = True
    sync_threads: int | None = None
    # -- reliability (docs/reliability.md) -------------------------------------------------
    # A result whose JSON is longer fails its job (kind `result`) instead of the outcome batch.
    max_result_bytes: int = 10 * 1024 * 1024
    # Sync task threads still running after their attempt was given up (timeout, cancel): at
    # this many the worker stops claiming and reports itself unhealthy until some end.
    max_abandoned_threads: int = 10
    # The event loop not answering this long means the worker is wedged: the heartbeat thread
    # stops beating, so the worker is declared lost and its jobs rescued.
    loop_stall_limit: float = 300.0
    # -- operations (docs/operations.md): maintenance leader, retention, metrics --------------
    # Take part in the election of the one maintenance worker (retention pruning, cron ticks).
    maintenance: bool = True
    # 10 s: a leader that dies (SIGKILL) is replaced within about ttl + ttl/3 (13 s), so a
    # frequent cron pauses that long, not 40 s (issue 14 item 15); renewing costs one UPDATE
    # every 3.3 s.
    maintenance_lease_ttl: float = 10.0
    # Seconds finished jobs are kept; None keeps them. Dead letters stay until requeued or purged
    # unless retention_dead is set.
    retention_succeeded: float | None = 86400.0
    retention_cancelled: float | None = 7 * 86400.0
    retention_dead: float | None = None
    prune_interval: float = 60.0
    prune_batch_size: int = 1000
    # Prometheus endpoint (needs prometheus-client); None: no endpoint. 0 picks a free port.
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"
    metrics_interval: float = 15.0
    # -- task modules (docs/worker.md) ---------------------------------------------------------
    # Modules `pgqueue worker` imports after MODULE:APP so that the tasks they define are
    # registered (PGQUEUE_IMPORTS: comma-separated; --import beats it).
    imports: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if self.prefetch < 0:
            raise ConfigurationError("prefetch must not be negative (0: claim no job ahead)")
        if self.sync_threads is not None and self.sync_threads < 1:
            raise ConfigurationError("sync_threads must be at least 1 (or unset: concurrency)")
        if not self.queues or any(not q for q in self.queues):
            raise ConfigurationError("a worker needs at least one non-empty queue name")
        for queue in self.queues:
            problem = queue_name_problem(queue)
            if problem is not None:
                raise ConfigurationError(f"worker queues: {problem}")
        for name in (
            "poll_interval",
            "completion_flush_interval",
            "schedule_interval",
            "heartbeat_interval",
            "heartbeat_ttl",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"{name} must be positive (got {value})")
        if not math.isfinite(self.shutdown_timeout) or self.shutdown_timeout < 0:
            raise ConfigurationError("shutdown_timeout must not be negative")
        if self.heartbeat_ttl <= self.heartbeat_interval:
            raise ConfigurationError("heartbeat_ttl must be longer than heartbeat_interval")
        self._check_reliability()
        self._check_operations()
        for module in self.imports:
            if not all(part.isidentifier() for part in module.split(".")):
                raise ConfigurationError(
                    f"imports: {module!r} is not a dotted module name (e.g. myapp.billing)"
                )

    def _check_reliability(self) -> None:
        if self.max_result_bytes < 1:
            raise ConfigurationError("max_result_bytes must be at least 1")
        if self.max_abandoned_threads < 1:
            raise ConfigurationError("max_abandoned_threads must be at least 1")
        if not math.isfinite(self.loop_stall_limit) or self.loop_stall_limit <= 0:
            raise ConfigurationError(
                f"loop_stall_limit must be positive (got {self.loop_stall_limit})"
            )

    def _check_operations(self) -> None:
        for name in ("maintenance_lease_ttl", "prune_interval", "metrics_interval"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be positive")
        for name in ("retention_succeeded", "retention_cancelled", "retention_dead"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigurationError(f"{name} must be positive (or None to keep jobs)")
        if self.prune_batch_size < 1:
            raise ConfigurationError("prune_batch_size must be at least 1")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigurationError("metrics_port must be between 0 and 65535")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WorkerSettings:
        """Defaults, then PGQUEUE_* variables, then the non-None `overrides`."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"PGQUEUE_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, str(f.type))
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("queues", "imports"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def with_(self, **changes: Any) -> WorkerSettings:
        return replace(self, **changes)

    @property
    def sync_thread_limit(self) -> int:
        """The most threads plain `def` tasks run in at once (abandoned ones aside):
        `sync_threads`, else `concurrency`, so that a sync job never waits in the worker for a
        thread while it counts as running (docs/worker.md, "Concurrency"). Threads start only
        as sync jobs need them."""
        return self.sync_threads or self.concurrency


def _parse(name: str, raw: str, type_name: str) -> Any:
    if "None" in type_name and raw.strip().lower() in ("none", "off", "forever", "keep"):
        return None
    try:
        if type_name == "str":
            return raw
        if "tuple" in type_name:
            return tuple(q.strip() for q in raw.split(",") if q.strip())
        if "bool" in type_name:
            word = raw.strip().lower()
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false, yes/no, on/off or 1/0")
        if "int" in type_name and "float" not in type_name:
            return int(raw)
        try:
            return float(raw)  # range checks are __post_init__'s, with their own messages
        except ValueError:
            return parse_duration(raw)  # 30s, 15m, 12h, 7d
    except ValueError as exc:
        raise ConfigurationError(f"PGQUEUE_{name.upper()}={raw!r} is not valid: {exc}") from exc


class NotGiven(enum.Enum):
    """The default of an argument whose None means something (App's command_timeout)."""

    NOT_GIVEN = "not given"


NOT_GIVEN = NotGiven.NOT_GIVEN

# AppSettings.pooler's values; "transaction" is the one that changes how pgqueue connects.
POOLERS = ("none", "session", "transaction")

# The command line's flags for the App a MODULE:APP builds while `pgqueue worker` imports it:
# the top layer of that App's one settings load (see AppSettings.load), so no command ever
# changes an App's settings after it was built.
_COMMAND_LINE: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "pgqueue_command_line", default=None
)


@contextmanager
def command_line(flags: Mapping[str, Any]) -> Iterator[None]:
    """Within this block every App built takes `flags` over its own arguments."""
    token = _COMMAND_LINE.set(dict(flags))
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


@dataclass(frozen=True, slots=True)
class AppSettings:
    """How an App connects. Built by `load`: defaults < PGQUEUE_<FIELD> (the DSN: PGQUEUE_DSN,
    then DATABASE_URL) < the App's arguments < the command line's flags."""

    dsn: str | None = None
    pool_min_size: int = 1
    pool_max_size: int = 10
    connect_timeout: float = 10.0
    # Seconds before one of pgqueue's own queries is abandoned; None (0 in flags and the
    # environment): never.
    command_timeout: float | None = 30.0
    default_max_attempts: int = 3
    # What sits between pgqueue and PostgreSQL (docs/pgbouncer.md): "none" (a direct
    # connection), "session" (a pooler in session mode: the same as direct), or "transaction"
    # (PgBouncer pool_mode=transaction: no named prepared statements, and no LISTEN through it).
    pooler: str = "none"
    # A DSN straight to PostgreSQL for the one LISTEN connection, when `dsn` goes through a
    # transaction pooler; None: LISTEN on `dsn`, or (behind a transaction pooler) poll.
    listen_dsn: str | None = None

    def __post_init__(self) -> None:
        if self.pooler not in POOLERS:
            hint = (
                " (pgqueue runs multi-statement transactions, which statement pooling forbids)"
                if self.pooler == "statement"
                else ""
            )
            raise ConfigurationError(
                f"pooler must be one of {', '.join(POOLERS)} (got {self.pooler!r}){hint}"
            )
        if self.default_max_attempts < 1:
            raise ConfigurationError("default_max_attempts must be at least 1")
        if self.pool_min_size < 0 or self.pool_max_size < max(self.pool_min_size, 1):
            raise ConfigurationError(
                "pool sizes: need 0 <= pool_min_size <= pool_max_size and pool_max_size >= 1"
            )
        for name in ("connect_timeout", "command_timeout"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise ConfigurationError(f"{name} must be positive (got {value})")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **given: Any) -> AppSettings:
        """Defaults, then PGQUEUE_* variables, then `given` (None: not given; command_timeout=0
        means never), then the flags of an enclosing `command_line` block."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"PGQUEUE_{f.name.upper()}")
            if f.name not in ("dsn", "listen_dsn") and raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, str(f.type))
        values.update({k: v for k, v in given.items() if v is not None})
        values.update({k: v for k, v in (_COMMAND_LINE.get() or {}).items() if v is not None})
        values["dsn"] = resolve_dsn(values.get("dsn"), env)
        listen_dsn = values.get("listen_dsn") or env.get("PGQUEUE_LISTEN_DSN")
        values["listen_dsn"] = normalize_dsn(listen_dsn) if listen_dsn else None
        if values.get("command_timeout") == 0:
            values["command_timeout"] = None
        return cls(**values)
