"""docs/architecture.md's table of layers is the import contract of pyproject.toml, line for
line: a newcomer reads the same order that `lint-imports` enforces."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def contract_layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c for c in config["contracts"] if c["type"] == "layers"]
    return [
        {name.strip().removeprefix("pgqueue.") for name in re.split(r"[|:]", line)}
        for line in layers["layers"]
    ]


def documented_layers() -> list[set[str]]:
    text = (ROOT / "docs/architecture.md").read_text()
    section = text.split("## Layers and imports", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    cells = [re.split(r"(?<!\\)\|", row) for row in rows]  # "\|" inside a cell is text
    return [set(re.findall(r"`([\w.]+)`", row[2])) for row in cells]


def test_the_documented_layers_are_the_import_contract() -> None:
    assert documented_layers() == contract_layers()


def test_type_checking_imports_count() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert config.get("exclude_type_checking_imports", False) is False
