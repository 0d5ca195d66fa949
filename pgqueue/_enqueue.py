"""Writing jobs: every enqueue path (asyncpg, SQLAlchemy sync and async) sends the same JSON
array to pgqueue.enqueue_many, inside whatever transaction the caller's connection is in; the
asyncpg path sends a single job without parents to pgqueue.enqueue_one instead, in typed
parameters (revision 0015_enqueue_fast: the same row and wake-up at about half the server's cost),
and, on the App's pool or lane, a batch without unique keys or parents to pgqueue.enqueue_batch, one
array per column (revision 0017_enqueue_batch: the same rows and wake-up at about the cost of a
binary COPY; docs/enqueue.md, "How a batch is written").

pgqueue never commits or rolls back a caller's connection: the job exists for workers if and only
if the caller's transaction commits.
"""

from __future__ import annotations

import functools
import math
import operator
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from pgqueue import _serialization as serialization
from pgqueue._job import DEFAULT_QUEUE, JobRequest
from pgqueue._names import task_name_problem
from pgqueue._sql import query
from pgqueue.errors import SerializationError

# SQLAlchemy is imported only when a caller hands us one of its connections: importing it costs
# 0.25-0.6 s, which every `pgqueue enqueue`/`status` and every worker start would pay otherwise
# (issue 18 goal 10). A SQLAlchemy connection cannot exist before sqlalchemy is in sys.modules.
if TYPE_CHECKING:
    from sqlalchemy import TextClause
    from sqlalchemy.engine import Connection as SAConnection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
    from sqlalchemy.orm import Session

    SyncConnection: TypeAlias = Session | SAConnection
    AsyncSAConnection: TypeAlias = AsyncSession | AsyncConnection


@functools.cache
def _sa_enqueue_many() -> TextClause:
    from sqlalchemy import text

    return text(
        "SELECT m.ord, m.id, m.duplicate FROM pgqueue.enqueue_many(CAST(:jobs AS jsonb)) AS m "
        "ORDER BY m.ord"
    )


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The outcome of enqueueing one job: its id, and whether a job with its unique key existed."""

    id: int
    duplicate: bool = False


def encode_jobs(requests: Sequence[JobRequest]) -> str:
    """The JSON array for pgqueue.enqueue_many; a value that cannot be stored names its field, its
    job and its task ("the queue name of mail.send (job #2) is not storable: ...")."""
    if not requests:
        raise ValueError("nothing to enqueue: the batch is empty")
    try:
        return serialization.dumps([r.as_json_object() for r in requests], what="the jobs")
    except SerializationError:
        for n, request in enumerate(requests, start=1):
            for field, value in request.as_json_object().items():
                serialization.dumps(value, what=_field_of(field, request.task, n))
        raise


_FIELDS = {
    "task": "task name",
    "args": "positional arguments",
    "kwargs": "keyword arguments",
    "queue": "queue name",
    "unique_key": "unique key",
    "metadata": "metadata",
    "limit_key": "limit key",
}


def _field_of(field: str, task: str, n: int) -> str:
    name = _FIELDS.get(field, field)
    if field == "task":
        return f"the {name} {task!r} (job #{n})"
    shown = task if task.isprintable() else repr(task)
    if field in ("args", "kwargs"):
        return f"{name} of {shown} (job #{n})"
    return f"the {name} of {shown} (job #{n})"


_INT32 = range(-(2**31), 2**31)
_EMPTY_ARGS = (list, tuple)  # the types of a job's positional arguments


# Where one_job_parameters puts the unique key.
_UNIQUE_KEY_AT = 8


def one_job_parameters(request: JobRequest) -> tuple[Any, ...] | None:
    """pgqueue.enqueue_one's parameters for `request`, or None when the job takes enqueue_many's
    path: it has parents, or a value of a type only enqueue_many's checks name ("has a
    non-numeric priority", a NaN delay), so bad input gets the same error on either path."""
    if request.depends_on or request.depends_on_batch:
        return None
    priority, attempts, delay = request.priority, request.max_attempts, request.delay_seconds
    if type(priority) is not int or priority not in _INT32:
        return None
    if attempts is not None and (type(attempts) is not int or attempts not in _INT32):
        return None
    if delay is not None:
        if type(delay) not in (int, float) or not math.isfinite(delay):
            return None
        delay = float(delay)
    try:
        args, kwargs = _arguments_json(request.args, request.kwargs)
        metadata = serialization.dumps(request.metadata) if request.metadata else None
    except SerializationError:
        # encode_jobs' messages: the first field that cannot be stored, in its order, named
        # (the names are built only here: a tenth of this function's time otherwise).
        for field, value in (("args", request.args), ("kwargs", request.kwargs)):
            serialization.dumps(value, what=_field_of(field, request.task, 1))
        serialization.dumps(request.metadata, what=_field_of("metadata", request.task, 1))
        raise
    run_at = None if request.run_at is None else request.run_at.isoformat()
    return (
        request.task,
        args,
        kwargs,
        request.queue,
        priority,
        run_at,
        delay,
        attempts,
        request.unique_key,
        metadata,
        request.limit_key,
    )


