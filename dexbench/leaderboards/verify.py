"""Re-running a submission's rows: `dexbench leaderboard verify FILE`.

An episode depends on its seed alone, bit for bit, so a submitted policy re-evaluated on a row's
seeds must give each episode's success and length again. For every row this module picks a
sample of its episodes (derived from the file's SHA-256, so anyone re-verifying the same file
checks the same episodes; or all of them), runs them in the evaluation sandbox (the policy in
worker processes, under deadlines) and compares episode by episode. A row ends `verified`,
`differs` (which episodes, claimed and found) or `unverifiable` (why).

What runs is only what is installed here: the policy's module must belong to an installed
distribution (a module inside the submission's folder, or one nothing installed provides, is
not imported), and a checkpoint is looked up by its recorded SHA-256 under
`<submission folder>/checkpoints/<sha256>/` (or a folder given), read only as plain files, its
weights loaded as a state_dict (never unpickled as code).

A generator submission's rows are verified the same way, attempt for episode: a sample of each
row's generation attempts is re-run alone and must give the same outcome and the same demo
(`generation_records.py`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import stat
from pathlib import Path
from typing import Any

import numpy as np

from dexbench.backends import PROCESS, Backend
from dexbench.leaderboards.reading import shown
from dexbench.leaderboards.validate import read_and_check
from dexbench.leaderboards.verdicts import RowCheck

DEFAULT_SAMPLE = 5  # episodes re-run per row unless --all
CHECKPOINTS_FOLDER = "checkpoints"  # beside the submission: checkpoints/<sha256 of model.pt>/
CHECKPOINT_FILES = ("config.json", "model.pt")
MAX_CHECKPOINT_BYTES = 1 << 30  # a checkpoint file larger than this is refused unread


def versions() -> dict[str, str]:
    """What a verification ran on (recorded with its verdicts)."""
    import mujoco

    import dexbench
    from dexbench.evaluation.evaluate import package_versions

    found = {"suite_version": dexbench.__version__, "mujoco_version": mujoco.__version__}
    found.update({f"{package}_version": version for package, version in package_versions().items()})
    found["python"] = platform.python_version()
    return found


def row_sample(digest: str, row: int, items: list[int], k: int | None) -> list[int]:
    """`k` of a row's episode seeds or attempt indices (all if None or k >= len), the same for
    the same file and row."""
    if k is None or k >= len(items):
        return list(items)
    rng = np.random.default_rng([int(digest[:16], 16), row])
    return [items[i] for i in sorted(rng.choice(len(items), size=k, replace=False))]


def policy_module_problem(spec: str, folder: Path) -> str | None:
    """Why the policy `spec` (MODULE:ATTR) will not be imported here (None: it may be): its
    top-level module must be provided by an installed distribution and not live in `folder`.
    Finding the module runs none of its code."""
    module = spec.partition(":")[0]
    top = module.split(".")[0]
    if not top.isidentifier():
        return f"policy {spec!r} is not MODULE:ATTR"
    providers = importlib.metadata.packages_distributions().get(top)
    if not providers:
        return f"policy module {top!r} is not provided by any installed package: install it (pinned) and verify again"
    found = importlib.util.find_spec(top)
    origin = getattr(found, "origin", None) or next(
        iter(getattr(found, "submodule_search_locations", None) or []), None
    )
    if origin is not None and Path(origin).resolve().is_relative_to(folder.resolve()):
        return f"policy module {top!r} is a file in the submission's folder: code from a submission is not run"
    return None


def checkpoint_dir(sha256: str, folders: list[Path]) -> tuple[Path | None, str | None]:
    """(the checkpoint folder whose model.pt has `sha256`, None) or (None, why there is none).
    Links and special files are refused: only plain files are read."""
    for folder in folders:
        candidate = folder / sha256
        try:
            mode = os.lstat(candidate).st_mode
        except OSError:
            continue
        if not stat.S_ISDIR(mode):
            return None, f"{shown(candidate)} is not a plain folder (links are not followed)"
        for name in CHECKPOINT_FILES:
            try:
                info = os.lstat(candidate / name)
            except OSError:
                return None, f"{shown(candidate)} lacks {name}"
            if not stat.S_ISREG(info.st_mode):
                return None, f"{shown(candidate / name)} is not a plain file (links are not followed)"
            if info.st_size > MAX_CHECKPOINT_BYTES:
                return None, f"{shown(candidate / name)} is over {MAX_CHECKPOINT_BYTES >> 30} GiB"
        if hashlib.sha256((candidate / "model.pt").read_bytes()).hexdigest() != sha256:
            return None, f"{shown(candidate / 'model.pt')} does not have the recorded SHA-256 {sha256}"
        return candidate, None
    where = ", ".join(f"{folder.name}/" if folder.name == CHECKPOINTS_FOLDER else shown(folder) for folder in folders)
    return None, f"no checkpoint with SHA-256 {sha256[:12]}... in {where}"


def verify_row(
    result: dict[str, Any],
    seeds: list[int],
    folder: Path,
    checkpoint_folders: list[Path],
    workers: int,
    backend,
    timeouts: dict[str, float],
    progress: bool,
) -> RowCheck:
    """Re-run `seeds` of one eval result (a submission row) and compare them with it."""
    from dexbench.evaluation.evaluate import evaluate
    from dexbench.evaluation.sandbox import PolicyFailure
    from dexbench.policies.base import PolicyLoadError

    env_id, policy = result["env_id"], result["policy"]
    problem = policy_module_problem(policy["spec"], folder)
    if problem:
        return RowCheck(env_id, "unverifiable", reason=problem)
    kwargs = dict(policy.get("kwargs", {}))
    sha = policy.get("checkpoint_sha256")
    if sha is not None:
        found, problem = checkpoint_dir(sha, checkpoint_folders)
        if found is None:
            return RowCheck(env_id, "unverifiable", reason=problem)
        kwargs["checkpoint"] = str(found)
    elif "checkpoint" in kwargs:
        return RowCheck(env_id, "unverifiable", reason="the row names a checkpoint but records no checkpoint_sha256")
    try:
        again = evaluate(
            policy["spec"],
            env_id,
            seeds=seeds,
            workers=workers,
            backend=backend,
            policy_kwargs=kwargs,
            env_kwargs=result.get("env_kwargs") or {},
            progress=progress,
            **timeouts,
        )
    except (PolicyFailure, PolicyLoadError) as err:
        return RowCheck(env_id, "unverifiable", seeds, reason=f"the policy failed: {str(err).splitlines()[0]}")
    if again["policy"].get("checkpoint_sha256") != sha:
        return RowCheck(env_id, "differs", seeds, reason="the loaded checkpoint is not the one recorded")
    claimed = {e["seed"]: e for e in result["episodes"]}
    mismatches = [
        {"seed": e["seed"], "claimed": _brief(claimed[e["seed"]]), "found": _brief(e)}
        for e in again["episodes"]
        if _brief(e) != _brief(claimed[e["seed"]])
    ]
    return RowCheck(env_id, "differs" if mismatches else "verified", seeds, mismatches)


def _brief(episode: dict[str, Any]) -> dict[str, Any]:
    return {"success": bool(episode["success"]), "length": int(episode["length"])}


def verify_submission(
    path: str | os.PathLike,
    sample: int | None = DEFAULT_SAMPLE,
    workers: int = 1,
    backend: Backend = PROCESS,
    checkpoints: str | os.PathLike | None = None,
    progress: bool = False,
    step_timeout_s: float | None = None,
    episode_timeout_s: float | None = None,
) -> dict[str, Any]:
    """Verify every row of the policy submission at `path` (see the module docstring) and return
    the record: the file's SHA-256, what ran (`versions`) and one verdict per row. `sample`:
    episodes per row (None: all). `backend`: where the episodes run. `checkpoints`: a folder of
    `<sha256>/` checkpoints to look in before the submission's own `checkpoints/`. Raises
    SubmissionError for an invalid file."""
    path = Path(path)
    data, kind = read_and_check(path)  # the same checks as validate: an invalid file is refused
    if sample is not None and sample < 1:
        raise ValueError(f"--episodes must be >= 1, got {sample}; or pass --all")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    folders = ([Path(checkpoints)] if checkpoints is not None else []) + [path.parent / CHECKPOINTS_FOLDER]
    timeouts = {
        k: v for k, v in (("step_timeout_s", step_timeout_s), ("episode_timeout_s", episode_timeout_s)) if v is not None
    }
    if kind == "generator":
        rows = _verify_generator_rows(data, digest, sample, progress)
    else:
        rows = []
        for i, result in enumerate(data["results"]):
            seeds = row_sample(digest, i, [e["seed"] for e in result["episodes"]], sample)
            check = verify_row(result, seeds, path.parent, folders, workers, backend, timeouts, progress)
            if progress:
                print(f"{check.env_id}: {check.line()}")
            rows.append(check.to_dict())
    return {
        "format": "dexbench-verification",
        "format_version": 1,
        "kind": kind,
        "submission": path.name,
        "submission_sha256": digest,
        "ran_on": versions(),
        "rows": rows,
    }


def _verify_generator_rows(data: dict[str, Any], digest: str, sample: int | None, progress: bool) -> list[dict]:
    from dexbench.leaderboards.generation_records import SourceCache, verify_generation_row

    sources, rows = SourceCache(), []
    try:
        for i, row in enumerate(data["results"]):
            recorded = [a[0] for a in (row.get("generation") or {}).get("attempts", [])]
            check = verify_generation_row(row, row_sample(digest, i, recorded, sample), sources, progress)
            if progress:
                print(f"{check.env_id}: {check.line()}")
            rows.append(check.to_dict())
    finally:
        sources.close()
    return rows


def verification_table(record: dict[str, Any]) -> str:
    """The record as a table a terminal shows: one line per row, then the counts."""
    rows = [RowCheck.from_dict(r) for r in record["rows"]]
    width = max(len(r.env_id) for r in rows)
    lines = [f"{r.env_id:<{width}}  {r.line()}" for r in rows]
    counts = {s: sum(r.status == s for r in rows) for s in ("verified", "differs", "unverifiable")}
    ran = record["ran_on"]
    lines.append(
        f"{record['submission']}: {counts['verified']} verified, {counts['differs']} differ, "
        f"{counts['unverifiable']} unverifiable (DexBench {ran['suite_version']}, MuJoCo {ran['mujoco_version']})"
    )
    return "\n".join(lines)


__all__ = ["RowCheck", "row_sample", "verification_table", "verify_submission"]
