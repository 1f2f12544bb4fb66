"""Shard files of a generation run: where they live, and turning them into one dataset (merge)
or a finished dataset back into shards (to resume it to a larger n)."""

from __future__ import annotations

import dataclasses
import heapq
import json
import re
from pathlib import Path
from typing import Any

from dexbench.datasets.hdf5 import DEMO_KEY_RE, demo_index
from dexbench.stages import check_same

INFO_ATTRS = ("attempt", "source_demos", "failure_subtask")
STATE_ATTR = "generation"  # /data attr (JSON) with a shard's progress or a merged run's record
ATTEMPT_LOG = "attempt_log"  # beside /data: one line per attempt, "<index>:" (success) or "<index>:<reason>"


def log_line(attempt: int, failure: str | None) -> str:
    return f"{int(attempt)}:{failure or ''}"


def read_attempt_log(f) -> dict[int, str | None]:
    """The attempts an open shard or output records: index -> failure reason (None: success)."""
    if ATTEMPT_LOG not in f:
        return {}
    outcomes = {}
    for raw in f[ATTEMPT_LOG].asstr()[:]:
        index, _, reason = raw.partition(":")
        outcomes[int(index)] = reason or None
    return outcomes


class SuccessBound:
    """The attempt index a run of `n` demos needs nothing at or beyond: one past the n-th
    smallest successful attempt index known, or `max_attempts` while fewer than n are known.
    More successes only lower it, so the attempts below its final value are the ones a
    one-worker run makes, and every worker runs its attempts until it reaches the bound."""

    def __init__(self, n: int, max_attempts: int) -> None:
        self.n, self.max_attempts = int(n), int(max_attempts)
        self._smallest: list[int] = []  # the n smallest success indices, negated (a max-heap)

    def add(self, attempt: int) -> None:
        heapq.heappush(self._smallest, -int(attempt))
        if len(self._smallest) > self.n:
            heapq.heappop(self._smallest)

    @property
    def value(self) -> int:
        if len(self._smallest) < self.n:
            return self.max_attempts
        return min(self.max_attempts, 1 - self._smallest[0])


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
    """Resume from a finished output: put its demos and attempts back into per-worker shards, for
    as many workers as this run has (the output is the same whatever number made it)."""
    import h5py

    from dexbench.datasets.writer import DatasetWriter

    with h5py.File(paths.out, "r") as f:
        data = f["data"]
        if STATE_ATTR not in data.attrs:
            raise ValueError(
                f"cannot resume from {paths.out}: it records no generation run (not made by `dexbench generate`)"
            )
        record = json.loads(data.attrs[STATE_ATTR])
        found = record.get("meta")
        if isinstance(found, dict) and "workers" in found:  # a finished dataset is the same on any number
            found = {**found, "workers": meta["workers"]}
        check_meta(found, meta, paths.out)
        states = record["worker_states"]
        outcomes = read_attempt_log(f)
        if len(outcomes) != sum(s["attempts"] for s in states):
            raise ValueError(
                f"cannot resume from {paths.out}: it does not record its attempts (made by an earlier "
                "DexBench); run without --resume and with --overwrite to make it again"
            )
        if len(states) != workers:  # made with another number of workers: this run's split
            fresh = [{"meta": meta, "worker": w, "cpu_s": 0.0} for w in range(workers)]
            states = count_states(outcomes, len(outcomes), fresh)
        for w in range(workers):
            with DatasetWriter(
                paths.shard(w), env, env_kwargs=env_kwargs, generator=name, overwrite=True, info_attrs=INFO_ATTRS
            ) as writer:
                for key in demo_keys(data):
                    if int(data[key].attrs["attempt"]) % workers == w:
                        writer.copy_demo(data[key])
                for attempt, failure in sorted(outcomes.items()):
                    if attempt % workers == w:
                        writer.append_line(ATTEMPT_LOG, log_line(attempt, failure))
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
    shards: list[Path],
    out: Path,
    env,
    env_kwargs: dict,
    name: str,
    below: int,
    record: dict | None,
    log: dict[int, str | None] | None = None,
) -> tuple[int, list[int]]:
    """Merge the demos of attempts below `below` from shard files into `out`, in attempt order
    (atomically), with `log` (the run's attempts) beside them; returns (demos, lengths)."""
    import h5py

    from dexbench.datasets.writer import DatasetWriter

    files = [h5py.File(p, "r") for p in shards if p.exists()]
    try:
        items = sorted(
            (int(f["data"][k].attrs["attempt"]), j, k) for j, f in enumerate(files) for k in demo_keys(f["data"])
        )
        items = [item for item in items if item[0] < below]
        lengths = []
        with DatasetWriter(
            out, env, env_kwargs=env_kwargs, generator=name, overwrite=True, info_attrs=INFO_ATTRS
        ) as writer:
            for _, j, key in items:
                writer.copy_demo(files[j]["data"][key])
                lengths.append(int(files[j]["data"][key]["actions"].shape[0]))
            for attempt in sorted(log or {}):
                writer.append_line(ATTEMPT_LOG, log_line(attempt, log[attempt]))
            writer.attempts = len(log) if log is not None else below
            if record is not None:
                writer.set_attrs(**{STATE_ATTR: record})
    finally:
        for f in files:
            f.close()
    return len(items), lengths


def settle(shards: list[Path], n: int, max_attempts: int, states: list[dict]) -> tuple[dict[int, str | None], list]:
    """The attempts a finished run keeps, and its workers' states cut to them.

    Workers stop at the success bound they know, which may still fall once the others report,
    so a worker can have run attempts past the final bound: they are left out, and what is kept
    is what one worker makes: the attempts below one past the n-th success (all attempts below
    `max_attempts` if fewer succeed). Returns (index -> failure reason or None, the states)."""
    import h5py

    outcomes: dict[int, str | None] = {}
    for path in shards:
        if path.exists():
            with h5py.File(path, "r") as f:
                outcomes.update(read_attempt_log(f))
    bound = SuccessBound(n, max_attempts)
    for attempt, failure in outcomes.items():
        if failure is None:
            bound.add(attempt)
    below = bound.value
    missing = [i for i in range(below) if i not in outcomes]
    if missing:
        raise RuntimeError(f"attempts {missing[:5]} of the run are in none of its shards ({len(missing)} missing)")
    kept = {i: outcomes[i] for i in range(below)}
    return kept, count_states(kept, below, states)


def count_states(kept: dict[int, str | None], below: int, states: list[dict]) -> list[dict]:
    """`states` (one per worker) with their counts and next attempt recounted from the run's
    kept attempts, all below `below`, as if worker w of W had run the attempts w, w + W, ..."""
    workers = len(states)
    counted = []
    for w, state in enumerate(states):
        mine = [failure for i, failure in kept.items() if i % workers == w]
        reasons: dict[str, int] = {}
        for failure in mine:
            if failure is not None:
                reasons[failure] = reasons.get(failure, 0) + 1
        counted.append(
            {
                **state,
                "attempts": len(mine),
                "successes": sum(failure is None for failure in mine),
                "next_attempt": below + (w - below) % workers,  # worker w's first attempt at or past the bound
                "failure_reasons": dict(sorted(reasons.items())),
            }
        )
    return counted


# ============================================================================ progress
