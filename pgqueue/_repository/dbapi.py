"""Queries on a caller's DB-API connection in the "format" paramstyle (psycopg, as Django holds
it): how the Django task backend enqueues and reads inside the view's own transaction. The
connection is the caller's: pgqueue runs one statement on it and never commits or rolls back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgqueue._sql import query


def enqueue_one(connection: Any, payload_json: str) -> tuple[int, datetime]:
    """Enqueue one job (pgqueue.enqueue_many's JSON array of one) on `connection`; its id and
    enqueued_at."""
    with connection.cursor() as cursor:
        cursor.execute(query("job_enqueue_many_dbapi"), [payload_json])
        job_id, enqueued_at = cursor.fetchone()
    return int(job_id), enqueued_at


def job_row(connection: Any, job_id: int) -> tuple[Any, ...] | None:
    """The job's columns for a Django TaskResult (see job_get_dbapi.sql), or None."""
    with connection.cursor() as cursor:
        cursor.execute(query("job_get_dbapi"), [job_id])
        row = cursor.fetchone()
    return None if row is None else tuple(row)