def plain_job_parameters(
    task: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    queue: str,
    priority: int,
    max_attempts: int | None,
) -> tuple[Any, ...] | None:
    """job_insert_plain.sql's parameters for a job without options, from its parts
    (App._enqueue_plain: no JobRequest is built): task, args and kwargs as the JSON texts of an
    array and an object, queue, priority, max_attempts. None when a part needs JobRequest's
    checks or enqueue_many's messages: a task name they would refuse, a value that is not
    storable. The queue is a registered task's (checked at registration) or the default."""
    if type(task) is not str or not task or task_name_problem(task) is not None:
        return None
    if type(args) not in _EMPTY_ARGS or type(kwargs) is not dict:
        return None
    if type(priority) is not int or priority not in _INT32:
        return None
    if max_attempts is not None and (type(max_attempts) is not int or max_attempts not in _INT32):
        return None
    try:
        args_json, kwargs_json = _arguments_json(args, kwargs)
    except SerializationError:
        return None
    return (task, args_json, kwargs_json, queue, priority, max_attempts)


def _arguments_json(args: Any, kwargs: Any) -> tuple[str, str]:
    """The JSON texts of a job's arguments: no arguments (a common job) are the constant texts,
    anything else goes through orjson (SerializationError if it cannot be stored)."""
    args_json = "[]" if not args and type(args) in _EMPTY_ARGS else serialization.dumps(args)
    kwargs_json = "{}" if not kwargs and type(kwargs) is dict else serialization.dumps(kwargs)
    return args_json, kwargs_json


_SEQUENCES = frozenset((list, tuple))
_NONE = type(None)
_INTEGER = frozenset((int,))
_INTEGER_OR_NONE = frozenset((int, _NONE))
_NUMBER_OR_NONE = frozenset((int, float, _NONE))


