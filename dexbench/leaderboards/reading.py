"""Reading untrusted JSON files (submissions from pull requests, and the eval results and compare
summaries the submit tools wrap): regular files only, at most `MAX_BYTES`, strict JSON.

A path is checked with `os.lstat` and opened with O_NOFOLLOW | O_NONBLOCK before anything is read,
so a symlink (to /dev/zero, or to a secret outside the folder), a FIFO or a device is refused
without blocking and without its content reaching an error message. The JSON is parsed with hooks
that refuse what Python's `json` would otherwise accept: NaN/Infinity, duplicate keys (readers
disagree on which value counts) and integers too long to be a count.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Collection
from pathlib import Path
from typing import Any

MAX_BYTES = 5 * 1024 * 1024
MAX_INT = 10**9  # bounds every integer of a submission: counts, seeds, steps (checked in `validate`)
# Longer digit strings are refused before int() converts them (its cost grows with the length);
# `validate` then checks MAX_INT, with the field's path in the message.
MAX_INT_DIGITS = 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_NOT_REGULAR = {
    stat.S_ISLNK: "a symbolic link",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISDIR: "a folder",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


class SubmissionError(ValueError):
    """A submission (or a file wrapped into one) that is unreadable or breaks the schema or its
    consistency rules. Its message is one line: the file, the problem, the fix."""


class _RefusedValue(ValueError):
    """Raised by the parse hooks: JSON that parses but cannot be a submission (message and fix)."""


def read_json_file(path: str | os.PathLike, what: str = "submission", quotable_keys: Collection[str] = ()) -> Any:
    """The JSON value in the regular file `path`; SubmissionError for anything else. `what` names
    the expected content in messages; a duplicate key is named only if it is in `quotable_keys`
    (field names of the schemas), as the file may not be a submission at all."""
    path = Path(path)
    label = shown(path)
    raw = _read_regular_file(path, label, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(
            f"{label}: not UTF-8 text ({err.reason} at byte {err.start}). Save the file as UTF-8 JSON."
        ) from None
    try:
        return json.loads(
            text,
            parse_constant=_no_constant,
            parse_int=_short_int,
            object_pairs_hook=lambda pairs: _unique_keys(pairs, quotable_keys),
        )
    except RecursionError:
        raise SubmissionError(
            f"{label}: not valid JSON (nested too deeply). A {what} is a few levels deep; fix the file."
        ) from None
    except _RefusedValue as err:
        raise SubmissionError(f"{label}: {err}") from None
    except ValueError as err:  # JSONDecodeError's message holds a position, never the text
        raise SubmissionError(
            f"{label}: not valid JSON ({err}). Fix it, e.g. check the syntax with `python -m json.tool FILE`."
        ) from None


def shown(path: str | os.PathLike) -> str:
    """A path as messages show it: control characters in a file name escaped, so an error stays one
    line."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(path))


def _read_regular_file(path: Path, label: str, what: str) -> bytes:
    try:
        before = os.lstat(path)
        _require_regular(label, before.st_mode, what)
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        raise SubmissionError(f"{label}: cannot read it ({err.strerror}). Check the path.") from None
    with os.fdopen(fd, "rb") as f:
        now = os.fstat(f.fileno())
        _require_regular(label, now.st_mode, what)
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise SubmissionError(f"{label}: the file was replaced while being read. Run the command again.")
        raw = f.read(MAX_BYTES + 1)  # one byte over the limit tells an oversized file, without reading it all
    if len(raw) > MAX_BYTES:
        raise SubmissionError(
            f"{label}: over the {MAX_BYTES // 2**20} MB limit of a {what}. Leave per-step "
            "data out; keep one eval result per env id."
        )
    return raw


def _require_regular(label: str, mode: int, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _NOT_REGULAR.items() if test(mode)), "not a plain file")
    raise SubmissionError(
        f"{label}: {kind}, not a regular file. Give the {what} itself as a plain JSON "
        "file (links and special files are not read)."
    )


def _no_constant(name: str) -> float:
    raise _RefusedValue(f"{name} is not valid JSON: a number must be finite. Give a finite number.")


def _short_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _RefusedValue(f"an integer of {digits} digits, out of range. Give at most {MAX_INT:.0e}.")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]], quotable: Collection[str]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        which = f"key {json.dumps(dup)}" if dup in quotable else "a key"
        raise _RefusedValue(
            f"{which} appears twice in one object (JSON readers disagree on which value counts). Keep it once."
        )
    return obj
