"""Pydantic models and dataclasses as task arguments and results (docs/tasks.md, "Typed
payloads"), run by an in-process worker.

    pip install 'pgqueue[pydantic]'
    pgqueue migrate
    PGQUEUE_DSN=postgresql://user@host/db python docs/examples/typed_payloads.py

Exits 0 when every assertion holds (tests/integration/test_docs_examples.py runs it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import date

from pydantic import BaseModel

from pgqueue import App, JobFailedError

app = App()


class Invoice(BaseModel):
    customer: str
    cents: int
    due: date


@dataclasses.dataclass
class Receipt:
    customer: str
    paid_cents: int


@app.task(name="billing.charge")
async def charge(invoice: Invoice) -> Receipt:
    # `invoice` is an Invoice again, validated: `due` is a date, `cents` an int.
    assert isinstance(invoice.due, date)
    return Receipt(invoice.customer, invoice.cents)


async def main() -> None:
    logging.getLogger("pgqueue").setLevel(logging.CRITICAL)  # the bad job's ERROR line
    async with app:
        job_id = await charge.enqueue(Invoice(customer="ada", cents=250, due=date(2026, 12, 24)))
        [stored] = (await app.get_job(job_id)).args  # jsonb keeps no key order: sorted here
        print("stored args:", [dict(sorted(stored.items()))])
        # A row written by other code that does not fit Invoice.
        [bad] = await app.enqueue_many([app.request("billing.charge", [{"cents": "lots"}], {})])
        worker = app.worker(poll_interval=0.2)
        await worker.start()
        try:
            receipt = await app.result(job_id, timeout=30, task=charge)
            print("result:", receipt)
            try:
                await app.result(bad, timeout=30)
            except JobFailedError:
                info = await app.get_job(bad)
                print("bad:", info.state.value, info.attempts, info.errors[-1]["kind"])
                print("message:", info.errors[-1]["message"])
        finally:
            await worker.stop()


if __name__ == "__main__":
    asyncio.run(main())
