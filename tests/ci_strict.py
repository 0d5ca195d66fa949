"""No silent skip in CI: with CI=true (the CI runner sets it), a test that would skip for lack of
something (root, binaries, a browser) fails instead, saying what it lacked. Locally a skip stays
a skip; to leave out the slow tests there, deselect them: python -m pytest -n 2 -m "not slow".

A pytest plugin (tests/conftest.py loads it; `-p tests.ci_strict` loads it anywhere).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

CI_VALUES = ("1", "true", "yes")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def _reason(longrepr: Any) -> str:
    # A skip's longrepr is (file, line, "Skipped: reason").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_instead(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"skipped in CI (CI=true), where every test must run: {_reason(report.longrepr)}. "
        "Install what it needs in .ci/run, or run it where it can run."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_instead(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if in_ci() and report.skipped:  # a module-level pytest.skip / importorskip
        _fail_instead(report)
