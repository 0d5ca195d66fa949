"""docs/fastapi.md shows only code that runs: every Python block in it is an excerpt of
examples/fastapi_app.py or of the tests that run it (tests/integration/test_fastapi.py)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(markdown: Path) -> list[str]:
    # Fragments too (```python fragment, tests/integration/test_docs_examples.py): they are
    # excerpts all the same.
    text = markdown.read_text(encoding="utf-8")
    return re.findall(r"```python(?: fragment)?\n(.*?)```", text, re.S)


def lines_of(text: str) -> list[str]:
    """The non-blank lines, stripped: an excerpt may be dedented and skip blank lines."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def is_excerpt(block: str, source: str) -> bool:
    wanted, have = lines_of(block), lines_of(source)
    return any(have[i : i + len(wanted)] == wanted for i in range(len(have) - len(wanted) + 1))


def unrun_blocks(markdown: Path, sources: list[Path]) -> list[str]:
    texts = [path.read_text(encoding="utf-8") for path in sources]
    return [b for b in python_blocks(markdown) if not any(is_excerpt(b, t) for t in texts)]


def test_every_fastapi_snippet_is_run_code() -> None:
    doc = ROOT / "docs" / "fastapi.md"
    assert len(python_blocks(doc)) >= 6
    sources = [ROOT / "examples" / "fastapi_app.py", ROOT / "tests/integration/test_fastapi.py"]
    assert unrun_blocks(doc, sources) == []


def test_an_edited_snippet_is_caught(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("```python\napi = FastAPI(lifespan=lifespan(app))\n```\n", encoding="utf-8")
    assert unrun_blocks(doc, [ROOT / "examples" / "fastapi_app.py"]) == [
        "api = FastAPI(lifespan=lifespan(app))\n"
    ]
