"""EXPLAIN evidence for the dashboard's paged queries (pgqueue/_sql/dashboard_*.sql): bounded
index range scans on a table that is mostly finished history, in the generic plan a prepared
statement settles on (asyncpg prepares every query) as well as the custom one. And the clock:
on a million finished jobs every page of the dashboard answers in under 100 ms (slow)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import create_database, drop_database, dsn_for
from tests.dashboard_support import served
from tests.plans.test_ops_plans import FILL, custom_plan, generic_plan, indexes, scans


@pytest.fixture(scope="module")
def history_dsn(template_db: str) -> Iterator[str]:
    name = create_database(template=template_db)
    try:
        with psycopg.connect(dsn_for(name), autocommit=True) as conn:
            conn.execute(FILL)  # type: ignore[arg-type]
        yield dsn_for(name)
    finally:
        drop_database(name)


JOB_PAGES = [
    ("NULL", "NULL", "NULL"),  # everything, newest first
    ("'q1'", "NULL", "NULL"),
    ("NULL", "'task3'", "NULL"),
    ("NULL", "NULL", "ARRAY['succeeded']"),
    ("'q1'", "'no-such-task'", "ARRAY['dead', 'cancelled']"),  # matches nothing: still bounded
]


@pytest.mark.parametrize("filters", JOB_PAGES)
@pytest.mark.parametrize("planned", [generic_plan, custom_plan])
def test_job_pages_are_a_range_of_the_primary_key(
    history_dsn: str, filters: tuple[str, str, str], planned: Any
) -> None:
    plan = planned(history_dsn, "dashboard_job_page", *filters, "150000", "130000", "50")
    used = indexes(plan)
    # A range of the primary key (with a rare state the planner may AND it with the finished
    # index: a bitmap, still bounded by the id window).
    assert "jobs_pkey" in used and used <= {"jobs_pkey", "jobs_finished_idx", None}


@pytest.mark.parametrize("planned", [generic_plan, custom_plan])
@pytest.mark.parametrize(
    "params",
    [
        ("NULL", "NULL", "NULL", "NULL", "50"),
        ("'q1'", "'task3'", "now() - interval '1 hour'", "1000", "50"),
    ],
)
def test_dead_letter_pages_read_the_finished_index(
    history_dsn: str, params: tuple[str, ...], planned: Any
) -> None:
    plan = planned(history_dsn, "dashboard_dead_page", *params)
    assert indexes(plan) == {"jobs_finished_idx"}


def test_the_job_count_is_an_estimate_and_the_newest_id_one_index_step(history_dsn: str) -> None:
    plan = custom_plan(history_dsn, "dashboard_jobs_size")
    found = scans(plan)
    assert [kind for kind, _ in found] == ["Index Only Scan"] and found[0][1] == "jobs_pkey"


MILLION = """
INSERT INTO pgqueue.jobs (task, queue, state, attempts, run_at, enqueued_at, started_at,
                          finished_at, result)
SELECT 'task' || (n % 20), 'q' || (n % 5), 'succeeded', 1, now() - n * interval '2 seconds',
       now() - n * interval '2 seconds', now() - n * interval '2 seconds',
       now() - n * interval '2 seconds' + interval '1 second', '1'
FROM generate_series(1, 1000000) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, attempts, finished_at, errors)
SELECT 'task' || (n % 20), 'q' || (n % 5), 'dead', 3, now() - n * interval '1 minute',
       '[{"type": "ValueError", "message": "x", "attempt": 3, "kind": "error"}]'
FROM generate_series(1, 2000) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, run_at)
SELECT 'task' || (n % 20), 'q' || (n % 5), 'queued', now() - n * interval '1 second'
FROM generate_series(1, 5000) AS n;
INSERT INTO pgqueue.jobs (task, queue, state, run_at)
SELECT 'rare', 'q1', 'queued', now() FROM generate_series(1, 3);
VACUUM (ANALYZE) pgqueue.jobs;
"""


@pytest.mark.slow
def test_every_page_is_under_100ms_on_a_million_finished_jobs(template_db: str) -> None:
    name = create_database(template=template_db)
    try:
        with psycopg.connect(dsn_for(name), autocommit=True) as conn:
            for statement in MILLION.split(";\n"):
                if statement.strip():
                    conn.execute(statement)  # type: ignore[arg-type]
            middle = conn.execute("SELECT min(id) + 500000 FROM pgqueue.jobs").fetchone()
            dead = conn.execute("SELECT max(id) FROM pgqueue.jobs WHERE state = 'dead'").fetchone()
        assert middle is not None and dead is not None
        pages = [
            "/",
            "/jobs",
            "/jobs?queue=q3",
            "/jobs?task=task7&state=succeeded",
            "/jobs?task=rare",  # three jobs among a million: one bounded window per page
            f"/jobs?before={middle[0]}",
            "/jobs?state=dead",
            f"/jobs/{dead[0]}",
            "/dead",
            "/dead?queue=q2",
            "/workers",
            "/schedules",
            "/api/jobs?limit=200",
            "/api/overview",
            "/api/dead",
        ]
        timings = {}
        with served(dsn=dsn_for(name)) as s:
            for page in pages:
                assert s.get(page)[0] == 200, page  # warm: the pool, prepared statements
                runs = []
                for _ in range(5):
                    started = time.perf_counter()
                    status, _, _ = s.get(page)
                    runs.append(time.perf_counter() - started)
                    assert status == 200
                timings[page] = statistics.median(runs)
        print("\n".join(f"{1000 * t:7.1f} ms  {page}" for page, t in timings.items()))
        slow = {page: round(1000 * t) for page, t in timings.items() if t >= 0.1}
        assert not slow, f"pages over 100 ms on a million finished jobs: {slow}"
    finally:
        drop_database(name)
