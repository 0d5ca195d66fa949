"""The public API keeps a task's signature (ParamSpec): mypy --strict flags a wrong argument to
`enqueue`, `job` and `enqueue_sync`, and a correct call type-checks clean.

One mypy run checks both snippet files; errors are attributed by file name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pgqueue

HEADER = """\
from __future__ import annotations

from pgqueue import App, JobRequest

app = App()


@app.task
async def add(a: int, b: int) -> int:
    return a + b


@app.task(queue="emails", max_attempts=3)
def greet(name: str, *, loud: bool = False) -> str:
    return name.upper() if loud else name
"""

GOOD = HEADER + textwrap.dedent(
    """
    async def main() -> None:
        job_id: int = await add.enqueue(1, 2)
        other: int = await add.using(queue="math", priority=5).enqueue(a=1, b=2)
        third: int = await greet.enqueue("ada", loud=True)
        request: JobRequest = add.job(3, 4)
        ids: list[int] = await app.enqueue_many([request, greet.job("bob")])
        print(job_id, other, third, ids)


    def sync_path(session: object) -> int:
        return greet.using(connection=session).enqueue_sync("eve")
    """
)

BAD = HEADER + textwrap.dedent(
    """
    async def main() -> None:
        await add.enqueue("x", 2)  # line A: str for int
        add.job(1, "y")  # line B: str for int
        await add.using(queue="q").enqueue(1)  # line C: missing b
        await greet.enqueue("ada", loud="yes")  # line D: str for bool
        await greet.enqueue("ada", shout=True)  # line E: unknown keyword
        greet.enqueue_sync(42)  # line F: int for str
        wrong: str = await add.enqueue(1, 2)  # line G: int is not str
        print(wrong)
    """
)


def _line(source: str, marker: str) -> int:
    for number, text in enumerate(source.splitlines(), start=1):
        if marker in text:
            return number
    raise AssertionError(marker)


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("typing")
    (folder / "good.py").write_text(GOOD)
    (folder / "bad.py").write_text(BAD)
    env = dict(os.environ)
    # Check the pgqueue under test (a worktree's copy when PYTHONPATH points at one).
    env["MYPYPATH"] = str(Path(pgqueue.__file__).resolve().parents[1])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--no-color-output",
            "--cache-dir",
            str(folder / ".mypy_cache"),
            "good.py",
            "bad.py",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def _errors(output: str, filename: str) -> list[tuple[int, str]]:
    found = []
    for line in output.splitlines():
        match = re.match(rf"{filename}:(\d+): error: .*\[([a-z-]+)\]$", line)
        if match:
            found.append((int(match.group(1)), match.group(2)))
    return found


def test_correct_calls_type_check_clean(mypy_output: str) -> None:
    assert [line for line in mypy_output.splitlines() if line.startswith("good.py")] == []


@pytest.mark.parametrize(
    ("marker", "code"),
    [
        ("line A", "arg-type"),
        ("line B", "arg-type"),
        ("line C", "call-arg"),
        ("line D", "arg-type"),
        ("line E", "call-arg"),
        ("line F", "arg-type"),
        ("line G", "assignment"),
    ],
)
def test_wrong_calls_are_reported(mypy_output: str, marker: str, code: str) -> None:
    line = _line(BAD, marker)
    assert (line, code) in _errors(mypy_output, "bad.py"), mypy_output


def test_no_other_errors_in_the_bad_snippet(mypy_output: str) -> None:
    expected_lines = {_line(BAD, f"line {c}") for c in "ABCDEFG"}
    assert {line for line, _ in _errors(mypy_output, "bad.py")} == expected_lines, mypy_output
