"""The App, the worker and the CLI commands that scripts and health checks run (`pgqueue status`,
`pgqueue enqueue`) never import SQLAlchemy unless a caller hands pgqueue one of its connections:
importing it costs 0.25-0.6 s per process (issue 18 goal 10; benchmarks/cli_start.py)."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys, pgqueue, pgqueue._client, pgqueue._worker, pgqueue._cli\n"
    "from pgqueue import App\n"
    "App('postgresql://nobody@127.0.0.1:1/none')\n"
    "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))\n"
)


def test_the_app_and_the_cli_load_no_sqlalchemy() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_sqlalchemy_connections_are_still_recognised() -> None:
    # The lazy check (nothing of sqlalchemy loaded, so no connection of it) stays exact once
    # it is loaded. Neither session connects: only their types matter here.
    from sqlalchemy import create_engine
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
    from sqlalchemy.orm import Session

    from pgqueue._enqueue import is_sqlalchemy_async, is_sqlalchemy_sync

    sync = Session(create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    async_ = AsyncSession(create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    assert is_sqlalchemy_sync(sync) and not is_sqlalchemy_async(sync)
    assert is_sqlalchemy_async(async_) and not is_sqlalchemy_sync(async_)
    assert not is_sqlalchemy_sync(object()) and not is_sqlalchemy_async(object())


CRON_PROBE = (
    "import sys, pgqueue, pgqueue._client, pgqueue._cli\n"
    "from pgqueue import App\n"
    "App('postgresql://nobody@127.0.0.1:1/none')\n"
    "print(sorted(m for m in sys.modules if m.split('.')[0] in ('croniter', 'dateutil')))\n"
)


def test_the_app_and_the_cli_load_no_croniter_until_a_cron_is_read() -> None:
    # croniter and dateutil cost ~10 ms of every command's start; only schedules need them.
    done = subprocess.run(
        [sys.executable, "-c", CRON_PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
