"""Billing tasks, registered on the App when the worker imports this module."""

from __future__ import annotations

from examples.task_modules.app import app


@app.task(name="billing.charge")
async def charge(customer: str, cents: int) -> str:
    return f"charged {customer} {cents}"
