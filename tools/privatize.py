"""Make pgqueue's internal modules private: `pgqueue/worker.py` becomes `pgqueue/_worker.py`.

The public modules are the ones the README and docs import (PUBLIC below); every other top-level
module or package of pgqueue gets a leading underscore, httpx style, so that what a user may
import is visible in the file names. The script git-mv's each one and rewrites every reference:
imports and dotted names in Python files, import-linter layers and contracts and the entry point
in pyproject.toml, paths (`pgqueue/sql/job_claim.sql`, tests/mutants.py's targets), and the
layer table of docs/architecture.md.

It is idempotent (a second run finds nothing to do) so it can be re-run on a merged tree:

    python tools/privatize.py && ruff format . && lint-imports
    python tools/privatize.py --check   # exit 1 if anything is left to do (a test runs it)

What it leaves alone, on purpose:
- logger names (`getLogger("pgqueue.worker")`, `caplog.set_level(..., "pgqueue.worker")`): they
  are part of the operator surface (docs/worker.md's table of loggers) and keep their names;
- SQL names that look like modules (`pgqueue.enqueue(...)` is the SQL function): a dotted name
  followed by `(` is never rewritten, nor a bare `pgqueue.enqueue` in a comment (SQL_NAMES);
- landed migration revisions (migrations/versions/): never edited; migrations/env.py is;
- in Markdown outside docs/architecture.md, a bare `pgqueue.job` or `pgqueue.worker` (a logger
  or an SQL name there); attribute paths (`pgqueue.sql.query`), imports and file paths are
  rewritten everywhere.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# The public surface: modules a user imports (README, docs, examples). Everything else is
# private. `errors` stays public: the exception tree is documented and its classes' module shows
# in log lines (`pgqueue.errors.Retry: ...`).
PUBLIC = {
    "__init__",
    "__main__",
    "contrib",
    "embedded",
    "errors",
    "logs",
    "migrate",
    "settings",
    "testing",
    "web",
}

# Where references live. Landed migration revisions are never edited (common rules).
TEXT_ROOTS = ["pgqueue", "tests", "docs", "examples", "benchmarks", "tools"]
TEXT_FILES = ["pyproject.toml", "README.md", "migrations/env.py", "alembic.ini"]
SUFFIXES = {".py", ".md", ".toml", ".ini", ".cfg", ".txt", ".html", ".sql"}
SELF = Path("tools/privatize.py")

# Names of SQL functions in the pgqueue schema that are also module names: a bare mention in a
# comment or docstring is the function (a module is imported, quoted, or followed by .attr).
SQL_NAMES = {"enqueue"}

# A line naming a logger: its exact "pgqueue.x" strings are logger names, not modules.
LOGGER_LINE = re.compile(r"getLogger|logger=|set_level|at_level")


def internal_modules(root: Path) -> list[str]:
    """The top-level modules and packages of pgqueue that are not public and not yet private."""
    names = []
    for path in sorted((root / "pgqueue").iterdir()):
        name = path.stem if path.suffix == ".py" else path.name
        if path.is_dir() and not (path / "__init__.py").exists():
            continue  # static files, caches
        if path.is_file() and path.suffix != ".py":
            continue  # py.typed
        if name.startswith("_") or name in PUBLIC:
            continue
        names.append(name)
    return names


def known_private(root: Path) -> list[str]:
    """Every private name, moved now or by an earlier run (so a re-run still fixes references)."""
    names = set()
    for path in (root / "pgqueue").iterdir():
        name = path.stem if path.suffix == ".py" else path.name
        private = name.startswith("_") and not name.startswith("__") and name != "_migrations"
        if private and (path.suffix == ".py" or (path / "__init__.py").exists()):
            names.add(name[1:])
    return sorted(names)


def rewrite(text: str, names: list[str], *, markdown: bool, architecture: bool) -> str:
    alternatives = "|".join(sorted(names, key=len, reverse=True))
    dotted = re.compile(rf"\bpgqueue\.({alternatives})\b(?!\()")
    path = re.compile(rf"\bpgqueue/({alternatives})(?=[/.`\s\"')]|$)", re.MULTILINE)
    from_import = re.compile(r"\bfrom pgqueue import (\([^)]*\)|[^\n]+)")

    def dotted_sub(line: str) -> str:
        def one(match: re.Match[str]) -> str:
            end = match.end()
            attribute = line[end : end + 1] == "." and line[end + 1 : end + 2].isidentifier()
            quoted = match.start() > 0 and line[match.start() - 1] in "\"'"
            exact = quoted and line[end : end + 1] == line[match.start() - 1]
            if exact and LOGGER_LINE.search(line):
                return match.group(0)  # a logger name
            if markdown and not architecture and not attribute:
                return match.group(0)  # a logger or SQL name in prose
            statement = re.match(r"\s*(from|import) ", line)
            if match.group(1) in SQL_NAMES and not (attribute or exact or statement):
                return match.group(0)  # the SQL function pgqueue.enqueue, in a comment
            return f"pgqueue._{match.group(1)}"

        return dotted.sub(one, line)

    def import_sub(match: re.Match[str]) -> str:
        body = match.group(1)
        items = body.strip("()")

        def item(part: re.Match[str]) -> str:
            name, alias = part.group(1), part.group(2)
            if name not in names:
                return part.group(0)
            return f"_{name} as {alias or name}"

        items = re.sub(r"\b([A-Za-z_]\w*)(?:\s+as\s+(\w+))?", item, items)
        return f"from pgqueue import {'(' + items + ')' if body.startswith('(') else items}"

    lines = [dotted_sub(line) for line in text.split("\n")]
    text = "\n".join(lines)
    text = path.sub(lambda m: f"pgqueue/_{m.group(1)}", text)
    if not markdown:
        text = from_import.sub(import_sub, text)
        # Paths built in Python: "enqueue.py" as a file name, PACKAGE / "sql" as a join.
        text = re.sub(rf"([\"'])({alternatives})\.py\1", r"\1_\2.py\1", text)
        text = re.sub(rf"/ ([\"'])({alternatives})\1", r"/ \1_\2\1", text)
    if architecture:
        # The layer table names modules relative to pgqueue (| 6 | `worker` | ...), and the
        # prose names files relative to it (`services/flusher.py`).
        module = re.compile(rf"`({alternatives})`")
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if re.match(r"\| \d+ \| ", line):
                cells = line.split(" | ")
                cells[1] = module.sub(lambda m: f"`_{m.group(1)}`", cells[1])
                lines[i] = " | ".join(cells)
        text = "\n".join(lines)
        relative = re.compile(rf"(?<![\w/._])({alternatives})(/|\.py\b)")
        text = relative.sub(lambda m: f"_{m.group(1)}{m.group(2)}", text)
    return text


def files(root: Path) -> list[Path]:
    found = [root / name for name in TEXT_FILES if (root / name).exists()]
    for top in TEXT_ROOTS:
        for path in sorted((root / top).rglob("*")):
            if ".venv" in path.parts or "__pycache__" in path.parts:
                continue
            if path.is_file() and path.suffix in SUFFIXES and path.relative_to(root) != SELF:
                found.append(path)
    return found


def main(argv: list[str]) -> int:
    check = "--check" in argv  # report what would change, change nothing, exit 1 if anything
    root = Path(__file__).resolve().parent.parent
    moves = internal_modules(root)
    if check:
        for name in moves:
            print(f"would move pgqueue/{name}")
    for name in [] if check else moves:
        source = (
            root
            / "pgqueue"
            / (f"{name}.py" if (root / "pgqueue" / f"{name}.py").exists() else name)
        )
        target = source.with_name("_" + source.name)
        subprocess.run(["git", "mv", str(source), str(target)], cwd=root, check=True)
        print(f"moved   {source.relative_to(root)} -> {target.relative_to(root)}")
    names = known_private(root)
    changed = 0
    for path in files(root):
        old = path.read_text(encoding="utf-8")
        relative = path.relative_to(root).as_posix()
        new = rewrite(
            old,
            names,
            markdown=path.suffix == ".md",
            architecture=relative == "docs/architecture.md",
        )
        if new != old:
            changed += 1
            if check:
                print(f"would rewrite {relative}")
            else:
                path.write_text(new, encoding="utf-8")
                print(f"rewrote {relative}")
    if not moves and not changed:
        print("nothing to do: every internal module is private and every reference names it")
    return 1 if check and (moves or changed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
