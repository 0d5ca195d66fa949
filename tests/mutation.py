"""The mutation check: break the code on purpose, one mutant at a time, and see the tests fail.

    python -m tests.mutation                  # every mutant in tests/mutants.py
    python -m tests.mutation -k claim -k rescue   # only mutants whose name or area matches
    python -m tests.mutation --check          # only verify that every mutant still applies
    python -m tests.mutation --list           # print the list

For each mutant (tests/mutants.py) it replaces the original text in its file, runs the mutant's
test selection in a fresh `python -m pytest`, and puts the file back, byte for byte and with its
old modification time, whatever happens: an exception, Ctrl-C or SIGTERM (a `finally`), and
even SIGKILL (a journal in the temporary directory, replayed by the next run). A mutant whose
original text is not found exactly as often as it says (the code moved) stops the run before
anything is changed, so the list cannot rot silently; tests/unit/test_mutants.py checks the same
on every test run.

Killed: the selection failed with the mutant in place. Survived: it passed. Error: pytest
could not run it (a usage error, nothing collected), which counts as not killed. A baseline run of
every selection on the unmodified code comes first (skip it with --no-baseline): a selection
that fails anyway would "kill" every mutant and prove nothing.

It edits the working tree, so don't run other tests from the same checkout meanwhile.
Bytecode is not written during the runs (PYTHONDONTWRITEBYTECODE), so no stale .pyc of a
mutant can outlive it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tests.mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[1]
JOURNAL = Path(tempfile.gettempdir()) / (
    "pgqueue-mutation-" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:12] + ".json"
)


class MutantError(Exception):
    """A mutant that no longer applies: its file is missing or its original text moved."""


@dataclass(frozen=True, slots=True)
class Result:
    mutant: Mutant
    outcome: str  # killed | survived | error (the selection could not run)
    seconds: float
    detail: str = ""


# -- applying and restoring ----------------------------------------------------------------


def check(mutant: Mutant) -> str:
    """The file's text, after checking the mutant applies to it (raises MutantError)."""
    path = ROOT / mutant.file
    if not path.is_file():
        raise MutantError(f"{mutant.name}: {mutant.file} does not exist")
    text = path.read_text()
    found = text.count(mutant.original)
    if found != mutant.count:
        raise MutantError(
            f"{mutant.name}: its original text occurs {found} time(s) in {mutant.file}, "
            f"expected {mutant.count} (the code moved: update tests/mutants.py)\n"
            f"original: {mutant.original!r}"
        )
    if mutant.original == mutant.replacement:
        raise MutantError(f"{mutant.name}: the replacement equals the original")
    return text


def _write_journal(path: Path, data: bytes, mtime_ns: int) -> None:
    JOURNAL.write_text(json.dumps({"path": str(path), "data": data.hex(), "mtime_ns": mtime_ns}))


def recover() -> str | None:
    """Restore a file left mutated by a run that was killed outright; returns its path."""
    if not JOURNAL.exists():
        return None
    entry = json.loads(JOURNAL.read_text())
    path = Path(entry["path"])
    path.write_bytes(bytes.fromhex(entry["data"]))
    os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))
    JOURNAL.unlink()
    return str(path)


