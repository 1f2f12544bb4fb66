"""Building the leaderboard pages: check every submission in `leaderboards/policies/` and
`leaderboards/generators/`, turn them into tables (`tables`), and write README.md and index.html
(rendered by `render`) atomically, with the mode of the pages they replace.

A result on both boards (a policy trained on a generator's demos) must hold the same evaluation on
both (`agreement`). One bad file aborts the whole build before anything is written, so the published pages never mix
checked and unchecked results; both pages are written to temporary files before either replaces
its page, so a folder that cannot be written leaves both as they were.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from dexbench.leaderboards.agreement import check_one_number
from dexbench.leaderboards.names import name_key
from dexbench.leaderboards.reading import SubmissionError, shown
from dexbench.leaderboards.render import render_html, render_markdown
from dexbench.leaderboards.tables import Submission, make_tables
from dexbench.leaderboards.validate import BOARD_FOLDERS, read_and_check


class BoardFolderError(OSError):
    """The leaderboards folder cannot be built: missing, not a folder, or its pages cannot be
    written. Its message is one line: the path, the problem, the fix."""


def load_submissions(directory: Path) -> list[Submission]:
    """Every `policies/*.json` and `generators/*.json`, checked; the first bad one raises."""
    subs: list[Submission] = []
    names: dict[tuple[str, str], Path] = {}
    for kind, folder in BOARD_FOLDERS.items():
        if (directory / folder).is_symlink():  # its files would come from wherever it points
            raise SubmissionError(
                f"{directory / folder}: a symbolic link, not a folder. Keep the submissions in a real {folder}/ folder."
            )
        if (directory / folder).exists() and not (directory / folder).is_dir():  # glob would find nothing in it
            raise BoardFolderError(
                f"{shown(directory / folder)}: a file, not a folder. Keep the {kind} submissions in a {folder}/ folder."
            )
        for path in sorted((directory / folder).glob("*.json")):
            data, _ = read_and_check(path)  # of the folder's kind, or it raises
            key = (kind, name_key(data["name"]))
            if key in names:
                raise SubmissionError(
                    f"{path}: name: {data['name']!r} is already the name of {names[key]}, "
                    "or looks like it (letters of another script drawn alike, 0/O, 1/l). "
                    f"Give each {kind} submission its own name."
                )
            names[key] = path
            subs.append(Submission(path.relative_to(directory).as_posix(), kind, data))
    return subs


VERIFIED_FOLDER = "verified"  # verified/<policy submission stem>.json: `leaderboard verify --out`
GENERATOR_RECORDS = "generators"  # verified/generators/<generator submission stem>.json
STATUSES = ("verified", "differs", "unverifiable")


def load_verdicts(directory: Path, subs: list[Submission]) -> dict[str, dict[int, dict]]:
    """Per submission file, per row (its index), the verdict its record in verified/ holds (a generator's in
    verified/generators/). A record
    counts only for the file as it is now (its SHA-256): one of an earlier version is ignored. A
    record is read as untrusted JSON; one that is not a verification record raises."""
    import hashlib

    from dexbench.leaderboards.reading import read_json_file

    verdicts: dict[str, dict[int, dict]] = {}
    for sub in subs:
        folder = directory / VERIFIED_FOLDER / (GENERATOR_RECORDS if sub.kind == "generator" else "")
        record_path = folder / (Path(sub.file).stem + ".json")
        if not os.path.lexists(record_path):
            continue
        record = read_json_file(record_path, "verification record")
        rows = record.get("rows") if isinstance(record, dict) else None
        if (
            not isinstance(record, dict)
            or record.get("format") != "dexbench-verification"
            or not isinstance(rows, list)
            or not all(
                isinstance(r, dict)
                and r.get("status") in STATUSES
                and isinstance(r.get("env_id"), str)
                and isinstance(r.get("attempts" if sub.kind == "generator" else "seeds"), list)
                and isinstance(r.get("reason", ""), str)
                for r in rows
            )
        ):
            raise SubmissionError(
                f"{shown(record_path)}: not a verification record. Write it with `dexbench leaderboard verify "
                f"{sub.file} --out {record_path.relative_to(directory).as_posix()}`, or remove it."
            )
        if record.get("submission_sha256") != hashlib.sha256((directory / sub.file).read_bytes()).hexdigest():
            continue  # made for another version of the file: that row is not verified as it is now
        # By row: the record's rows are the file's, in order (a file may hold two rows of one env id,
        # on two test sets).
        if [r["env_id"] for r in rows] == [r["env_id"] for r in sub.data["results"]]:
            verdicts[sub.file] = dict(enumerate(rows))
    return verdicts


def check_folder(directory: Path) -> None:
    """The leaderboards folder exists and is a folder."""
    fix = "Give the leaderboards folder (it holds policies/ and generators/), e.g. `--dir leaderboards`."
    if not os.path.lexists(directory):
        raise BoardFolderError(f"{shown(directory)}: no such folder. {fix}")
    if not directory.is_dir():
        raise BoardFolderError(f"{shown(directory)}: a file, not a folder. {fix}")


def new_file_mode() -> int:
    """The mode `open()` gives a new file: 0o666 less the umask (read only by setting it back)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def page_mode(path: Path) -> int:
    """The mode of the page being replaced, or of a new file. mkstemp makes 0o600 files, which a
    web server or another user could not read."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return new_file_mode()


def stage(path: Path, text: str) -> Path:
    """`text` in a temporary file beside `path`, with the mode `path` has (or would get); it
    replaces `path` in `write_pages`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, page_mode(path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_pages(pages: dict[Path, str]) -> None:
    """Write every page through a temporary file in its folder, so readers never see half a page;
    all are staged before any replaces its page."""
    for path in pages:
        if path.is_dir():  # os.replace cannot put a file there
            raise BoardFolderError(
                f"{shown(path)}: a folder where the page goes. Remove or rename it, then build again."
            )
    staged: dict[Path, Path] = {}
    current = next(iter(pages))
    try:
        for current, text in pages.items():
            staged[current] = stage(current, text)
        for current, tmp in staged.items():
            os.replace(tmp, current)
    except OSError as err:
        raise BoardFolderError(
            f"{shown(current)}: cannot write it ({err.strerror or err}). Make "
            f"{shown(current.parent)} a writable folder, or give another --dir."
        ) from None
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)  # gone once it replaced its page


