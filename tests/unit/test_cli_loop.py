"""`pgqueue worker --loop`: asyncio by default, uvloop on request."""

from __future__ import annotations

import sys

import pytest

from pgqueue._cli._common import loop_factory, run_or_exit
from pgqueue.errors import ConfigurationError


def test_asyncio_is_the_default_loop() -> None:
    assert loop_factory("asyncio") is None


def test_uvloop_when_asked_and_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert loop_factory("auto") is uvloop.new_event_loop

    async def loop_type() -> str:
        import asyncio

        return type(asyncio.get_running_loop()).__module__

    assert run_or_exit(loop_type, loop="uvloop").startswith("uvloop")


def test_uvloop_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` raise ImportError
    assert loop_factory("auto") is None
    with pytest.raises(ConfigurationError, match="pgqueue\\[uvloop\\]"):
        loop_factory("uvloop")
