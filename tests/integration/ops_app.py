"""An app for CLI tests that run `pgqueue worker tests.integration.ops_app:app` as a process."""

from __future__ import annotations

import logging

from pgqueue import App, current_job

app = App()
log = logging.getLogger("ops_app")


@app.task(name="chatty")
async def chatty(n: int) -> int:
    log.info("working on %d", n)  # the CLI's log filter adds the job's context
    await current_job().progress(n, "half way")
    return n * 2


@app.task(name="broken", max_attempts=1)
async def broken() -> None:
    raise ValueError("broken on purpose")
