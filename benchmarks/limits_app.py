"""The app the flow-control benchmark's workers serve: `pgqueue worker benchmarks.limits_app:app`.

`noop` is unlimited; `held` is limited to one start an hour, so all but one of its jobs wait at
the limit in the same queue as the noop jobs, ahead of them in claim order (benchmarks/limits.py).
"""

from __future__ import annotations

from pgqueue import App

app = App()


@app.task
async def noop() -> None:
    return None


@app.task(rate_limit="1/h")
async def held() -> None:
    return None
