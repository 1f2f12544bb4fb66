"""A generator row's generation record, and re-running a sample of its attempts.

Attempt `i` of a generation run depends on (seed, i) and the sources only, whatever worker ran
it (`generators/worker.py`). So `submit-generators` records, beside a row's numbers, what made
its demos (`generation`): the generator's name, entry point, package and version, its full
config, the env kwargs, the seed, and every attempt as [index, digest of its demo] (null for a
failure; the digest is `datasets.hdf5.demo_digest`, of the actions and states as stored), with
the sources' own digests and, when the scripted demonstrator made them, how. `leaderboard
verify` remakes the sources, re-runs a sample of the attempts one by one and compares: the same
outcome, and for a success the same demo bit for bit. It trains nothing: a generator whose
attempts follow from policies it trains first (one with a `prepare` stage, the flywheel) is
`unverifiable` here, and its downstream policy is verified as a policy row.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from dexbench.leaderboards.reading import SubmissionError, shown
from dexbench.leaderboards.verdicts import RowCheck

NO_RECORD = (
    "the row records no generation (made before rows recorded their attempts): remake it with "
    "`dexbench compare` and `dexbench leaderboard submit-generators`"
)

SOURCES_ALONE = "nothing was generated (the sources alone): its downstream policy is verified as a policy row"


# ----------------------------------------------------------------------------- recording
def _demos(data) -> list[tuple[Any, str]]:
    """(the demo's group, its digest) of each demo of an open dataset's /data, in order."""
    from dexbench.datasets.hdf5 import demo_digest
    from dexbench.generators.shards import demo_keys

    return [(data[k], demo_digest(data[k]["actions"][()], data[k]["states"][()])) for k in demo_keys(data)]


def dataset_attempts(path: str | Path) -> tuple[dict[str, Any], list[list]]:
    """(the run record, [[attempt, demo digest or None], ...] in attempt order) of a dataset a
    generation run wrote; a dataset whose attempt log and demos disagree is refused."""
    import h5py

    from dexbench.generators.shards import STATE_ATTR, read_attempt_log

    with h5py.File(path, "r") as f:
        data = f["data"]
        if STATE_ATTR not in data.attrs:
            raise SubmissionError(f"{shown(path)} records no generation run (not made by `dexbench generate`)")
        record = json.loads(data.attrs[STATE_ATTR])
        demos = {int(group.attrs["attempt"]): digest for group, digest in _demos(data)}
        log = read_attempt_log(f)
    successes = {i for i, failure in log.items() if failure is None}
    if successes != set(demos):
        raise SubmissionError(
            f"{shown(path)}: its attempt log and its demos disagree (successful attempts "
            f"{sorted(successes ^ set(demos))[:5]} have no demo, or the other way round); regenerate it"
        )
    return record, [[i, demos.get(i)] for i in sorted(log)]


def source_record(path: str | Path) -> dict[str, Any]:
    """The sources of a row: each demo's digest, and how they were made when the scripted
    demonstrator made them (so `verify` can make them again)."""
    import h5py

    from dexbench.generators.shards import STATE_ATTR

    with h5py.File(path, "r") as f:
        data = f["data"]
        digests = [digest for _, digest in _demos(data)]
        run = json.loads(data.attrs[STATE_ATTR]) if STATE_ATTR in data.attrs else None
    found: dict[str, Any] = {"demos": digests}
    meta = (run or {}).get("meta", {})
    if meta.get("generator") == "scripted":
        found["made_by"] = {
            "generator": "scripted",
            "env_id": meta["env_id"],
            "env_kwargs": meta["env_kwargs"],
            "seed": meta["seed"],
            "n": run["requested"],
            "max_attempts": run["max_attempts"],
        }
    return found


def generation_record(data_path: str | Path, source_path: str | Path | None) -> dict[str, Any]:
    """The `generation` field of a generator row whose demos are the dataset `data_path`, made
    from the sources at `source_path` (None: the generator needs none)."""
    from dexbench.generators import registered_entry_point

    record, attempts = dataset_attempts(data_path)
    meta = record["meta"]
    entry = registered_entry_point(meta["generator"])
    if entry is None:
        raise SubmissionError(f"{shown(data_path)} was made by {meta['generator']!r}, which is not installed here")
    return {
        "generator": meta["generator"],
        "entry_point": entry.value,
        "distribution": {"name": entry.dist.name, "version": entry.dist.version},
        "config": meta["config"],
        "env_kwargs": meta["env_kwargs"],
        "seed": meta["seed"],
        "max_attempts": record["max_attempts"],
        "sources": None if source_path is None else source_record(source_path),
        "attempts": attempts,
    }


def record_problem(row: dict[str, Any]) -> tuple[list[str | int], str] | None:
    """(field path, what is wrong) when a schema-valid row's generation record disagrees with
    the row's own numbers; None when it agrees (or there is none)."""
    gen = row.get("generation")
    if gen is None:
        return None
    indices = [a[0] for a in gen["attempts"]]
    if indices != sorted(set(indices)):
        return ["generation", "attempts"], "attempt indices repeat or are out of order"
    if len(indices) != row["attempts"]:
        return ["generation", "attempts"], f"{len(indices)} attempts recorded, the row says {row['attempts']}"
    successes = sum(a[1] is not None for a in gen["attempts"])
    if successes != row["num_demos"]:
        return [
            "generation",
            "attempts",
        ], f"{successes} successful attempts recorded, the row has {row['num_demos']} demos"
    if indices[-1] >= gen["max_attempts"]:
        return ["generation", "attempts"], f"attempt {indices[-1]} is past max_attempts {gen['max_attempts']}"
    sources = gen["sources"]
    if sources is not None and len(sources["demos"]) != row["num_source_demos"]:
        return ["generation", "sources", "demos"], (
            f"{len(sources['demos'])} source demos recorded, the row says {row['num_source_demos']}"
        )
    return None


# ----------------------------------------------------------------------------- re-running
class SourceCache:
    """Sources remade by the scripted demonstrator, once per recipe for all rows of a verification."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="dexbench-verify-sources-")
        self._made: dict[str, tuple[Path, list[str]]] = {}

    def get(self, made_by: dict[str, Any]) -> tuple[Path, list[str]]:
        from dexbench.generators.runner import run_generation

        key = json.dumps(made_by, sort_keys=True)
        if key not in self._made:
            path = Path(self._folder.name) / f"sources_{len(self._made)}.hdf5"
            run_generation(
                "scripted",
                made_by["env_id"],
                None,
                made_by["n"],
                path,
                seed=made_by["seed"],
                env_kwargs=made_by["env_kwargs"],
                max_attempts=made_by["max_attempts"],
                progress=False,
            )
            self._made[key] = (path, source_record(path)["demos"])
        return self._made[key]

    def close(self) -> None:
        self._folder.cleanup()


def _installed_generator(gen: dict[str, Any]) -> tuple[type | None, str | None]:
    """(the generator class, None) when the recorded one is installed here and can re-run an
    attempt alone; (None, why not) otherwise. Nothing is imported that no entry point names."""
    from dexbench.generators import registered_entry_point
    from dexbench.generators.base import Generator

    entry = registered_entry_point(gen["generator"])
    if entry is None:
        return None, f"the generator {gen['generator']!r} is not installed here: install {gen['distribution']['name']}"
    if entry.value != gen["entry_point"]:
        return None, f"{gen['generator']!r} is {entry.value} here, {gen['entry_point']} in the row"
    cls = entry.load()
    if cls.prepare is not Generator.prepare:
        return None, (
            f"{gen['generator']}'s attempts follow from policies it trains first: re-running them "
            "would re-train them; its downstream policy is verified as a policy row"
        )
    return cls, None


def _check(env_id: str, status: str, attempts: list[int] | None = None, mismatches=None, reason=None) -> RowCheck:
    return RowCheck(env_id, status, attempts or [], mismatches or [], reason, key="attempts")


def verify_generation_row(
    row: dict[str, Any], attempts: list[int], sources: SourceCache, progress: bool = False
) -> RowCheck:
    """Re-run `attempts` of one generator row alone and compare each with the row's record."""
    from dexbench.datasets.hdf5 import demo_digest
    from dexbench.datasets.reader import load_dataset
    from dexbench.envs.registry import build_env
    from dexbench.generators.progress import GenerationError
    from dexbench.generators.worker import run_attempt
    from dexbench.stages import jsonable

    env_id, gen = row["env_id"], row.get("generation")
    if row.get("attempts") is None:
        return _check(env_id, "unverifiable", reason=SOURCES_ALONE)
    if gen is None:
        return _check(env_id, "unverifiable", reason=NO_RECORD)
    cls, problem = _installed_generator(gen)
    if cls is None:
        return _check(env_id, "unverifiable", reason=problem)
    try:
        config = cls.Config(**gen["config"])
    except (TypeError, ValueError) as err:
        return _check(env_id, "unverifiable", reason=f"its config is not one {gen['generator']} takes ({err})")
    if jsonable(dataclasses.asdict(config)) != gen["config"]:
        return _check(env_id, "unverifiable", reason=f"its config is not {gen['generator']}'s config as built here")
    source_path = None
    if gen["sources"] is not None:
        made_by = gen["sources"].get("made_by")
        if made_by is None:
            return _check(
                env_id,
                "unverifiable",
                reason="its sources were not made by the scripted demonstrator, so they cannot be remade",
            )
        source_path, digests = sources.get(made_by)
        if digests != gen["sources"]["demos"]:
            moved = [k for k, (a, b) in enumerate(zip(digests, gen["sources"]["demos"])) if a != b]
            return _check(
                env_id, "differs", reason=f"the sources, remade, differ from the recorded ones (demos {moved[:5]})"
            )
    claimed = dict((i, digest) for i, digest in gen["attempts"])
    env = build_env(env_id, **gen["env_kwargs"])
    source_data = load_dataset(source_path) if source_path is not None else None
    mismatches = []
    try:
        generator = cls(env_id, source_data, config)
        generator.check(env)
        for i in attempts:
            episode, _ = run_attempt(generator, env, gen["generator"], gen["seed"], i)
            found = demo_digest(episode.actions, episode.states) if episode.success else None
            if progress:
                print(f"{env_id} attempt {i}: {'success' if found else 'failure'}")
            if found != claimed[i]:
                mismatches.append(
                    {"attempt": i, "claimed": {"demo_sha256": claimed[i]}, "found": {"demo_sha256": found}}
                )
    except (GenerationError, ValueError) as err:
        return _check(env_id, "unverifiable", attempts, reason=f"the generator failed: {str(err).splitlines()[0]}")
    finally:
        if source_data is not None:
            source_data.close()
        env.close()
    return _check(env_id, "differs" if mismatches else "verified", attempts, mismatches)


__all__ = ["SourceCache", "generation_record", "record_problem", "verify_generation_row"]
