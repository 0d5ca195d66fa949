"""Pydantic models and dataclasses as task arguments and results (pgqueue/_payloads.py), against
a real database and a real worker: instances are stored as JSON, rebuilt and validated from the
annotations before the function runs, a payload that does not validate is dead-lettered with its
field errors and no retry, and `app.result(job_id, task=...)` rebuilds a returned model."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import date

import pydantic
import pytest

from pgqueue import App, JobFailedError, JobState, PayloadValidationError, SerializationError
from tests.helpers import fetch, fetchval, running_worker


class Invoice(pydantic.BaseModel):
    customer: str
    cents: int
    due: date


class Receipt(pydantic.BaseModel):
    invoice: Invoice
    paid: bool


@dataclasses.dataclass
class Address:
    to: str
    name: str = "friend"


@dataclasses.dataclass
class Sent:
    to: str
    words: int


async def stored(dsn: str, job_id: int) -> tuple[object, object]:
    [row] = await fetch(
        dsn, "SELECT args::text, kwargs::text FROM pgqueue.jobs WHERE id = $1", job_id
    )
    return json.loads(row["args"]), json.loads(row["kwargs"])


async def test_models_and_dataclasses_round_trip_as_json(app: App, dsn: str) -> None:
    seen: list[object] = []

    @app.task(name="billing.charge")
    async def charge(invoice: Invoice, note: str = "") -> Receipt:
        seen.append(invoice)
        return Receipt(invoice=invoice, paid=True)

    @app.task(name="mail.send")
    def send(address: Address | None, *, copy: Address) -> Sent:
        seen.append((address, copy))
        return Sent(to=copy.to, words=len(copy.name.split()))

    invoice = Invoice(customer="ada", cents=250, due=date(2026, 12, 24))
    charged = await charge.enqueue(invoice, note="xmas")
    sent = await send.enqueue(None, copy=Address("bob@example.com", "Bob Smith"))
    assert await stored(dsn, charged) == (
        [{"customer": "ada", "cents": 250, "due": "2026-12-24"}],
        {"note": "xmas"},
    )
    assert await stored(dsn, sent) == (
        [None],
        {"copy": {"to": "bob@example.com", "name": "Bob Smith"}},
    )

    async with running_worker(app):
        receipt = await app.result(charged, timeout=10, task=charge)
        words = await app.result(sent, timeout=10, task=send)
        plain = await app.result(charged, timeout=10)
    assert receipt == Receipt(invoice=invoice, paid=True)
    assert words == Sent(to="bob@example.com", words=2)
    assert plain == {
        "invoice": {"customer": "ada", "cents": 250, "due": "2026-12-24"},
        "paid": True,
    }
    assert seen == [invoice, (None, Address("bob@example.com", "Bob Smith"))]
    [row] = await fetch(dsn, "SELECT result::text FROM pgqueue.jobs WHERE id = $1", sent)
    assert json.loads(row["result"]) == {"to": "bob@example.com", "words": 2}


async def test_a_payload_that_does_not_validate_is_dead_lettered_with_field_errors(
    app: App, dsn: str
) -> None:
    calls: list[object] = []

    @app.task(name="billing.charge", max_attempts=3)
    async def charge(invoice: Invoice) -> None:
        calls.append(invoice)

    @app.task(name="mail.send", max_attempts=3)
    def send(address: Address) -> None:
        calls.append(address)

    # Written by other code (SQL, another service): JSON that does not fit the annotations.
    bad_model = await fetchval(
        dsn,
        """SELECT pgqueue.enqueue('billing.charge', '[{"customer": "ada", "cents": "lots"}]')""",
    )
    bad_dataclass = await fetchval(
        dsn, """SELECT pgqueue.enqueue('mail.send', '[{"to": "x", "color": "red"}]')"""
    )
    not_an_object = await fetchval(dsn, """SELECT pgqueue.enqueue('mail.send', '["x"]')""")
    good = await charge.enqueue(Invoice(customer="ada", cents=1, due=date(2026, 1, 1)))
    async with running_worker(app):
        assert await app.result(good, timeout=10) is None
        for job_id in (bad_model, bad_dataclass, not_an_object):
            with pytest.raises(JobFailedError):
                await app.result(job_id, timeout=10)
    errors = {}
    for job_id in (bad_model, bad_dataclass, not_an_object):
        info = await app.get_job(job_id)
        assert (info.state, info.attempts) == (JobState.DEAD, 1)  # no retry
        [error] = info.errors
        assert error["kind"] == "payload"
        errors[job_id] = error["message"]
    assert "invoice.cents: Input should be a valid integer" in errors[bad_model]
    assert "invoice.due: Field required" in errors[bad_model]
    assert "address: " in errors[bad_dataclass] and "'color'" in errors[bad_dataclass]
    assert "expected a JSON object for Address, got str" in errors[not_an_object]
    assert len(calls) == 1


async def test_enqueue_refuses_what_json_cannot_hold_and_result_validates(
    app: App, dsn: str
) -> None:
    @dataclasses.dataclass
    class Dated:
        when: date

    @app.task(name="dated")
    async def dated(value: Dated) -> None: ...

    @app.task(name="charge")
    async def charge(invoice: Invoice) -> Invoice:
        return invoice

    with pytest.raises(SerializationError, match="not JSON serializable"):
        await dated.enqueue(Dated(date(2026, 1, 1)))  # asdict keeps the date: refused, not str()
    assert await fetchval(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0
    # A stored result that does not fit the return annotation: a clear error, not a bad object.
    job_id = await fetchval(dsn, "SELECT pgqueue.enqueue('charge', '[{}]')")
    await fetch(
        dsn,
        "UPDATE pgqueue.jobs SET state = 'succeeded', result = '{\"cents\": 1}', "
        "finished_at = now() WHERE id = $1",
        job_id,
    )
    with pytest.raises(PayloadValidationError, match=r"result\.customer: Field required"):
        await app.result(job_id, timeout=10, task=charge)


def test_pgqueue_never_imports_pydantic() -> None:
    """Pydantic is an optional extra: a worker and typed dataclass payloads work without it."""
    code = (
        "import sys, dataclasses\n"
        "import pgqueue._client, pgqueue._executor, pgqueue._payloads as p\n"
        "@dataclasses.dataclass\n"
        "class A:\n"
        "    x: int\n"
        "def f(a: A) -> A: return a\n"
        "assert p.dump_arguments(f, (A(1),), {}) == (({'x': 1},), {})\n"
        "assert p.rebuild_arguments(f, [{'x': 1}], {}) == ([A(1)], {})\n"
        "assert 'pydantic' not in sys.modules, 'pydantic imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
