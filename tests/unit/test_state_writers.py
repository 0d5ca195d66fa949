"""docs/states.md's table of the writers of `jobs.state` is true: it is pgqueue/_transitions.py's
CATALOGUE, row for row, and the catalogue names exactly the SQL that writes the column (every
.sql file in pgqueue/sql, and every SQL function the migrations create, that UPDATEs
pgqueue.jobs' state or INSERTs a state). A new writer fails this test until it is named."""

from __future__ import annotations

import re
from pathlib import Path

from pgqueue import _transitions as transitions
from pgqueue._job import JobState
from pgqueue._transitions import CATALOGUE, Edge, Name

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Who writes `jobs.state`"

_UPDATE = re.compile(
    r"UPDATE\s+pgqueue\.jobs(?:\s+AS\s+\w+)?\s+SET\s+(.*?)\s(?:FROM|WHERE|RETURNING)\s",
    re.S | re.I,
)
_INSERT = re.compile(r"INSERT\s+INTO\s+pgqueue\.jobs(?:\s+AS\s+\w+)?\s*\(([^)]*)\)", re.S | re.I)
_FUNCTION = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+pgqueue\.(\w+)", re.I)


def writes_state(sql: str) -> bool:
    updates = any(re.search(r"(^|,)\s*state\s*=", m.group(1)) for m in _UPDATE.finditer(sql))
    inserts = any(re.search(r"\bstate\b", m.group(1)) for m in _INSERT.finditer(sql))
    return updates or inserts


def writers_in_the_code() -> set[str]:
    found = {
        f.name for f in (ROOT / "pgqueue" / "_sql").glob("*.sql") if writes_state(f.read_text())
    }
    # Function bodies: in the revisions up to 0007, as files under pgqueue/_sql/functions since.
    bodies = [*(ROOT / "migrations" / "versions").glob("*.py")]
    bodies += (ROOT / "pgqueue" / "_sql" / "functions").glob("*.sql")
    for revision in bodies:
        parts = _FUNCTION.split(revision.read_text())
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if writes_state(body):
                found.add(f"pgqueue.{name}()")
    return found


def _states(states: tuple[JobState, ...]) -> str:
    return "/".join(f"`{s}`" for s in states) if states else "(new)"


def cells(edge: Edge) -> tuple[str, str, str]:
    """The name, the states and the writer, as docs/states.md writes them."""
    return (
        f"`{edge.name}`",
        f"{_states(edge.sources)} → {_states(edge.targets)}",
        f"`{edge.writer}`",
    )


def documented() -> list[tuple[str, str, str]]:
    """The table's rows, without the free-text "When" column."""
    text = (ROOT / "docs" / "states.md").read_text()
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [
        line.strip("| ").split(" | ") for line in section.splitlines() if line.startswith("| `")
    ]
    return [(name, states, writer) for name, states, _, writer in rows]


def test_the_docs_table_is_the_catalogue() -> None:
    assert documented() == [cells(edge) for edge in CATALOGUE]


def test_the_catalogue_names_every_writer_of_the_state_column() -> None:
    assert writers_in_the_code() == {edge.writer for edge in CATALOGUE}


def test_the_writer_detection_sees_updates_and_inserts() -> None:
    assert writes_state("UPDATE pgqueue.jobs AS j SET attempts = 1, state = 'queued' WHERE true ")
    assert writes_state("INSERT INTO pgqueue.jobs AS j (task, state) SELECT 1")
    assert not writes_state("UPDATE pgqueue.jobs AS j SET progress = $1 WHERE j.state = 'running' ")
    assert not writes_state("UPDATE pgqueue.workers AS w SET state = 'lost' WHERE true ")


def test_each_end_of_an_attempt_leads_where_the_catalogue_says() -> None:
    ends = {
        Name.SUCCEEDED: [transitions.succeeded(1, 1, "null")],
        Name.RETRY: [transitions.retry(1, 1, 5.0, {}), transitions.retry(1, 1, 0.0, {})],
        Name.DEAD: [transitions.dead(1, 1, {})],
        Name.CANCELLED: [transitions.cancelled(1, 1)],
        Name.INTERRUPTED: [transitions.interrupted(1, 1, {})],
    }
    catalogue = {edge.name: edge for edge in CATALOGUE}
    for name, built in ends.items():
        assert {t.name for t in built} == {name}
        assert {t.target for t in built} == set(catalogue[name].targets), name
        assert catalogue[name].sources == (JobState.RUNNING,)


def test_a_retry_due_now_goes_straight_to_the_queue_and_a_later_one_waits() -> None:
    now = transitions.retry(7, 2, -3.0, {"kind": "retry"})
    later = transitions.retry(7, 2, 2.5, {"kind": "retry"})
    assert (now.target, now.run_in, now.refund_attempt) == (JobState.QUEUED, 0.0, False)
    assert (later.target, later.run_in) == (JobState.RETRYING, 2.5)
    assert (now.metric_label, later.metric_label) == ("retrying", "retrying")
    back = transitions.interrupted(7, 2, {"kind": "shutdown"})
    assert (back.target, back.run_in, back.refund_attempt, back.metric_label) == (
        JobState.QUEUED,
        None,
        True,
        "requeued",
    )
