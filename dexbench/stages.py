"""Whether a pipeline's stage is already done: one rule for every pipeline.

A stage (a generation, a training, an evaluation, a rendering) writes its output and, beside it,
a small JSON record of the settings that made it (`<output>.stage.json`): the content hashes of
its inputs, the generator's name and full config, the env id and kwargs, seeds, counts and the
suite version. A later run computes the settings it would use and

- reuses the output only when the output is there and every recorded setting matches
  (`Stage.done`);
- otherwise runs the stage again (`Stage.begin` marks the record unfinished before the output is
  touched, `Stage.finish` completes it), so a changed source, config value, env kwarg, seed or
  count is never passed off as the old result;
- or, where running again would destroy work the user did not ask to redo (resuming a partial
  generation, a half-rendered work folder), refuses with an error that names each differing
  setting and the fix (`check_same`).

An input is hashed by its content (SHA-256, read in blocks), not its path or time: the same
sources rewritten at the same path are other sources. Settings are compared as JSON values
(tuples are lists), so a record read back equals the settings that wrote it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RECORD_SUFFIX = ".stage.json"
RECORD_FORMAT = "dexbench-stage"
_SHOWN = 6  # differing entries named per nested setting before "and N more"


class StageMismatch(ValueError):
    """A stage's recorded settings differ from the asked ones where running again is refused."""


# ============================================================================ settings
def jsonable(value: Any) -> Any:
    """`value` as the JSON value it is recorded as (tuples -> lists, paths -> str, numpy scalars)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot record a setting of type {type(value).__name__}: {value!r}")


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a regular file's content, read in 1 MiB blocks."""
    path = Path(path)
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file: a stage's inputs are hashed by their content")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def digest(path: str | os.PathLike, files: Iterable[str] | None = None) -> str:
    """Content hash of an input: a regular file's SHA-256, or for a folder (a checkpoint) the
    SHA-256 of its regular files' relative paths and hashes, in path order (`files`: only these
    names in it). Links and other non-regular entries in a folder are skipped; a missing input
    or one that is no regular file or folder is an error."""
    path = Path(path)
    if not path.is_dir():
        return file_digest(path)
    if files is not None:
        members = sorted(path / name for name in files)
    else:
        members = sorted(p for p in path.rglob("*") if not p.is_symlink() and p.is_file())
    digest_ = hashlib.sha256()
    for member in members:
        digest_.update(f"{member.relative_to(path).as_posix()}\0{file_digest(member)}\n".encode())
    return digest_.hexdigest()


def suite_version() -> str:
    import dexbench

    return dexbench.__version__


