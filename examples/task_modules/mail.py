"""Mail tasks, registered on the App when the worker imports this module."""

from __future__ import annotations

from examples.task_modules.app import app


@app.task(name="mail.send")
def send(to: str) -> str:
    return f"sent to {to}"
