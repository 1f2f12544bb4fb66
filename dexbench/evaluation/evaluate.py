"""Evaluate a policy on an env id: the published seeds, worker processes, a result JSON.

Episode i resets the env with seed i of the published list (`seeds.py`) and calls
`policy.reset(seed)`; it ends at the first step where the task succeeds (success), or when the
env truncates (horizon, physics error). What an episode does depends on its seed alone, so the
result is the same for any number of workers. The policy never runs in this process: each of
the W workers is a "spawn" process that builds its own env and policy once and runs the
episodes it is handed, under deadlines (`sandbox.py`). With the `ray` backend each worker is
a Ray task that runs the same sandbox for its share of the seeds.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from dexbench.backends import PROCESS, Backend, connect_ray
from dexbench.evaluation.episode import EpisodeResult, run_episode
from dexbench.evaluation.sandbox import (
    DEFAULT_EPISODE_TIMEOUT_S,
    DEFAULT_STEP_TIMEOUT_S,
    PolicyFailure,
    WorkerSpec,
    run_in_workers,
)
from dexbench.evaluation.seeds import eval_seeds
from dexbench.evaluation.stats import wilson_interval
from dexbench.jsonio import write_json_atomic
from dexbench.workers import clamp_workers

RESULT_FORMAT = "dexbench-eval-result"
RESULT_FORMAT_VERSION = 1


# ------------------------------------------------------------------------------ evaluate
def package_versions() -> dict[str, str]:
    """The versions of the packages an episode's numbers depend on besides DexBench and MuJoCo
    (a change of numpy or scipy has moved scripted episodes by a few steps), where installed."""
    import importlib.metadata

    found = {}
    for package in ("numpy", "scipy", "torch"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def evaluate(
    policy_spec: str,
    env_id: str,
    episodes: int = 50,
    seeds: Sequence[int] | None = None,
    workers: int = 1,
    policy_kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    video_dir: str | Path | None = None,
    videos: int = 3,
    progress: bool = True,
    step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    episode_timeout_s: float = DEFAULT_EPISODE_TIMEOUT_S,
    backend: Backend = PROCESS,
) -> dict[str, Any]:
    """Evaluate `policy_spec` on `env_id` and return the result dict (the JSON `dexbench eval`
    writes): the published seeds unless `seeds` is given; `videos` rollouts filmed into
    `video_dir` if given. The policy runs in `workers` processes with a deadline per call
    (`step_timeout_s`) and per episode (`episode_timeout_s`); a policy that misses one, raises,
    or returns a bad action ends the evaluation with `PolicyFailure` (sandbox.py). `backend`:
    where the workers run (processes here, or Ray tasks: the same result)."""
    from tqdm import tqdm

    import dexbench
    from dexbench.envs.registry import lookup
    from dexbench.policies.base import check_policy_arguments

    entry = lookup(env_id)
    policy_kwargs = dict(policy_kwargs or {})
    check_policy_arguments(policy_spec, policy_kwargs)  # a forgotten --checkpoint: before any work
    env_kwargs = dict(env_kwargs or {})
    if seeds is None:
        seed_list, seed_source = eval_seeds(entry.env_id, episodes), "published"
    else:
        seed_list, seed_source = [int(s) for s in seeds], "custom"
        if not seed_list or len(set(seed_list)) != len(seed_list):
            raise ValueError(f"--seeds must be a non-empty list of distinct integers, got {list(seeds)}")
    # Ray workers may be on other machines: their number is not this machine's cores.
    workers = min(workers if backend.is_ray and workers >= 1 else clamp_workers(workers), len(seed_list))
    if backend.is_ray:
        connect_ray(backend.address)
    stem = entry.env_id.split("/")[-1]
    video_paths = [
        str(Path(video_dir) / f"{stem}_seed{s}.mp4") if video_dir is not None and i < videos else None
        for i, s in enumerate(seed_list)
    ]

    spec = WorkerSpec(entry.env_id, env_kwargs, policy_spec, policy_kwargs)
    start = time.perf_counter()
    results: dict[int, EpisodeResult] = {}
    ready: list = []
    bar = tqdm(total=len(seed_list), desc=f"eval {stem}", unit="ep", disable=not progress)

    def on_event(kind: str, value) -> None:
        if kind == "ready":
            ready.append(value)
        else:
            results[value.seed] = value
            _advance(bar, results)

    tasks = list(zip(seed_list, video_paths))
    try:
        run_in_workers(spec, tasks, workers, on_event, step_timeout_s, episode_timeout_s, backend)
    finally:
        bar.close()
    name, checkpoint_sha, horizon, observed = ready[0]
    wall = time.perf_counter() - start

    ordered = [results[s] for s in seed_list]
    successes = sum(r.success for r in ordered)
    import mujoco

    return {
        "format": RESULT_FORMAT,
        "format_version": RESULT_FORMAT_VERSION,
        "suite_version": dexbench.__version__,
        "mujoco_version": mujoco.__version__,
        "env_id": entry.env_id,
        "task": entry.task,
        "embodiment": entry.embodiment,
        "variant": entry.layout,
        "native": entry.native,
        "policy": _policy_block(policy_spec, policy_kwargs, name, checkpoint_sha, observed),
        "env_kwargs": env_kwargs,
        "seeds": {"source": seed_source, "values": seed_list},
        "episodes": [{"seed": r.seed, "success": r.success, "length": r.length, "return": r.return_} for r in ordered],
        "num_episodes": len(ordered),
        "successes": successes,
        "success_rate": successes / len(ordered),
        "ci95": list(wilson_interval(successes, len(ordered))),
        "ci_method": "wilson",
        "horizon": horizon,
        "wall_time_s": round(wall, 2),
        "workers": workers,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"python": platform.python_version(), "platform": platform.platform(), "packages": package_versions()},
        "videos": [v for v in video_paths if v is not None],
    }


def _advance(bar, results: dict[int, EpisodeResult]) -> None:
    done = len(results)
    bar.set_postfix(success=f"{100 * sum(r.success for r in results.values()) / done:.0f}%", refresh=False)
    bar.update(1)


def _policy_block(
    spec: str, kwargs: dict[str, Any], name: str, checkpoint_sha: str | None, observed: dict[str, Any]
) -> dict[str, Any]:
    block: dict[str, Any] = {"spec": spec, "name": name}
    if observed:  # beside env_kwargs, not in them: they choose what is seen, not the test set
        block["observation_kwargs"] = observed
    shown = {k: _portable(v) for k, v in kwargs.items() if k != "env"}
    if shown:
        block["kwargs"] = {
            k: v if isinstance(v, (str, int, float, bool)) or v is None else repr(v) for k, v in shown.items()
        }
    if checkpoint_sha:
        block["checkpoint_sha256"] = checkpoint_sha
    return block


def _portable(value: Any) -> Any:
    """A policy argument as a result may record it: a path is kept as its last part (a
    checkpoint is identified by `checkpoint_sha256`, and a machine's folders mean nothing on
    another one, nor in a published result)."""
    if isinstance(value, str) and (Path(value).is_absolute() or ".." in Path(value).parts):
        return Path(value).name
    return value


def write_result(result: dict[str, Any], out: str | Path) -> Path:
    """Write a result JSON atomically (a crash never leaves half a file)."""
    return write_json_atomic(out, result)


def result_table(result: dict[str, Any]) -> str:
    """A short summary table of one result."""
    lengths = [e["length"] for e in result["episodes"] if e["success"]]
    lo, hi = result["ci95"]
    rows = [
        ("env", result["env_id"] + ("  (native pair)" if result["native"] else "")),
        ("policy", f"{result['policy']['name']}  ({result['policy']['spec']})"),
        ("seeds", f"{result['seeds']['source']}, {result['num_episodes']} episodes"),
        (
            "success",
            f"{result['successes']} / {result['num_episodes']} = {100 * result['success_rate']:.1f} %  "
            f"[95 % CI {100 * lo:.1f}, {100 * hi:.1f}]",
        ),
        ("mean length (successes)", f"{np.mean(lengths):.0f} steps" if lengths else "-"),
        ("wall time", f"{result['wall_time_s']:.1f} s with {result['workers']} worker(s)"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


__all__ = ["EpisodeResult", "PolicyFailure", "evaluate", "result_table", "run_episode", "write_result"]
