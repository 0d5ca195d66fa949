"""pgqueue's SQL: one named query per file, loaded once.

Files are named table-first (`job_claim.sql`, `job_complete_many.sql`) and open with a comment
saying what the query does and why. Queue and task names are always parameters, never text.
Each file has exactly one caller, a method of `pgqueue._repository` (or `pgqueue._enqueue` for
the caller-connection paths), and none is unused: tests/unit/test_db_boundary.py holds it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def query(name: str) -> str:
    """The text of `<name>.sql` from this package."""
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
