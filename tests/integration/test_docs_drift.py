"""Issue 14 item 7: claims in the docs checked against the code and the database, so they
cannot drift again (each assertion names the doc and the claim)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from pgqueue import App
from pgqueue._cli import main
from pgqueue._cli._common import EXIT_CONFIG
from tests.helpers import fetchval

DOCS = Path(__file__).parents[2] / "docs"


def _doc(name: str) -> str:
    return (DOCS / name).read_text()


async def test_enqueue_md_signature_is_the_functions(dsn: str) -> None:
    """enqueue.md's `pgqueue.enqueue(...)` block lists the function's parameters and defaults."""
    block = _doc("enqueue.md").split("pgqueue.enqueue(\n", 1)[1].split(") RETURNS", 1)[0]
    documented = [
        re.sub(r"\s+", " ", line.strip().rstrip(",")) for line in block.splitlines() if line
    ]
    actual = await fetchval(
        dsn,
        "SELECT pg_get_function_arguments(p.oid) FROM pg_proc AS p "
        "JOIN pg_namespace AS n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'pgqueue' AND p.proname = 'enqueue'",
    )
    # Postgres spells the defaults with their casts ('[]'::jsonb): drop them to compare.
    spelled = actual.replace("timestamp with time zone", "timestamptz")
    in_db = [re.sub(r"::[\w\[\]]+", "", a.strip()) for a in spelled.split(", ")]
    assert documented == in_db


async def test_unique_key_and_progress_are_filled(app: App) -> None:
    """tasks.md: JobInfo.unique_key and progress hold the job's key and latest report."""
    text = _doc("tasks.md")
    assert "always\n`None`" not in text and "currently always" not in text

    @app.task(name="noted")
    async def noted() -> None: ...

    job_id = await noted.using(unique_key="k-1").enqueue()
    info = await app.get_job(job_id)
    assert (info.unique_key, info.progress) == ("k-1", None)


def test_cli_md_loop_default_and_migrate_errors() -> None:
    """cli.md: `--loop` defaults to asyncio; an unknown --revision is exit 2, not a traceback;
    no "being added" left over."""
    worker = main.commands["worker"]
    [loop] = [p for p in worker.params if isinstance(p, click.Option) and p.name == "loop"]
    text = _doc("cli.md")
    row = next(line for line in text.splitlines() if line.startswith("| `--loop"))
    assert f"| `{loop.default}` |" in row
    assert "being added" not in text
    assert EXIT_CONFIG == 2 and "an unknown `--revision`" in text
    assert "prints a traceback" not in text


def test_operations_md_cancel_of_running_jobs() -> None:
    """operations.md: `jobs cancel` flags running jobs and lists them under `cancelling`; the
    worker state `lost` is documented."""
    text = _doc("operations.md")
    assert '"cancelling"' in text and "leaves running jobs alone" not in text
    assert "`lost`" in text
