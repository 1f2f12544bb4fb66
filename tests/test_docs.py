"""Every file the README, the docs and the code's docstrings point to exists in the repository,
and nothing points outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")  # markdown links
# repository paths in backticks or prose: a folder we ship, then a file with a suffix
PATH = re.compile(
    r"(?<![\w/.])((?:dexbench|docs|tests|benchmarks|leaderboards|\.ci)/[\w./<>*-]*\.(?:py|md|json|sh|html|png|xml))"
)
PLACEHOLDERS = re.compile(r"[A-Z]{2,}|my-|[{}<>*?\[]")  # NAME.json, my-policy.json: outputs, not citations
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "leaderboards" / "README.md",
    ROOT / "benchmarks" / "README.md",
]


def _cited(text: str, base: Path, links: bool = True) -> list[Path]:
    out = []
    for target in LINK.findall(text) if links else []:
        if not re.match(r"^[a-z]+://", target) and not PLACEHOLDERS.search(target):
            out.append((base / target).resolve())
    for target in PATH.findall(text):
        if not PLACEHOLDERS.search(target):
            out.append((ROOT / target).resolve())
    return out


def test_links_and_paths_in_the_docs_exist_inside_the_repository():
    missing = []
    for doc in DOCS:
        for path in _cited(doc.read_text(), doc.parent):
            if not path.exists() or ROOT not in path.parents and path != ROOT:
                missing.append(f"{doc.relative_to(ROOT)} -> {path}")
    assert not missing, "\n".join(missing)


def test_paths_in_docstrings_and_comments_exist():
    missing = []
    for source in [
        *(ROOT / "dexbench").rglob("*.py"),
        *(ROOT / "benchmarks").glob("*.py"),
        *(ROOT / "docs").glob("*.py"),
    ]:
        for path in _cited(source.read_text(), source.parent, links=False):
            if not path.exists():
                missing.append(f"{source.relative_to(ROOT)} -> {path.relative_to(ROOT)}")
    assert not missing, "\n".join(missing)


def test_nothing_cites_the_design_notes_kept_outside_the_repository():
    for path in [*DOCS, *(ROOT / "dexbench").rglob("*.py"), *(ROOT / "tests").glob("*.py")]:
        if path.name == "test_docs.py":
            continue
        assert not re.search(r"\b(DESIGN|REFERENCE)\.md\b", path.read_text()), path
