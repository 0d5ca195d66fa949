"""The mutation list (tests/mutants.py) cannot rot silently: every mutant still applies to the
code as it is, names tests that exist, and the set covers what docs/test-suite.md says it covers.
(The mutation run itself is `python -m tests.mutation`; it is not part of the suite.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.mutants import MUTANTS, Mutant
from tests.mutation import ROOT, MutantError, check

AREAS = {"claim", "complete", "rescue", "promote", "enqueue", "retry", "cancel", "unique"}


def test_the_list_is_big_enough_and_covers_the_hot_path() -> None:
    assert len(MUTANTS) >= 25
    assert {m.area for m in MUTANTS} >= AREAS
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names)), "mutant names must be unique"
    assert sum(m.audited for m in MUTANTS) == 5  # the five the audit of issue 15 found


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_mutant_applies_to_the_current_code(mutant: Mutant) -> None:
    check(mutant)  # raises MutantError naming the mutant when its original text moved


def test_a_mutant_whose_text_moved_fails_loudly() -> None:
    moved = Mutant("moved", "claim", "pgqueue/_sql/job_claim.sql", "no such text", "x", "", ())
    with pytest.raises(MutantError, match=r"moved: its original text occurs 0 time\(s\)"):
        check(moved)
    gone = Mutant("gone", "claim", "pgqueue/_sql/no_such_file.sql", "a", "b", "", ())
    with pytest.raises(MutantError, match="does not exist"):
        check(gone)


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_mutant_names_tests_that_exist(mutant: Mutant) -> None:
    assert mutant.kills, f"{mutant.name} names no test that should kill it"
    for node_id in mutant.kills:
        file, _, name = node_id.partition("::")
        path = ROOT / file
        assert path.is_file(), f"{mutant.name}: {file} does not exist"
        assert name.split("[")[0] in _test_names(path), f"{mutant.name}: no {node_id}"
