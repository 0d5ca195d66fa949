"""Channel names live in pgqueue/_channels.py alone: every channel the SQL (the package's .sql
files and the migrations) sends on or the code listens to is one of them, and no module but
channels.py spells one out."""

from __future__ import annotations

import re
from pathlib import Path

from pgqueue import _channels as channels

ROOT = Path(__file__).resolve().parents[2]
_NOTIFY = re.compile(r"pg_notify\(\s*'([^']+)'")


def test_the_sql_sends_only_on_the_named_channels() -> None:
    sources = [*(ROOT / "pgqueue").rglob("*.sql"), *(ROOT / "migrations" / "versions").glob("*.py")]
    used = {name for f in sources for name in _NOTIFY.findall(f.read_text())}
    assert used <= set(channels.ALL), used - set(channels.ALL)
    assert {channels.JOBS, channels.DONE, channels.PROGRESS, channels.CANCEL} <= used


def test_no_module_but_channels_spells_a_channel_name() -> None:
    spelled = {
        str(f.relative_to(ROOT))
        for f in (ROOT / "pgqueue").rglob("*.py")
        if f.name != "_channels.py" and any(f'"{name}"' in f.read_text() for name in channels.ALL)
    }
    assert spelled == set()