def batch_parameters(requests: Sequence[JobRequest]) -> tuple[Any, ...] | None:
    """pgqueue.enqueue_batch's parameters for `requests`: one list per column, or None for a
    column every job leaves at its default (no array sent, nothing for the server to read). None
    when the batch takes enqueue_many's path: a job has a unique key or parents, or a value of a
    type only enqueue_many's checks name ("has a non-numeric priority", a NaN delay) or that
    cannot be stored (encode_jobs names it), so bad input gets the same error on either path.
    Column by column through map() and C-level checks (count, any, set of types): a loop over
    the jobs appending to ten lists costs several times more per job."""
    n = len(requests)
    if (
        not n
        or list(map(_UNIQUE_KEY, requests)).count(None) != n
        or any(map(_DEPENDS_ON, requests))
        or any(map(_DEPENDS_ON_BATCH, requests))
    ):
        return None
    priorities = list(map(_PRIORITY, requests))
    if set(map(type, priorities)) != _INTEGER or not (
        _INT32.start <= min(priorities) and max(priorities) < _INT32.stop
    ):
        return None
    attempts = list(map(_MAX_ATTEMPTS, requests))
    if attempts.count(None) != n and (
        not set(map(type, attempts)) <= _INTEGER_OR_NONE
        or any(a is not None and a not in _INT32 for a in attempts)
    ):
        return None
    delays = list(map(_DELAY, requests))
    if delays.count(None) != n and (
        not set(map(type, delays)) <= _NUMBER_OR_NONE
        or not all(d is None or math.isfinite(d) for d in delays)
    ):
        return None
    # Names and keys are text: JobRequest refuses anything else ("limit_key must be text").
    limit_keys = list(map(_LIMIT_KEY, requests))
    try:
        args = _json_column(list(map(_ARGS, requests)), _SEQUENCES)
        kwargs = _json_column(list(map(_KWARGS, requests)), _DICT)
        metadata = list(map(_METADATA, requests))
        # Empty or absent metadata is the default ({}), as in as_json_object.
        encoded_metadata = [_encoded(m) for m in metadata] if any(metadata) else None
    except SerializationError:
        return None
    run_at = list(map(_RUN_AT, requests))
    queues = list(map(_QUEUE, requests))
    return (
        list(map(_TASK, requests)),
        args,
        kwargs,
        None if queues.count(DEFAULT_QUEUE) == n else queues,
        priorities if any(priorities) else None,
        None if run_at.count(None) == n else [None if r is None else r.isoformat() for r in run_at],
        None if delays.count(None) == n else [None if d is None else float(d) for d in delays],
        None if attempts.count(None) == n else attempts,
        encoded_metadata,
        None if limit_keys.count(None) == n else limit_keys,
    )


_DEPENDS_ON = operator.attrgetter("depends_on")
_DEPENDS_ON_BATCH = operator.attrgetter("depends_on_batch")
_UNIQUE_KEY = operator.attrgetter("unique_key")
_PRIORITY = operator.attrgetter("priority")
_MAX_ATTEMPTS = operator.attrgetter("max_attempts")
_DELAY = operator.attrgetter("delay_seconds")
_LIMIT_KEY = operator.attrgetter("limit_key")
_ARGS = operator.attrgetter("args")
_KWARGS = operator.attrgetter("kwargs")
_METADATA = operator.attrgetter("metadata")
_RUN_AT = operator.attrgetter("run_at")
_QUEUE = operator.attrgetter("queue")
_TASK = operator.attrgetter("task")
_DICT = frozenset((dict,))


def _encoded(value: Any) -> str | None:
    return serialization.dumps(value) if value else None


def _json_column(values: list[Any], empty_types: frozenset[type]) -> list[str | None] | None:
    """A column of JSON values: None when each is an empty list/tuple (or dict), the default;
    else each encoded, an empty one as NULL, and anything else too (also a value of the wrong
    JSON type: pgqueue.enqueue_batch refuses it with enqueue_many's message)."""
    if not any(values) and set(map(type, values)) <= empty_types:
        return None
    dumps = serialization.dumps
    return [None if not v and type(v) in empty_types else dumps(v) for v in values]


_NEW = object.__new__
_SET_ID = Enqueued.__dict__["id"].__set__
_SET_DUPLICATE = Enqueued.__dict__["duplicate"].__set__


def new_jobs(ids: Sequence[int]) -> list[Enqueued]:
    """Enqueued(id) for each id, none a duplicate: the same objects as the constructor makes, at
    half its cost (a frozen dataclass's __init__ sets each field through object.__setattr__),
    which is a twentieth of a 1,000-job batch."""
    done = []
    for job_id in ids:
        job = _NEW(Enqueued)
        _SET_ID(job, job_id)
        _SET_DUPLICATE(job, False)
        done.append(job)
    return done


def _rows_to_enqueued(rows: Sequence[Any]) -> list[Enqueued]:
    return [Enqueued(id=int(row[1]), duplicate=bool(row[2])) for row in rows]


