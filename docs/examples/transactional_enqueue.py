"""Enqueue inside your own transaction, with asyncpg, SQLAlchemy async and SQLAlchemy sync.

Each path commits once and rolls back once: a job exists if and only if its transaction
committed, together with the application row written next to it. Then a worker runs the
committed jobs.

    pgqueue migrate
    PGQUEUE_DSN=postgresql://user@host/db python docs/examples/transactional_enqueue.py

Exits 0 when every assertion holds (tests/integration/test_docs_examples.py runs it twice).
Runs again and again: it starts by removing what an earlier run left (its own table and its
jobs, whose task names all start with docs.).
"""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from pgqueue import App

app = App()  # DSN: PGQUEUE_DSN, else DATABASE_URL, else libpq defaults


# A script runs as __main__, so the default name (module.qualname) would be
# "__main__.send_welcome"; an explicit name is stable wherever the code lives.
@app.task(name="docs.send_welcome")
async def send_welcome(user_id: int) -> str:
    return f"welcome, user {user_id}"


INSERT_USER = text("INSERT INTO docs_users (id, email) VALUES (:id, :email)")


def sqlalchemy_url(driver: str) -> str:
    """The App's DSN for SQLAlchemy with the given driver (empty host: libpq defaults)."""
    return (app.dsn or "postgresql://").replace("postgresql://", f"postgresql+{driver}://", 1)


async def with_asyncpg(conn: asyncpg.Connection) -> None:
    # Commit: the user row and its job become visible together.
    async with conn.transaction():
        await conn.execute("INSERT INTO docs_users (id, email) VALUES ($1, $2)", 1, "a@example.com")
        await send_welcome.using(connection=conn).enqueue(1)

    # Roll back (here: an exception leaves the block): neither the row nor the job exist.
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO docs_users (id, email) VALUES ($1, $2)", 2, "b@example.com"
            )
            await send_welcome.using(connection=conn).enqueue(2)
            raise RuntimeError("signup rejected")
    except RuntimeError:
        pass


async def with_sqlalchemy_async() -> None:
    engine = create_async_engine(sqlalchemy_url("asyncpg"))
    try:
        async with AsyncSession(engine) as session, session.begin():  # commits on exit
            await session.execute(INSERT_USER, {"id": 3, "email": "c@example.com"})
            await send_welcome.using(connection=session).enqueue(3)

        async with AsyncSession(engine) as session:
            await session.execute(INSERT_USER, {"id": 4, "email": "d@example.com"})
            await send_welcome.using(connection=session).enqueue(4)
            await session.rollback()

        # A batch in the caller's transaction: one statement, ids in input order.
        async with engine.connect() as conn:
            await conn.execute(INSERT_USER, {"id": 5, "email": "e@example.com"})
            await conn.execute(INSERT_USER, {"id": 6, "email": "f@example.com"})
            ids = await app.enqueue_many(
                [send_welcome.job(5), send_welcome.job(6)], connection=conn
            )
            assert ids == sorted(ids), ids
            await conn.commit()
    finally:
        await engine.dispose()


def with_sqlalchemy_sync() -> None:
    """Blocking code (a web request handler, a script): Session and enqueue_sync."""
    engine = create_engine(sqlalchemy_url("psycopg"))
    try:
        with Session(engine) as session, session.begin():
            session.execute(INSERT_USER, {"id": 7, "email": "g@example.com"})
            send_welcome.using(connection=session).enqueue_sync(7)

        with Session(engine) as session:
            session.execute(INSERT_USER, {"id": 8, "email": "h@example.com"})
            send_welcome.using(connection=session).enqueue_sync(8)
            session.rollback()
    finally:
        engine.dispose()


async def main() -> None:
    conn = await asyncpg.connect(app.dsn)
    try:
        # A clean slate: this example's table and jobs from an earlier run go first.
        await conn.execute("DROP TABLE IF EXISTS docs_users")
        await conn.execute("DELETE FROM pgqueue.jobs WHERE task LIKE 'docs.%'")
        await conn.execute("CREATE TABLE docs_users (id int PRIMARY KEY, email text NOT NULL)")
        await with_asyncpg(conn)
        await with_sqlalchemy_async()
        await asyncio.to_thread(with_sqlalchemy_sync)

        users = [r["id"] for r in await conn.fetch("SELECT id FROM docs_users ORDER BY id")]
        jobs = await conn.fetch(
            "SELECT id, (args->>0)::int AS user_id FROM pgqueue.jobs ORDER BY id"
        )
    finally:
        await conn.close()

    job_users = [r["user_id"] for r in jobs]
    print(f"users committed: {users}")
    print(f"jobs committed for users: {job_users}")
    assert users == [1, 3, 5, 6, 7], users
    assert job_users == users, job_users

    async with app:
        worker = app.worker(concurrency=4)
        await worker.start()
        try:
            results = [await app.result(r["id"], timeout=30) for r in jobs]
        finally:
            await worker.stop()
    print(f"results: {results}")
    assert results == [f"welcome, user {u}" for u in users], results


if __name__ == "__main__":
    asyncio.run(main())
