"""Shard files of a generation run: where they live, and turning them into one dataset (merge)
or a finished dataset back into shards (to resume it to a larger n)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from dexbench.datasets.hdf5 import DEMO_KEY_RE, demo_index
from dexbench.stages import check_same

INFO_ATTRS = ("attempt", "source_demos", "failure_subtask")
STATE_ATTR = "generation"  # /data attr (JSON) with a shard's progress or a merged run's record


@dataclasses.dataclass(frozen=True)
class OutputPaths:
    out: Path

    @property
    def stem(self) -> Path:
        return self.out.with_suffix("") if self.out.suffix else self.out

    @property
    def report(self) -> Path:
        return self.stem.with_name(self.stem.name + ".report.json")

    @property
    def stages(self) -> Path:
        """The folder of a generator's preparation stages (`Generator.prepare`)."""
        return self.stem.with_name(self.stem.name + ".stages")

    @property
    def failed(self) -> Path:
        return self.stem.with_name(self.stem.name + ".failed.hdf5")

    def shard(self, w: int) -> Path:
        return self.out.with_name(f"{self.out.name}.shard{w}.hdf5")

    def failed_shard(self, w: int) -> Path:
        return self.failed.with_name(f"{self.failed.name}.shard{w}.hdf5")

    def leftovers(self) -> list[Path]:
        """Shard files (any state) of an earlier run of this output, any worker count."""
        found = []
        for base in (self.out, self.failed):
            pattern = re.compile(re.escape(base.name) + r"\.shard\d+\.hdf5(\.tmp|\.partial|\.resume)?$")
            if base.parent.is_dir():
                found += [p for p in base.parent.iterdir() if pattern.match(p.name)]
        return sorted(found)


def resume_candidates(path: Path) -> list[Path]:
    """Where a writer's file may be, in resume priority order (see `_open_shard`)."""
    return [
        path.with_name(path.name + ".resume"),
        path,
        path.with_name(path.name + ".partial"),
        path.with_name(path.name + ".tmp"),
    ]


# ============================================================================ config
RESUME_FIX = (
    "Resume with the same generator, env, env kwargs, sources, seed, workers, config and suite version, "
    "or run without --resume and with --overwrite to start over (the demos made so far are then discarded)"
)


def check_meta(found: dict[str, Any] | None, expected: dict[str, Any], where: Path) -> None:
    """Refuse to resume from `where` unless it was made with the `expected` settings: resuming
    with any other would mix two kinds of demos in one dataset (`stages.check_same`)."""
    check_same(found, expected, f"cannot resume from {where}: it was made with other settings", RESUME_FIX)


def demo_keys(data) -> list[str]:
    return sorted((k for k in data if DEMO_KEY_RE.match(k)), key=demo_index)


def split_output(
    paths: OutputPaths, env, env_kwargs: dict, name: str, meta: dict, workers: int, keep_failed: bool
) -> None:
    """Resume from a finished output: put its demos back into per-worker shards."""
    import h5py

    from dexbench.datasets.writer import DatasetWriter

    with h5py.File(paths.out, "r") as f:
        data = f["data"]
        if STATE_ATTR not in data.attrs:
            raise ValueError(
                f"cannot resume from {paths.out}: it records no generation run (not made by `dexbench generate`)"
            )
        record = json.loads(data.attrs[STATE_ATTR])
        check_meta(record.get("meta"), meta, paths.out)
        states = record["worker_states"]
        for w in range(workers):
            with DatasetWriter(
                paths.shard(w), env, env_kwargs=env_kwargs, generator=name, overwrite=True, info_attrs=INFO_ATTRS
            ) as writer:
                for key in demo_keys(data):
                    if int(data[key].attrs["attempt"]) % workers == w:
                        writer.copy_demo(data[key])
                writer.attempts = states[w]["attempts"]
                writer.set_attrs(**{STATE_ATTR: states[w]})
    if keep_failed and paths.failed.exists():
        with h5py.File(paths.failed, "r") as f:
            data = f["data"]
            for w in range(workers):
                with DatasetWriter(
                    paths.failed_shard(w),
                    env,
                    env_kwargs=env_kwargs,
                    generator=name,
                    overwrite=True,
                    info_attrs=INFO_ATTRS,
                ) as writer:
                    for key in demo_keys(data):
                        if int(data[key].attrs["attempt"]) % workers == w:
                            writer.copy_demo(data[key])
                    writer.set_attrs(**{STATE_ATTR: states[w]})


def merge_shards(
    shards: list[Path], out: Path, env, env_kwargs: dict, name: str, attempts: int, record: dict | None
) -> tuple[int, list[int]]:
    """Merge shard files into `out` in attempt order (atomically); returns (demos, lengths)."""
    import h5py

    from dexbench.datasets.writer import DatasetWriter

    files = [h5py.File(p, "r") for p in shards if p.exists()]
    try:
        items = sorted(
            (int(f["data"][k].attrs["attempt"]), j, k) for j, f in enumerate(files) for k in demo_keys(f["data"])
        )
        lengths = []
        with DatasetWriter(
            out, env, env_kwargs=env_kwargs, generator=name, overwrite=True, info_attrs=INFO_ATTRS
        ) as writer:
            for _, j, key in items:
                writer.copy_demo(files[j]["data"][key])
                lengths.append(int(files[j]["data"][key]["actions"].shape[0]))
            writer.attempts = attempts
            if record is not None:
                writer.set_attrs(**{STATE_ATTR: record})
    finally:
        for f in files:
            f.close()
    return len(items), lengths


# ============================================================================ progress
