"""The dashboard mounted inside a Starlette application (docs/dashboard.md): a job with
progress, the job's page, and its event stream as a frontend reads it.

Run with PGQUEUE_DSN set to a migrated database (the tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.request
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from pgqueue import App, current_job
from pgqueue.web import create_app

queue_app = App()


@queue_app.task
async def import_file(rows: int) -> int:
    for n in range(1, rows + 1):
        await current_job().progress(n / rows, f"{n} of {rows} rows")
    return rows


def staff_only(request: Request) -> bool:
    # Your own check (a session, a header set by your proxy, ...); this example lets in local
    # requests. Sync or async; a Response (a redirect to your login) is sent as it is.
    return request.client is not None and request.client.host == "127.0.0.1"


dashboard = create_app(queue_app, auth=staff_only, actions=True)


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    yield
    await dashboard.state.close()  # a mounted app's own lifespan does not run


web = Starlette(routes=[Mount("/pgqueue", dashboard)], lifespan=lifespan)


def read_stream(url: str) -> list[str]:
    lines = []
    with urllib.request.urlopen(url, timeout=30) as response:
        for raw in response:
            line = raw.decode().strip()
            if line.startswith(("event:", "data:")):
                lines.append(line)
            if line.startswith("event: finished"):
                lines.append(response.readline().decode().strip())
                return lines
    return lines


def fetch_page(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as page:
        return page.status, page.read().decode()


async def main() -> None:
    # The web server runs on this event loop, beside the worker: one App, one pool.
    # A socket already listening: requests wait in its backlog until the server accepts them.
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(web, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/pgqueue"
    job_id = await import_file.enqueue(3)
    status, html = await asyncio.to_thread(fetch_page, f"{base}/jobs/{job_id}")
    print("job page:", status, "import_file" in html)
    worker = queue_app.worker(poll_interval=0.2)
    await worker.start()
    try:
        lines = await asyncio.to_thread(read_stream, f"{base}/api/jobs/{job_id}/events")
        events = [json.loads(line[5:]) for line in lines if line.startswith("data:")]
        # A stream starts at the latest report (however late it opens), then each later one.
        print("last progress:", events[-2]["message"])
        print("outcome:", events[-1]["state"], events[-1]["result"])
    finally:
        await worker.stop()
        server.should_exit = True
        await serving
        await queue_app.close()


if __name__ == "__main__":
    asyncio.run(main())
