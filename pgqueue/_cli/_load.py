"""MODULE:APP: import the application's module and find its App, with one clear line for
whatever goes wrong (the caller's `fail`, exit 2)."""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from pgqueue._client import App

Fail = Callable[[str, BaseException | None], NoReturn]


def import_app(spec: str, flags: Mapping[str, Any], fail: Fail) -> App:
    """The App at `spec`, built (when its module is imported here) with `flags` on top of its
    own settings."""
    from pgqueue._client import App

    module_name, _, attr = spec.partition(":")
    attr = attr or "app"
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        dotted = module_name.removesuffix(".py").replace(os.sep, ".").replace("/", ".")
        fail(f"{spec!r} is a file path: name the module dotted, e.g. {dotted}:{attr}", None)
    already = module_name in sys.modules
    module = _import(module_name, flags, fail)
    if not hasattr(module, attr):
        apps = sorted(n for n, v in vars(module).items() if isinstance(v, App))
        hint = f"; its App is {module_name}:{apps[0]}" if len(apps) == 1 else ""
        fail(f"module {module_name!r} has no attribute {attr!r}{hint}", None)
    app = getattr(module, attr)
    if not isinstance(app, App):
        fail(
            f"{spec!r} is not a pgqueue.App (found {type(app).__name__}): "
            "name the App as MODULE:ATTRIBUTE, e.g. myapp.tasks:app",
            None,
        )
    if already and any(getattr(app.settings, k) != (v or None) for k, v in flags.items()):
        # Only in a process that imported the module before the command ran (a test).
        fail(f"{module_name!r} was imported before the command's flags could apply", None)
    return app


def import_modules(names: Sequence[str], flags: Mapping[str, Any], fail: Fail) -> None:
    """Import the task modules of `--import`/PGQUEUE_IMPORTS, in order, after the App: their
    `@app.task`s register on it. Whatever goes wrong is the same one line as for MODULE:APP."""
    for name in names:
        _import(name, flags, fail)


def _import(module_name: str, flags: Mapping[str, Any], fail: Fail) -> ModuleType:
    from pgqueue.errors import ConfigurationError, PgQueueError
    from pgqueue.settings import command_line

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        with command_line(flags):
            return importlib.import_module(module_name)
    except ImportError as exc:
        fail(f"cannot import {module_name!r}: {exc}{_raised_at(exc)}", exc)
    except ConfigurationError as exc:  # App() at import time with a malformed DSN: says it all
        fail(str(exc), exc)
    except PgQueueError as exc:  # a malformed cron or task definition
        fail(f"{exc} (while importing {module_name!r}{_raised_at(exc, bare=True)})", exc)
    except Exception as exc:
        fail(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}{_raised_at(exc)}; "
            "fix the module (--log-level DEBUG prints the traceback)",
            exc,
        )


def _raised_at(exc: BaseException, *, bare: bool = False) -> str:
    """Where the import failed: the innermost frame in the application's own files (not Python's,
    an installed package's or pgqueue's), or nothing if there is none (the module is missing)."""
    own = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<") and not _is_library(frame.filename)
    ]
    if not own:
        return ""
    where = f"at {_shown_path(own[-1].filename)}:{own[-1].lineno}"
    return f", {where}" if bare else f" ({where})"


def _is_library(filename: str) -> bool:
    path = Path(filename).resolve()
    paths = sysconfig.get_paths()
    roots = {paths["stdlib"], paths["purelib"], paths["platlib"], str(Path(__file__).parents[1])}
    return any(path.is_relative_to(Path(root).resolve()) for root in roots)


def _shown_path(filename: str) -> str:
    relative = os.path.relpath(filename)
    return filename if relative.startswith("..") else relative