@contextlib.contextmanager
def applied(mutant: Mutant) -> Iterator[None]:
    """The mutant in place for the duration of the block; the original back afterwards."""
    text = check(mutant)
    path = ROOT / mutant.file
    original = path.read_bytes()
    mtime_ns = path.stat().st_mtime_ns
    _write_journal(path, original, mtime_ns)  # first: a SIGKILL after this is recoverable
    try:
        path.write_text(text.replace(mutant.original, mutant.replacement))
        yield
    finally:
        path.write_bytes(original)
        # The old mtime keeps the original's cached bytecode valid (none is written meanwhile).
        os.utime(path, ns=(mtime_ns, mtime_ns))
        JOURNAL.unlink(missing_ok=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- running -------------------------------------------------------------------------------


def run_selection(selection: Sequence[str], timeout: float) -> tuple[str, str]:
    """Run the tests: ("passed" | "failed" | "error", last line of pytest's output)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *selection]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "failed", f"timed out after {timeout:.0f}s"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else done.stderr.strip()[-200:]
    # Why it failed (pytest's short summary), so a kill for the wrong reason is visible.
    reasons = [line for line in lines if line.startswith(("FAILED tests/", "ERROR tests/"))]
    if reasons:
        summary += f"; {reasons[0][:160]}"
    if done.returncode == 2 and "Interrupted" in done.stdout + done.stderr:
        raise KeyboardInterrupt("pytest was interrupted")
    # pytest: 0 all passed, 1 some failed; anything else (usage error, nothing collected,
    # internal error) proves nothing either way.
    outcome = {0: "passed", 1: "failed"}.get(done.returncode, "error")
    return outcome, summary


def run_mutant(mutant: Mutant, timeout: float) -> Result:
    started = time.monotonic()
    with applied(mutant):
        outcome, summary = run_selection(mutant.kills, timeout)
    result = {"passed": "survived", "failed": "killed"}.get(outcome, "error")
    return Result(mutant, result, time.monotonic() - started, summary)


def selected(patterns: Sequence[str]) -> list[Mutant]:
    if not patterns:
        return list(MUTANTS)
    return [m for m in MUTANTS if any(p in m.name or p == m.area for p in patterns)]


def table(results: Sequence[Result]) -> str:
    width = max([len(r.mutant.name) for r in results] + [6])
    lines = [f"{'mutant':<{width}}  {'area':<10}  {'result':<8}  {'time':>6}  what it breaks"]
    lines.append("-" * len(lines[0]))
    for r in results:
        lines.append(
            f"{r.mutant.name:<{width}}  {r.mutant.area:<10}  {r.outcome:<8}  "
            f"{r.seconds:5.1f}s  {r.mutant.description}"
        )
    killed = sum(1 for r in results if r.outcome == "killed")
    share = 100.0 * killed / len(results) if results else 0.0
    lines.append("-" * len(lines[0]))
    survived = sum(1 for r in results if r.outcome == "survived")
    errors = len(results) - killed - survived
    lines.append(
        f"{len(results)} mutants: {killed} killed, {survived} survived"
        + (f", {errors} could not run" if errors else "")
        + f" ({share:.0f}% killed)"
    )
    audited = [r for r in results if r.mutant.audited]
    if audited:
        lines.append(
            f"audited (issue 15): {sum(1 for r in audited if r.outcome == 'killed')} of "
            f"{len(audited)} killed"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__)
    parser.add_argument("-k", action="append", default=[], help="name fragment or area")
    parser.add_argument("--check", action="store_true", help="only check that mutants apply")
    parser.add_argument("--list", action="store_true", help="print the mutants")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per selection")
    parser.add_argument("--min-killed", type=float, default=90.0, help="percent; else exit 1")
    args = parser.parse_args(argv)

    restored = recover()
    if restored:
        print(f"restored {restored} from an interrupted run", file=sys.stderr)
    mutants = selected(args.k)
    if not mutants:
        parser.error("no mutant matches")
    try:
        for mutant in mutants:
            check(mutant)
    except MutantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.list or args.check:
        for m in mutants:
            print(f"{m.name} [{m.area}] {m.file}: {m.description}")
            print(f"    kills: {' '.join(m.kills)}")
        if args.check:
            print(f"{len(mutants)} mutants apply", file=sys.stderr)
        return 0

    # Also where the shell started us with SIGINT ignored (a background job): Ctrl-C and
    # SIGTERM must end the run through the `finally` that restores the file.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if not args.no_baseline:
        selection = sorted({test for m in mutants for test in m.kills})
        print(f"baseline: {len(selection)} test selections on the unmodified code ...", flush=True)
        outcome, summary = run_selection(selection, args.timeout * 2)
        if outcome != "passed":
            print(f"error: the tests fail without any mutant: {summary}", file=sys.stderr)
            return 2
        print(f"baseline: {summary}", flush=True)
    results: list[Result] = []
    try:
        for n, mutant in enumerate(mutants, start=1):
            result = run_mutant(mutant, args.timeout)
            results.append(result)
            print(
                f"[{n}/{len(mutants)}] {mutant.name}: {result.outcome} "
                f"({result.seconds:.1f}s; {result.detail})",
                flush=True,
            )
    except KeyboardInterrupt:
        print("\ninterrupted: the mutated file is restored", file=sys.stderr)
        if results:
            print(table(results))
        return 130
    print()
    print(table(results))
    killed = sum(1 for r in results if r.outcome == "killed")
    audited_survivors = [r for r in results if r.mutant.audited and r.outcome != "killed"]
    if audited_survivors or 100.0 * killed / len(results) < args.min_killed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
