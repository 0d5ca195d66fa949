"""docs/django.md shows only code that runs: every Python block in it is an excerpt of the test
project (tests/django) that the suite runs."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_fastapi_docs import python_blocks, unrun_blocks

HERE = Path(__file__).resolve().parent


def test_every_django_snippet_is_run_code() -> None:
    doc = HERE.parents[1] / "docs" / "django.md"
    assert len(python_blocks(doc)) >= 3
    assert unrun_blocks(doc, sorted(HERE.rglob("*.py"))) == []
