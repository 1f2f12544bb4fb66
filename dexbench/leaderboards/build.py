"""Building the leaderboard pages: check every submission in `leaderboards/policies/` and
`leaderboards/generators/`, turn them into tables (`tables`), and write README.md and index.html
(rendered by `render`) atomically.

One bad file aborts the whole build before anything is written, so the published pages never mix
checked and unchecked results.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dexbench.leaderboards.reading import SubmissionError
from dexbench.leaderboards.render import render_html, render_markdown
from dexbench.leaderboards.tables import Submission, make_tables
from dexbench.leaderboards.validate import BOARD_FOLDERS, name_key, read_and_check


def load_submissions(directory: Path) -> list[Submission]:
    """Every `policies/*.json` and `generators/*.json`, checked; the first bad one raises."""
    subs: list[Submission] = []
    names: dict[tuple[str, str], Path] = {}
    for kind, folder in BOARD_FOLDERS.items():
        if (directory / folder).is_symlink():  # its files would come from wherever it points
            raise SubmissionError(f"{directory / folder}: a symbolic link, not a folder. Keep the submissions "
                                  f"in a real {folder}/ folder.")
        for path in sorted((directory / folder).glob("*.json")):
            data, _ = read_and_check(path)  # of the folder's kind, or it raises
            key = (kind, name_key(data["name"]))
            if key in names:
                raise SubmissionError(f"{path}: name: {data['name']!r} is already the name of {names[key]}. "
                                      f"Give each {kind} submission its own name.")
            names[key] = path
            subs.append(Submission(path.relative_to(directory).as_posix(), kind, data))
    return subs


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, so readers never see half a page."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_leaderboards(directory: str | os.PathLike = "leaderboards") -> list[Path]:
    """Check the submissions under `directory` and (re)write its README.md and index.html.

    Returns the written paths. Raises SubmissionError for the first bad submission, before
    anything is written."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such folder. Give the leaderboards folder (it holds "
                                "policies/ and generators/), e.g. `--dir leaderboards`.")
    subs = load_submissions(directory)
    images_dir = directory.resolve().parent / "docs" / "images"
    tables = make_tables(subs, images={p.stem for p in images_dir.glob("*.png") if p.is_file()})
    # Render both before writing either: a rendering bug must not leave one page updated.
    pages = {directory / "README.md": render_markdown(tables), directory / "index.html": render_html(tables)}
    for path, text in pages.items():
        write_atomic(path, text)
    return list(pages)
