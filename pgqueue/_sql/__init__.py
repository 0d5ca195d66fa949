"""pgqueue's SQL: one named query per file, loaded once.

Files are named table-first (`job_claim.sql`, `job_complete_many.sql`) and open with a comment
saying what the query does and why. Queue and task names are always parameters, never text.
Each file has exactly one caller, a method of `pgqueue._repository` (or `pgqueue._enqueue` for
the caller-connection paths), and none is unused: tests/unit/test_db_boundary.py holds it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

# The files sit beside this module in the installed package (a wheel is unpacked on install), so a
# plain path reads them; importlib.resources would cost every `pgqueue` command ~4 ms to import.
_HERE = Path(__file__).resolve().parent


@cache
def query(name: str) -> str:
    """The text of `<name>.sql` from this package."""
    return (_HERE / f"{name}.sql").read_text(encoding="utf-8")
