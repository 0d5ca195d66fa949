"""The dashboard served for real (uvicorn in a thread, on a free port) for the dashboard's
integration and browser tests, and small HTTP helpers that speak to it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from pgqueue.web import create_app


@dataclass
class Served:
    url: str
    web: Any  # the Starlette app (its state.dashboard is the Dashboard)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
        """(status, body, headers) of a GET; no redirects followed."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers

    def json(self, path: str, headers: dict[str, str] | None = None) -> Any:
        status, body, _ = self.get(path, headers)
        assert status == 200, (status, body)
        return json.loads(body)

    def post(
        self, path: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> tuple[int, str, Any]:
        data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers

    def events(self, path: str, until: str, timeout: float = 20.0) -> list[tuple[str, Any]]:
        """The Server-Sent Events of a stream, as (event, data), up to and including the first
        `until` event (or the stream's end)."""
        found: list[tuple[str, Any]] = []
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            event = None
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event is not None:
                    found.append((event, json.loads(line[6:])))
                    if event == until:
                        return found
                    event = None
        return found


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@contextlib.contextmanager
def served(web: Any = None, **options: Any) -> Iterator[Served]:
    """`web` (else create_app(**options)) served on 127.0.0.1 until the block ends."""
    if web is None:
        web = create_app(**options)
    config = uvicorn.Config(
        web, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "the dashboard did not start"
        assert time.monotonic() < deadline, "the dashboard did not start within 15s"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", web)
    finally:
        server.should_exit = True
        thread.join(15)
