"""The outputs rule every command that writes an `--out` follows (`generate`/`demo`, `video`,
`dataset export`, `dataset render-obs`; `train bc` has its own for a checkpoint folder): the
output is checked before any work, so a long job is not lost to a path it cannot write; an
existing output is replaced only with `--overwrite`, and only when it is what the command writes
(a DexBench dataset, a video, an export: the `ours` test), never a file or folder of other
things, the current folder or one that holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_output(
    out: str | os.PathLike, *, overwrite: bool, ours: Callable[[Path], bool], what: str, flag: str = "--out"
) -> Path:
    """Refuse `out` before any work: an existing one without `overwrite`; with it, one that is not
    `what` (`ours(out)` is False: not written by this command), a link, or the current folder
    (or one holding it); and a folder that cannot be written. Raises FileExistsError,
    ValueError or OSError, each naming the fix."""
    out = Path(out)
    if os.path.lexists(out):
        here = Path.cwd().resolve()
        if out.resolve() == here or out.resolve() in here.parents:
            raise ValueError(f"{flag} {out} is the current folder (or holds it); give the output a path of its own")
    if os.path.lexists(out) and not is_empty_folder(out):  # an empty folder holds nothing to lose
        if not overwrite:
            raise FileExistsError(
                f"{flag} {out} already exists; pass --overwrite to replace it, or give another {flag}"
            )
        if out.is_symlink() or not ours(out):
            kind = "a symbolic link" if out.is_symlink() else "a folder" if out.is_dir() else "a file"
            raise ValueError(
                f"{flag} {out} is {kind} that is not {what}, so --overwrite does not replace it (it "
                f"replaces only {what} that dexbench wrote); give another {flag}"
            )
    check_folder_writable(out.parent, flag, target=out)
    return out


def is_empty_folder(path: Path) -> bool:
    try:
        return path.is_dir() and not path.is_symlink() and not any(path.iterdir())
    except OSError:
        return False


def check_folder_writable(
    folder: str | os.PathLike, flag: str = "--out", target: str | os.PathLike | None = None
) -> None:
    """A file can be made in `folder` (created if missing; `target`, the output in it, names it in
    the error); folders made for the probe are removed again, so a refused or interrupted
    command leaves nothing behind."""
    folder = Path(folder)
    made = [p for p in (folder, *folder.parents) if not os.path.lexists(p)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".dexbench-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OSError(
            f"cannot write {target if target is not None else folder}: {err.strerror or err}; choose a writable {flag}"
        ) from None
    finally:
        for parent in made:  # deepest first
            with contextlib.suppress(OSError):
                parent.rmdir()


def _starts_with(path: Path, signature: bytes, offset: int = 0) -> bool:
    try:
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(len(signature)) == signature
    except OSError:
        return False


def is_dexbench_dataset(path: Path) -> bool:
    """An HDF5 file with DexBench's /data attributes (`DatasetWriter` writes them)."""
    if not _starts_with(path, HDF5_SIGNATURE):
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            data = f.get("data")
            return isinstance(data, h5py.Group) and "dexbench_version" in data.attrs and "env_args" in data.attrs
    except (OSError, ValueError):
        return False


def is_video(path: Path) -> bool:
    """A GIF or an MP4 (ISO media: "ftyp" at byte 4): what `write_video` writes."""
    return _starts_with(path, b"GIF8") or _starts_with(path, b"ftyp", offset=4)


def is_generation_report(path: Path) -> bool:
    """A generation report `generate` wrote (`<out>.report.json`)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(report, dict) and {"generator", "env_id", "attempts", "successes"} <= set(report)
