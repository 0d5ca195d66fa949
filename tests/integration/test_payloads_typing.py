"""Typed payloads keep `task.enqueue` type-checked: mypy --strict accepts a model and a dataclass
where the task's parameters are annotated with them, flags anything else, and types
`app.result(job_id, task=...)` as the task's return."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import mypy_error_lines

SNIPPET = """\
import dataclasses

import pydantic

from pgqueue import App

app = App()


class Invoice(pydantic.BaseModel):
    cents: int


@dataclasses.dataclass
class Address:
    to: str


@app.task
async def charge(invoice: Invoice, address: Address | None = None) -> Invoice:
    return invoice


@app.task
def send(address: Address) -> str:
    return address.to


async def main() -> None:
    job = await charge.enqueue(Invoice(cents=1), address=Address("x"))
    await send.enqueue(Address("y"))
    paid: Invoice = await app.result(job, task=charge)
    text: str = await app.result(job, task=send)
    anything: int = await app.result(job)
    await charge.enqueue(Address("z"))  # error 1
    await send.enqueue(Invoice(cents=2))  # error 2
    wrong: str = await app.result(job, task=charge)  # error 3
"""


def test_enqueue_and_result_type_check_with_models_and_dataclasses(tmp_path: Path) -> None:
    error_lines, output = mypy_error_lines(SNIPPET, tmp_path)
    lines = SNIPPET.splitlines()
    expected = [i + 1 for i, line in enumerate(lines) if "# error" in line]
    assert error_lines == expected, output
