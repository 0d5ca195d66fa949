"""pgqueue.contrib.fastapi type-checks where users put it: mypy --strict accepts
`FastAPI(lifespan=lifespan(app))` (with and without the app's own lifespan), Starlette's too,
and the dependencies in Annotated; it flags a lifespan that is not one."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import mypy_error_lines

SNIPPET = """\
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from starlette.applications import Starlette

from pgqueue import App
from pgqueue.contrib.fastapi import lifespan, session, transaction

queue = App()
api = FastAPI(lifespan=lifespan(queue))
plain = Starlette(lifespan=lifespan(queue))


@contextlib.asynccontextmanager
async def own(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    yield {"greeting": "hello"}


with_state = FastAPI(lifespan=lifespan(queue, own))
Sessions = async_sessionmaker(create_async_engine("postgresql+asyncpg://localhost/shop"))
Session = Annotated[AsyncSession, session(Sessions)]


async def connection() -> AsyncIterator[asyncpg.Connection]:
    yield await asyncpg.connect()


@api.post("/")
async def index(db: Session, conn: Annotated[asyncpg.Connection, transaction(connection)]) -> int:
    return 1


wrong = FastAPI(lifespan=lifespan(queue, 42))  # the only error
"""


def test_the_fastapi_adapter_type_checks(tmp_path: Path) -> None:
    error_lines, output = mypy_error_lines(SNIPPET, tmp_path)
    wrong_line = SNIPPET.splitlines().index(
        "wrong = FastAPI(lifespan=lifespan(queue, 42))  # the only error"
    )
    assert error_lines == [wrong_line + 1], output
    [error] = [line for line in output.splitlines() if ": error:" in line]
    assert "[call-overload]" in error, output
