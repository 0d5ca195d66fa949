"""No silent skip in CI (tests/ci_strict.py): an inner pytest run, in a real process, of a file
whose tests skip (at run time, by marker, and a whole module by importorskip)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SKIPPING = """
import pytest

def test_needs_root():
    pytest.skip("needs root")

@pytest.mark.skipif(True, reason="no chromium")
def test_needs_a_browser():
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert False

def test_runs():
    pass
"""
MODULE_SKIP = """
import pytest
pytest.importorskip("no_such_module_anywhere")

def test_never_collected():
    pass
"""


def inner_pytest(tmp_path: Path, ci: str | None, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.ci_strict",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::DeprecationWarning",
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def summary(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_in_ci_a_skip_fails_with_what_it_lacked(tmp_path: Path, ci: str) -> None:
    done = inner_pytest(tmp_path, ci, SKIPPING)
    assert done.returncode == 1, done.stdout
    # The run-time skip fails the test; the marker skip (at setup) fails its setup: an error.
    assert "1 failed, 1 passed, 1 xfailed, 1 error" in summary(done), done.stdout
    for reason in ("needs root", "no chromium"):
        assert f"skipped in CI (CI=true), where every test must run: {reason}." in done.stdout


def test_in_ci_a_module_that_skips_fails_the_collection(tmp_path: Path) -> None:
    done = inner_pytest(tmp_path, "true", MODULE_SKIP)
    assert done.returncode == 2, done.stdout  # interrupted: an error during collection
    assert "1 error" in summary(done), done.stdout
    assert (
        "skipped in CI (CI=true), where every test must run: "
        "could not import 'no_such_module_anywhere'"
    ) in done.stdout


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_outside_ci_a_skip_stays_a_skip(tmp_path: Path, ci: str | None) -> None:
    done = inner_pytest(tmp_path, ci, SKIPPING)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 2 skipped, 1 xfailed" in summary(done), done.stdout
    assert "skipped in CI" not in done.stdout
    done = inner_pytest(tmp_path, ci, MODULE_SKIP)
    assert done.returncode == 5, done.stdout  # nothing collected, nothing failed
    assert "1 skipped" in summary(done), done.stdout