# The task pictures of the checkout this package runs from (docs/images/<Task>.png).
SOURCE_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
COPIED_IMAGES = "images"  # a board not beside docs/ gets its pictures copied into <dir>/images/


def task_images(directory: Path) -> tuple[dict[str, Path], str]:
    """The task pictures for the board in `directory` (task -> file) and the folder the pages
    link them from: `../docs/images` when the board sits beside docs/ (the repository's own
    board), else the checkout's pictures, copied into `<dir>/images/` (`copy_images`)."""
    for where, link in (
        (directory.resolve().parent / "docs" / "images", "../docs/images"),
        (SOURCE_IMAGES, COPIED_IMAGES),
    ):
        found = {p.stem: p for p in sorted(where.glob("*.png")) if p.is_file()}
        if found:
            return found, link
    return {}, "../docs/images"


def copy_images(directory: Path, images: dict[str, Path]) -> None:
    """`images` into `<directory>/images/`, each through a temporary file (a picture already
    there with the same bytes is left alone)."""
    folder = directory / COPIED_IMAGES
    current = folder
    try:
        folder.mkdir(exist_ok=True)
        for source in images.values():
            current = folder / source.name
            if current.is_file() and current.read_bytes() == source.read_bytes():
                continue
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{source.name}.", suffix=".tmp")
            os.close(fd)
            try:
                shutil.copyfile(source, tmp)
                os.chmod(tmp, new_file_mode())
                os.replace(tmp, current)
            finally:
                Path(tmp).unlink(missing_ok=True)
    except OSError as err:
        raise BoardFolderError(
            f"{shown(current)}: cannot write the task picture ({err.strerror or err}). Make "
            f"{shown(folder)} a writable folder, or give another --dir."
        ) from None


def build_leaderboards(directory: str | os.PathLike = "leaderboards") -> list[Path]:
    """Check the submissions under `directory` and (re)write its README.md and index.html.

    Returns the written paths. Raises SubmissionError for the first bad submission and
    BoardFolderError for a folder that is missing or cannot be written, before anything is written."""
    directory = Path(directory)
    check_folder(directory)
    subs = load_submissions(directory)
    check_one_number(subs, directory)  # a result shown on both boards holds one evaluation
    images, image_dir = task_images(directory)
    tables = make_tables(subs, images=set(images), verdicts=load_verdicts(directory, subs))
    tables.image_dir = image_dir
    # Render both before writing either: a rendering bug must not leave one page updated.
    pages = {directory / "README.md": render_markdown(tables), directory / "index.html": render_html(tables)}
    write_pages(pages)
    if image_dir == COPIED_IMAGES:
        copy_images(directory, {task: images[task] for task in sorted(tables.images)})
    return list(pages)