async def insert_one_asyncpg(connection: Any, parameters: tuple[Any, ...]) -> Enqueued:
    """One job without a unique key as a plain INSERT in the connection's own role
    (job_insert_one.sql), `parameters` from `one_job_parameters`: its unique key, None, is not
    sent. Raises asyncpg's CheckViolationError or NotNullViolationError for a bad job (nothing is
    written) and InsufficientPrivilegeError for a role that may not insert."""
    row = await connection.fetchrow(
        query("job_insert_one"), *parameters[:_UNIQUE_KEY_AT], *parameters[_UNIQUE_KEY_AT + 1 :]
    )
    return Enqueued(int(row[0]), False)


async def insert_plain_asyncpg(connection: Any, parameters: tuple[Any, ...]) -> Enqueued:
    """One job without options as a plain INSERT in the connection's own role
    (job_insert_plain.sql), `parameters` from `plain_job_parameters`. Raises as
    `insert_one_asyncpg` does."""
    row = await connection.fetchrow(query("job_insert_plain"), *parameters)
    return Enqueued(int(row[0]), False)


async def insert_batch_asyncpg(connection: Any, columns: tuple[Any, ...]) -> list[int]:
    """A batch without unique keys or parents as one plain INSERT in the connection's own role
    (job_insert_batch.sql), `columns` from `batch_parameters`; the ids, in order. Raises
    asyncpg's CheckViolationError or NotNullViolationError for a bad job (nothing is written)
    and InsufficientPrivilegeError for a role that may not insert."""
    row = await connection.fetchrow(query("job_insert_batch"), *columns)
    ids: list[int] = row[0]
    return ids


async def enqueue_one_asyncpg(connection: Any, parameters: tuple[Any, ...]) -> Enqueued:
    """One job through pgqueue.enqueue_one, `parameters` from `one_job_parameters`."""
    row = await connection.fetchrow(query("job_enqueue_one"), *parameters)
    return Enqueued(int(row[0]), bool(row[1]))


async def enqueue_asyncpg(
    connection: Any, requests: Sequence[JobRequest], *, single: bool = False, batch: bool = False
) -> list[Enqueued]:
    """Enqueue through an asyncpg Connection or Pool (the Pool commits at once). `single`: the
    schema has pgqueue.enqueue_one (revision 0015), so one job without parents may use it.
    `batch`: the schema has pgqueue.enqueue_batch (revision 0017), so a batch without unique keys
    or parents may use it."""
    if single and len(requests) == 1 and (parameters := one_job_parameters(requests[0])):
        return [await enqueue_one_asyncpg(connection, parameters)]
    if batch and (columns := batch_parameters(requests)):
        ids = await connection.fetchval(query("job_enqueue_batch"), *columns)
        return new_jobs(ids)
    payload = encode_jobs(requests)
    rows = await connection.fetch(query("job_enqueue_many"), payload)
    return _rows_to_enqueued(rows)


async def enqueue_sqlalchemy_async(
    connection: AsyncSAConnection, requests: Sequence[JobRequest]
) -> list[Enqueued]:
    """Enqueue through a SQLAlchemy AsyncSession or AsyncConnection, in its transaction."""
    payload = encode_jobs(requests)
    result = await connection.execute(_sa_enqueue_many(), {"jobs": payload})
    return _rows_to_enqueued(result.all())


def enqueue_sqlalchemy_sync(
    connection: SyncConnection, requests: Sequence[JobRequest]
) -> list[Enqueued]:
    """Enqueue through a SQLAlchemy Session or Connection (any sync driver), in its transaction."""
    payload = encode_jobs(requests)
    result = connection.execute(_sa_enqueue_many(), {"jobs": payload})
    return _rows_to_enqueued(result.all())


def is_sqlalchemy_async(connection: object) -> bool:
    if "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

    return isinstance(connection, AsyncSession | AsyncConnection)


def is_sqlalchemy_sync(connection: object) -> bool:
    if "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.engine import Connection as SAConnection
    from sqlalchemy.orm import Session

    return isinstance(connection, Session | SAConnection)
