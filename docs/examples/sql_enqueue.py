"""Enqueue from plain SQL: pgqueue.enqueue with named arguments, pgqueue.enqueue_many for a batch,
and AFTER INSERT triggers on an application table (row-level and statement-level).

Only SQL writes the jobs; Python just defines the tasks and runs a worker for them.

    pgqueue migrate
    PGQUEUE_DSN=postgresql://user@host/db python docs/examples/sql_enqueue.py

Exits 0 when every assertion holds (tests/integration/test_docs_examples.py runs it twice).
Runs again and again: it starts by removing what an earlier run left (its own tables and its
jobs, whose task names all start with docs.).
"""

from __future__ import annotations

import asyncio

import asyncpg

from pgqueue import App

app = App()


@app.task(name="docs.confirm_order")
async def confirm_order(order_id: int) -> str:
    return f"order {order_id} confirmed"


@app.task(name="docs.index_document", queue="search")
def index_document(doc_id: int, language: str = "en") -> str:
    return f"indexed {doc_id} ({language})"


# Row-level: one job per inserted order, in the inserting transaction.
ORDERS = r"""
CREATE TABLE docs_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer text NOT NULL
);

CREATE FUNCTION docs_orders_enqueue_confirmation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pgqueue.enqueue(
        'docs.confirm_order',
        args => jsonb_build_array(NEW.id),
        queue => 'mail',
        max_attempts => 5
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER docs_orders_enqueue_confirmation
    AFTER INSERT ON docs_orders
    FOR EACH ROW EXECUTE FUNCTION docs_orders_enqueue_confirmation();
"""

# Statement-level: one enqueue_many call per INSERT statement, however many rows it adds
# (bulk loads). HAVING skips statements that inserted nothing: enqueue_many refuses a NULL batch.
DOCUMENTS = r"""
CREATE TABLE docs_documents (id bigint PRIMARY KEY, language text NOT NULL);

CREATE FUNCTION docs_documents_enqueue_indexing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pgqueue.enqueue_many(jsonb_agg(jsonb_build_object(
        'task', 'docs.index_document',
        'args', jsonb_build_array(d.id),
        'kwargs', jsonb_build_object('language', d.language),
        'queue', 'search'
    ) ORDER BY d.id))
    FROM new_documents AS d
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER docs_documents_enqueue_indexing
    AFTER INSERT ON docs_documents
    REFERENCING NEW TABLE AS new_documents
    FOR EACH STATEMENT EXECUTE FUNCTION docs_documents_enqueue_indexing();
"""


async def main() -> None:
    conn = await asyncpg.connect(app.dsn)
    try:
        # A clean slate: this example's tables (their triggers and functions go with them,
        # below) and jobs from an earlier run go first.
        await conn.execute("DROP TABLE IF EXISTS docs_orders, docs_documents")
        await conn.execute(
            "DROP FUNCTION IF EXISTS docs_orders_enqueue_confirmation(),"
            " docs_documents_enqueue_indexing()"
        )
        await conn.execute("DELETE FROM pgqueue.jobs WHERE task LIKE 'docs.%'")
        await conn.execute(ORDERS)
        await conn.execute(DOCUMENTS)

        # pgqueue.enqueue with named arguments, committed: returns the job id.
        async with conn.transaction():
            confirm_id = await conn.fetchval(
                "SELECT pgqueue.enqueue('docs.confirm_order', args => '[100]', queue => 'mail',"
                " priority => 10)"
            )
        # ... and rolled back: the job never existed.
        tx = conn.transaction()
        await tx.start()
        dropped_id = await conn.fetchval("SELECT pgqueue.enqueue('docs.confirm_order', '[101]')")
        await tx.rollback()

        # A scheduled job: run_at is database time, so the worker's clock never matters.
        scheduled_id = await conn.fetchval(
            "SELECT pgqueue.enqueue('docs.confirm_order', '[102]',"
            " run_at => now() + interval '1 hour')"
        )
        scheduled_state = await conn.fetchval(
            "SELECT state FROM pgqueue.jobs WHERE id = $1", scheduled_id
        )

        # A batch: one call, one transaction; rows come back as (ord, id, duplicate).
        batch = await conn.fetch(
            "SELECT ord, id, duplicate FROM pgqueue.enqueue_many($1::jsonb) ORDER BY ord",
            '[{"task": "docs.index_document", "args": [1], "queue": "search"},'
            ' {"task": "docs.index_document", "args": [2], "kwargs": {"language": "de"},'
            '  "queue": "search", "priority": 5, "delay": 0}]',
        )

        # Triggers: committed inserts enqueue, a rolled-back insert leaves nothing behind.
        async with conn.transaction():
            await conn.execute("INSERT INTO docs_orders (customer) VALUES ('ada'), ('grace')")
            await conn.execute(
                "INSERT INTO docs_documents VALUES (10, 'en'), (11, 'fr'), (12, 'en')"
            )
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO docs_orders (customer) VALUES ('eve')")
                raise RuntimeError("abandoned checkout")
        except RuntimeError:
            pass
        await conn.execute("INSERT INTO docs_documents SELECT 13, 'en' WHERE false")  # no rows

        jobs = await conn.fetch(
            "SELECT id, task, queue, state, args::text AS args FROM pgqueue.jobs ORDER BY id"
        )
    finally:
        await conn.close()

    print(f"scheduled job state: {scheduled_state}")
    print(f"batch: {[(r['ord'], r['duplicate']) for r in batch]}")
    for job in jobs:
        print(f"  {job['task']:<20} queue={job['queue']:<6} {job['state']:<9} args={job['args']}")
    assert jobs[0]["id"] == confirm_id
    assert dropped_id not in {j["id"] for j in jobs}
    assert scheduled_state == "scheduled"
    assert [(r["ord"], r["duplicate"]) for r in batch] == [(1, False), (2, False)]
    assert [r["id"] for r in batch] == sorted(r["id"] for r in batch)
    assert [(j["task"], j["args"]) for j in jobs if j["state"] == "queued"] == [
        ("docs.confirm_order", "[100]"),
        ("docs.index_document", "[1]"),
        ("docs.index_document", "[2]"),
        ("docs.confirm_order", "[1]"),  # order ids 1 and 2 from the trigger; eve's was rolled back
        ("docs.confirm_order", "[2]"),
        ("docs.index_document", "[10]"),
        ("docs.index_document", "[11]"),
        ("docs.index_document", "[12]"),
    ]

    async with app:
        worker = app.worker(queues=["mail", "search"], concurrency=4)
        await worker.start()
        try:
            results = [
                await app.result(j["id"], timeout=30) for j in jobs if j["state"] == "queued"
            ]
        finally:
            await worker.stop()
    print(f"results: {results}")
    assert results == [
        "order 100 confirmed",
        "indexed 1 (en)",
        "indexed 2 (de)",
        "order 1 confirmed",
        "order 2 confirmed",
        "indexed 10 (en)",
        "indexed 11 (fr)",
        "indexed 12 (en)",
    ], results


if __name__ == "__main__":
    asyncio.run(main())
