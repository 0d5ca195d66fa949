"""Burst mode: a worker that runs every runnable job, writes every outcome, then returns.

For CI jobs, one-off backfills and benchmarks: no polling the table from outside to know when
a drain is done. `pgqueue worker MODULE:APP --burst` does the same from the command line.

    pgqueue migrate
    PGQUEUE_DSN=postgresql://user@host/db python docs/examples/burst.py

Exits 0 when every assertion holds (tests/integration/test_burst.py runs it).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pgqueue import App, JobState, constant, current_job

app = App()


@app.task(name="docs.resize")
async def resize(image_id: int) -> str:
    return f"thumb-{image_id}.png"


@app.task(name="docs.upload", max_attempts=3, retry=constant(0))
async def upload(image_id: int) -> int:
    if current_job().attempt == 1:
        raise ConnectionError("storage hiccup")  # retried at once: runnable, so burst runs it
    return image_id


async def main() -> None:
    async with app:
        ids = await app.enqueue_many([resize.job(n) for n in range(100)])
        retried = await upload.enqueue(7)
        # Not runnable now: a burst leaves it scheduled.
        tomorrow = await resize.using(run_at=datetime.now(UTC) + timedelta(days=1)).enqueue(0)

        worker = app.worker(concurrency=20)
        await worker.run(until_empty=True)  # returns once nothing runnable is left

        print(f"processed {worker.stats().processed}")
        assert (await app.get_job(ids[-1])).state == JobState.SUCCEEDED
        assert await app.result(ids[41], timeout=0) == "thumb-41.png"
        info = await app.get_job(retried)
        print(f"upload: {info.state.value} after {info.attempts} attempts")
        assert (info.state, info.attempts) == (JobState.SUCCEEDED, 2)
        assert (await app.get_job(tomorrow)).state == JobState.SCHEDULED


if __name__ == "__main__":
    asyncio.run(main())
