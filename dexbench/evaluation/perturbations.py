"""A policy scored under each visual factor, one row per factor (the shape of DexSim's Table 2).

Every row is an ordinary evaluation (`evaluate.py`: the published seeds, worker processes, a
result JSON) of the env made with `visual_factors` set to the row's factors: `none` (the
published look), each factor of `dexbench.envs.appearance.FACTORS` alone, and `all` of them at
once. The factors change images only, so a policy that reads no images scores the same in every
row: a check that the factors leave the task alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dexbench.envs.appearance import FACTORS, check_factors

NONE = "none"  # the row of the published look
EACH = "each"  # a row per factor, with `none` and `all`


def perturbation_rows(spec: str) -> dict[str, tuple[str, ...]]:
    """Row name -> the factors it turns on, from what `dexbench eval --perturb` takes: `each`,
    `all`, `none` or factor names separated by commas (one row). A bad name is refused (ValueError)
    with the valid ones."""
    names = [n.strip() for n in str(spec).split(",") if n.strip()]
    if names == [EACH]:
        return {NONE: (), **{f: (f,) for f in FACTORS}, "all": FACTORS}
    if names == [NONE]:
        return {NONE: ()}
    if EACH in names or NONE in names or ("all" in names and len(names) > 1):
        raise ValueError(
            f"--perturb takes {EACH!r}, 'all', {NONE!r} or factor names ({', '.join(FACTORS)}) "
            f"separated by commas, not a mix: got {spec!r}"
        )
    factors = check_factors(names if names != ["all"] else "all")
    if not factors:
        raise ValueError(f"--perturb needs a factor: one of {', '.join(FACTORS)}, 'all' or {EACH!r}")
    return {"all" if names == ["all"] else "+".join(factors): factors}


def perturbation_env_kwargs(factors: tuple[str, ...], env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The env kwargs of a row: `env_kwargs` with the row's factors (none: left out, so the
    result is the published env's)."""
    kwargs = {k: v for k, v in (env_kwargs or {}).items() if k != "visual_factors"}
    return {**kwargs, "visual_factors": list(factors)} if factors else kwargs


def evaluate_perturbations(
    policy_spec: str,
    env_id: str,
    rows: dict[str, tuple[str, ...]],
    env_kwargs: dict[str, Any] | None = None,
    **evaluate_kwargs,
) -> dict[str, dict[str, Any]]:
    """Row name -> the result of `evaluate(...)` with that row's factors on (same seeds in every
    row); videos, if asked for, go into a folder per row (`<video_dir>/<row>/`)."""
    from dexbench.evaluation.evaluate import evaluate

    video_dir = evaluate_kwargs.pop("video_dir", None)
    return {
        name: evaluate(
            policy_spec,
            env_id,
            env_kwargs=perturbation_env_kwargs(factors, env_kwargs),
            video_dir=None if video_dir is None else Path(video_dir) / name,
            **evaluate_kwargs,
        )
        for name, factors in rows.items()
    }


def perturbation_table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: one row per factor, success rate with its 95 % Wilson interval, and the
    change from the `none` row where there is one."""
    base = results.get(NONE)
    lines = ["| factor | success [95 % CI] | change from none |", "|---|---|---|"]
    for name, result in results.items():
        lo, hi = result["ci95"]
        rate = result["success_rate"]
        change = "-" if base is None or name == NONE else f"{100 * (rate - base['success_rate']):+.1f} pts"
        lines.append(
            f"| {name} | {result['successes']}/{result['num_episodes']} = {100 * rate:.1f} % "
            f"[{100 * lo:.1f}, {100 * hi:.1f}] | {change} |"
        )
    return "\n".join(lines)
