"""Every statement that finishes jobs calls the finish hook (revision 0016_finish_hooks,
docs/states.md "Who finishes jobs"): pgqueue.jobs has no statement trigger that would notice a
finished job by itself (a transition table would cost every UPDATE of the table), so the SQL that
sets finished_at must hand the ids it finished to pgqueue.jobs_finished(), which sends the
pgqueue_done notices and resolves the jobs waiting on them. This test reads the SQL the head
revision runs (every .sql file of pgqueue/_sql and the newest version of every function) and fails
for a writer of finished_at that does not call the hook, so a new one cannot forget it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_state_writers import _FUNCTION, _INSERT, _UPDATE

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "pgqueue" / "_sql"
HOOK = "pgqueue.jobs_finished("
# functions/<name>.v<N>.sql
_VERSIONED = re.compile(r"^([a-z_]+)\.v([1-9][0-9]*)\.sql$")
# The ones 0016 dropped: their files stay for its downgrade, nothing at head runs them.
RETIRED = {"notify_jobs_finishing", "resolve_dependencies"}


def sets_finished_at(sql: str) -> bool:
    """An UPDATE of pgqueue.jobs that sets finished_at to anything but NULL (a retry or a requeue
    clears it, which finishes nothing), or an INSERT that names it."""
    updates = any(
        re.search(r"(^|,)\s*finished_at\s*=(?!\s*NULL\b)", m.group(1), re.I)
        for m in _UPDATE.finditer(sql)
    )
    inserts = any(re.search(r"\bfinished_at\b", m.group(1)) for m in _INSERT.finditer(sql))
    return updates or inserts


def newest_function_files() -> dict[str, Path]:
    newest: dict[str, tuple[int, Path]] = {}
    for path in (SQL / "functions").glob("*.sql"):
        match = _VERSIONED.match(path.name)
        assert match, path
        name, version = match.group(1), int(match.group(2))
        if name not in newest or version > newest[name][0]:
            newest[name] = (version, path)
    return {name: path for name, (_, path) in newest.items() if name not in RETIRED}


def finishers() -> dict[str, str]:
    """What runs at head and finishes jobs: name -> its SQL."""
    found = {f.name: f.read_text() for f in SQL.glob("*.sql") if sets_finished_at(f.read_text())}
    for path in newest_function_files().values():
        parts = _FUNCTION.split(path.read_text())
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if sets_finished_at(body):
                found[f"pgqueue.{name}()"] = body
    return found


def calls_the_hook(sql: str) -> bool:
    """The call in the SQL itself: comments (which name the hook too) do not count."""
    return HOOK in re.sub(r"--[^\n]*", "", sql)


def test_every_statement_that_finishes_jobs_calls_the_hook() -> None:
    missing = sorted(name for name, sql in finishers().items() if not calls_the_hook(sql))
    assert missing == [], (
        f"{missing} set finished_at without calling {HOOK}ids): their jobs' result waiters would "
        "never be woken and the jobs waiting on them never resolved (docs/states.md)"
    )


def test_the_finishers_are_the_ones_docs_states_md_names() -> None:
    assert sorted(finishers()) == [
        "job_cancel_waiting.sql",
        "job_complete_many.sql",
        "job_rescue.sql",
        "pgqueue.cancel()",
        "pgqueue.resolve_waiting()",
    ]
    section = (ROOT / "docs" / "states.md").read_text().split("## Who finishes jobs", 1)[1]
    section = section.split("\n## ", 1)[0]
    for name in finishers():
        assert f"`{name}`" in section, name


def test_the_detection_sees_a_finishing_update_and_not_a_clearing_one() -> None:
    assert sets_finished_at(
        "UPDATE pgqueue.jobs AS j SET state = 'dead', finished_at = now() WHERE "
    )
    assert sets_finished_at(
        "UPDATE pgqueue.jobs SET finished_at = CASE WHEN x THEN now() END FROM "
    )
    assert not sets_finished_at(
        "UPDATE pgqueue.jobs AS j SET finished_at = NULL, state = 'q' WHERE "
    )
    assert not sets_finished_at("UPDATE pgqueue.jobs AS j SET progress = $1 WHERE j.id = 1 ")
    assert sets_finished_at("INSERT INTO pgqueue.jobs (task, finished_at) VALUES (1, now())")
    assert not calls_the_hook("-- pgqueue.jobs_finished() wakes them\nSELECT NULL")
    assert calls_the_hook("SELECT pgqueue.jobs_finished(ARRAY[1]) -- wakes them")
