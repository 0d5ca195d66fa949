"""The public surface is visible and written down: docs/api.md lists exactly the `__all__` of the
public modules, every module of pgqueue is public by name or private by its underscore, and every
public name resolves on the module that exports it."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "docs" / "api.md"

# The modules whose every name docs/api.md lists (file read without importing it: Django is an
# optional extra and need not be installed).
LISTED = {
    "pgqueue": "pgqueue/__init__.py",
    "pgqueue.testing": "pgqueue/testing/__init__.py",
    "pgqueue.web": "pgqueue/web/__init__.py",
    "pgqueue.contrib.fastapi": "pgqueue/contrib/fastapi.py",
    "pgqueue.contrib.django": "pgqueue/contrib/django/__init__.py",
    "pgqueue.contrib.otel": "pgqueue/contrib/otel.py",
}


def declared_all(path: str) -> list[str]:
    tree = ast.parse((ROOT / path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names = ast.literal_eval(node.value)
            assert isinstance(names, list)
            return [str(name) for name in names]
    raise AssertionError(f"{path} has no __all__")


def documented() -> dict[str, list[tuple[str, str]]]:
    """docs/api.md: `## `module`` headings, then `- `name`: [page](page)` lines."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in API.read_text().splitlines():
        heading = re.fullmatch(r"## `([\w.]+)`", line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
            continue
        entry = re.fullmatch(r"- `(\w+)`: \[[^\]]+\]\(([\w.-]+\.md)(#[\w-]+)?\)", line)
        if entry:
            assert current is not None, f"{line!r} before any module heading"
            current.append((entry.group(1), entry.group(2)))
        else:
            assert not line.startswith("- "), f"docs/api.md: unreadable entry {line!r}"
    return sections


def test_api_md_lists_exactly_each_modules_all() -> None:
    sections = documented()
    assert sorted(sections) == sorted(LISTED)
    for module, path in LISTED.items():
        names = [name for name, _ in sections[module]]
        assert len(names) == len(set(names)), f"{module}: a name listed twice"
        assert sorted(names) == sorted(declared_all(path)), module


def test_every_api_md_link_is_a_page() -> None:
    for entries in documented().values():
        for name, page in entries:
            assert (API.parent / page).is_file(), f"{name}: no page {page}"


def test_every_module_is_public_or_private() -> None:
    spec = importlib.util.spec_from_file_location("privatize", ROOT / "tools" / "privatize.py")
    assert spec and spec.loader
    privatize = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(privatize)
    # A new module either joins PUBLIC (and docs/api.md) or starts with an underscore.
    assert privatize.internal_modules(ROOT) == []


@pytest.mark.parametrize(
    "module",
    [
        "pgqueue",
        "pgqueue.testing",
        "pgqueue.web",
        "pgqueue.contrib.fastapi",
        "pgqueue.contrib.otel",
    ],
)
def test_public_names_resolve_and_are_not_modules(module: str) -> None:
    extra = {
        "pgqueue.web": "starlette",
        "pgqueue.contrib.fastapi": "fastapi",
        "pgqueue.contrib.otel": "opentelemetry.trace",
    }.get(module)
    if extra:
        pytest.importorskip(extra)  # optional extras
    imported = importlib.import_module(module)
    for name in imported.__all__:
        value = getattr(imported, name)  # re-exported, not only named
        assert not isinstance(value, type(sys)), f"{module}.{name} is a module"


def test_no_private_module_is_reachable_as_a_public_name() -> None:
    import pgqueue

    for name in pgqueue.__all__:
        assert not name.startswith("_") or name == "__version__"


def test_privatize_has_nothing_left_to_do() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "privatize.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout
