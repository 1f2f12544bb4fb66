"""Writing JSON files atomically: a temporary file beside the target, then a rename, so a
reader (or a crash) never sees half a file; checking a file can be written before a long job
makes it; and a file's digest (what a resumable pipeline's stages were made from)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int = 1) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=indent) + "\n")
    os.replace(tmp, path)
    return path


def check_writable(path: str | os.PathLike) -> Path:
    """Make sure a file can be written at `path` (its folder is created) before a long job
    whose result would otherwise be lost at the end; raises OSError naming the problem."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name, e.g. {path / 'result.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.with_name(path.name + ".tmp")
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise OSError(f"cannot write {path}: {err.strerror or err}; choose a writable --out") from err
    return path


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