def generation_settings(
    generator: type,
    config: Any,
    env_id: str,
    env_kwargs: dict[str, Any] | None,
    source,
    seed: int,
    n: int,
    max_attempts: int | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings of one `run_generation` call: the generator class's name and its full config
    (a Config instance: every value, so a changed default counts; `runner.build_config` makes it
    from overrides), the env id and the kwargs given, the sources' content hash, the seed, the
    demos asked for and the attempts' bound. Not the workers: the dataset is the same on any
    number (an unfinished run's shards resume only with as many, which the runner checks).
    `inputs`: the content hashes (`digest`) of further inputs by name, e.g. the checkpoint a
    rollout generator loads."""
    hashes = {"source": None if source is None else digest(source), **(inputs or {})}
    return jsonable(
        {
            "stage": "generate",
            "generator": generator.name,
            "config": dataclasses.asdict(config),
            "env_id": env_id,
            "env_kwargs": dict(env_kwargs or {}),
            "inputs": hashes,
            "seed": int(seed),
            "n": int(n),
            "max_attempts": max_attempts,
            "suite_version": suite_version(),
        }
    )


def evaluation_settings(
    policy: str, checkpoint_sha256: str, env_id: str, env_kwargs: dict[str, Any] | None, episodes: int
) -> dict[str, Any]:
    """The settings of an evaluation on the published seeds (they follow from the env id, the
    episode count and the suite version; the worker count changes no result)."""
    return jsonable(
        {
            "stage": "evaluate",
            "policy": policy,
            "checkpoint_sha256": checkpoint_sha256,
            "env_id": env_id,
            "env_kwargs": dict(env_kwargs or {}),
            "episodes": int(episodes),
            "suite_version": suite_version(),
        }
    )


# ============================================================================ comparing
def differences(recorded: dict[str, Any] | None, wanted: dict[str, Any]) -> list[str]:
    """Each setting of `wanted` that `recorded` has otherwise, as `name: X there, Y now`
    (nested settings by dotted name, e.g. `config.coordination_scheme`)."""
    if recorded is None:
        return ["no record of the settings that made it"]
    found: list[str] = []
    _diff(recorded, jsonable(wanted), "", found)
    return found


def _diff(there: Any, now: Any, name: str, found: list[str]) -> None:
    if isinstance(there, dict) and isinstance(now, dict):
        nested: list[str] = []
        for key in list(now) + [k for k in there if k not in now]:
            _diff(there.get(key, _MISSING), now.get(key, _MISSING), f"{name}.{key}" if name else str(key), nested)
        found += nested[:_SHOWN]
        if len(nested) > _SHOWN:
            found.append(f"{name or 'settings'}: and {len(nested) - _SHOWN} more")
    elif there != now:
        found.append(f"{name}: {_show(there)} there, {_show(now)} now")


class _Missing:
    def __repr__(self) -> str:
        return "(not recorded)"


_MISSING = _Missing()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_same(
    recorded: dict[str, Any] | None, wanted: dict[str, Any], what: str, fix: str, error: type[Exception] = StageMismatch
) -> None:
    """Refuse (raise `error`) when `recorded` differs from `wanted` in any setting: the message is
    `what` (e.g. "cannot resume from x.hdf5: it was made with other settings"), each differing
    setting, then `fix` (what to do instead)."""
    diffs = differences(recorded, wanted)
    if diffs:
        raise error(f"{what} ({'; '.join(diffs)}). {fix}")


# ============================================================================ the record
@dataclasses.dataclass
class Stage:
    """One stage: its output (a file or a folder) and the settings that make it. The record is
    `<output>.stage.json` beside the output, or `record` where given."""

    output: Path
    settings: dict[str, Any]
    record: Path | None = None

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        self.settings = jsonable(self.settings)
        if self.record is None:
            self.record = self.output.with_name(self.output.name + RECORD_SUFFIX)
        self.record = Path(self.record)

    def read(self) -> dict[str, Any] | None:
        """The record ({"settings", "complete", ...}), or None when there is none (or it is unreadable)."""
        try:
            record = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("format") == RECORD_FORMAT else None

    def recorded(self) -> dict[str, Any] | None:
        record = self.read()
        return None if record is None else record.get("settings")

    def differences(self) -> list[str]:
        """What stands between the output and reuse (empty: it is done)."""
        if not self.output.exists():
            return [f"{self.output} is not there"]
        record = self.read()
        if record is not None and not record.get("complete"):
            return ["its last run did not finish"]
        return differences(None if record is None else record.get("settings"), self.settings)

    def done(self) -> bool:
        """The output is there, finished, and made with exactly these settings."""
        return not self.differences()

    def begin(self) -> None:
        """Mark the stage as running with these settings (before its output is touched): a
        kill leaves a record that is not complete, so the output is never taken as done."""
        self._write(complete=False)

    def finish(self, **info: Any) -> None:
        """Record the stage as done with these settings (after its output is complete)."""
        self._write(complete=True, **info)

    def _write(self, **fields: Any) -> None:
        from dexbench.jsonio import write_json_atomic

        write_json_atomic(
            self.record, {"format": RECORD_FORMAT, "format_version": 1, **jsonable(fields), "settings": self.settings}
        )


__all__ = [
    "RECORD_SUFFIX",
    "Stage",
    "StageMismatch",
    "check_same",
    "differences",
    "digest",
    "evaluation_settings",
    "file_digest",
    "generation_settings",
    "jsonable",
    "suite_version",
]
