"""pgqueue's testing kit: test tasks and the code that enqueues them, against real PostgreSQL.

- `perform(task, *args, **kwargs)` / `perform_sync`: run a task's function as a worker would
  (JSON round trip, signature check, `current_job()`, timeout), no database needed;
  `Performer(attempt=3)` to set the attempt and read the progress it reported.
- `drain(app, queues=..., include_scheduled=..., max_jobs=...)`: run every runnable job
  in-process with a real worker until none remains; returns what ran.
- `assert_enqueued`, `refute_enqueued`, `enqueued_jobs` (and `_sync` forms for a SQLAlchemy
  Session): what waits in the jobs table, read through the test's own connection if given.
- A pytest plugin (`pgqueue.testing.plugin`): fixtures `pgqueue_dsn` and `pgqueue_app`.

docs/testing.md shows each on a small application.
"""

from pgqueue.testing._database import use_database
from pgqueue.testing._drain import DrainLimitError, DrainResult, drain
from pgqueue.testing._enqueued import (
    ANY,
    EnqueuedJob,
    assert_enqueued,
    assert_enqueued_sync,
    enqueued_jobs,
    refute_enqueued,
    refute_enqueued_sync,
)
from pgqueue.testing._perform import Performer, ProgressReport, perform, perform_sync

__all__ = [
    "ANY",
    "DrainLimitError",
    "DrainResult",
    "EnqueuedJob",
    "Performer",
    "ProgressReport",
    "assert_enqueued",
    "assert_enqueued_sync",
    "drain",
    "enqueued_jobs",
    "perform",
    "perform_sync",
    "refute_enqueued",
    "refute_enqueued_sync",
    "use_database",
]
