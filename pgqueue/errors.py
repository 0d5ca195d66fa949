"""The exceptions pgqueue raises.

    PgQueueError
    ├── ConfigurationError          bad settings: a malformed DSN, an unknown option value
    ├── TaskRegistrationError       two tasks under one name, a task defined twice
    ├── UnknownTaskError            enqueue by a name no task is registered under
    ├── SerializationError          (also a TypeError) arguments or a result that is not JSON
    ├── DatabaseError               the database answered with an error we did not expect
    │   ├── DatabaseUnavailableError    cannot connect (host down, network, too many clients)
    │   ├── AuthenticationError         wrong password or role
    │   ├── DatabaseNotFoundError       the database named in the DSN does not exist
    │   └── SchemaMissingError          the pgqueue schema is not migrated yet
    ├── JobNotFoundError            a job id that does not exist
    ├── JobFailedError              awaiting a result of a job that dead-lettered or was cancelled
    └── ResultTimeoutError          (also a TimeoutError) a result did not arrive in time

Tasks themselves raise `Retry` (not an error: a request) to ask for another attempt.
"""

from __future__ import annotations

from typing import Any


class PgQueueError(Exception):
    """Base of every error pgqueue raises."""


class ConfigurationError(PgQueueError):
    """Settings that cannot work: a malformed DSN, a bad option value."""


class TaskRegistrationError(PgQueueError):
    """A task name registered twice, or a task definition that cannot be used."""


class UnknownTaskError(PgQueueError):
    """No task is registered under the given name."""


class SerializationError(PgQueueError, TypeError):
    """A value that must be stored as JSON could not be encoded or decoded."""


class PayloadValidationError(SerializationError):
    """Arguments or a result that do not validate against the task's model or dataclass
    annotation; the message names each field and what is wrong with it."""


class DatabaseError(PgQueueError):
    """The database reported an error pgqueue did not expect.

    `sqlstate` is PostgreSQL's error code when the database sent one (e.g. "22008")."""

    sqlstate: str | None = None


class DatabaseUnavailableError(DatabaseError):
    """The database cannot be reached (down, restarting, network broken)."""


class AuthenticationError(DatabaseError):
    """The database refused the credentials."""


class DatabaseNotFoundError(DatabaseError):
    """The database named in the DSN does not exist."""


class SchemaMissingError(DatabaseError):
    """The pgqueue schema is missing: run `pgqueue migrate` first."""


class JobNotFoundError(PgQueueError):
    """No job exists with that id."""


class ResultTimeoutError(PgQueueError, TimeoutError):
    """The job did not finish within the time the caller was willing to wait."""


class JobFailedError(PgQueueError):
    """The job ended without a result: dead-lettered or cancelled.

    Carries the job's final state and the last attempt's exception class, message and traceback.
    """

    def __init__(
        self,
        job_id: int,
        state: str,
        error: dict[str, Any] | None,
    ) -> None:
        self.job_id = job_id
        self.state = state
        self.error = error or {}
        self.exc_type: str | None = self.error.get("type")
        self.exc_message: str | None = self.error.get("message")
        self.traceback: str | None = self.error.get("traceback")
        detail = f"{self.exc_type}: {self.exc_message}" if self.exc_type else "no error recorded"
        super().__init__(f"job {job_id} ended {state}: {detail}")


class Retry(Exception):  # noqa: N818 - it is a request from a task, not an error
    """Raise from a task to ask for another attempt after `delay` seconds.

    When `delay` is None the task's retry policy picks the delay. The attempt still counts
    against max_attempts; once they are used up the job is dead-lettered.
    """

    def __init__(self, delay: float | None = None, reason: str | None = None) -> None:
        self.delay = delay
        self.reason = reason
        super().__init__(reason or (f"retry requested in {delay}s" if delay else "retry requested"))
