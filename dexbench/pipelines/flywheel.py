"""The flywheel's report per iteration (`dexbench flywheel`), in the shape of DexFlyWheel's Table 1.

Runs the `flywheel` generator (its stages are reused when finished, see
`dexbench.generators.flywheel.stages`), then trains the BC policy of every iteration on the data
so far (the stages trained all but the last) and evaluates each on a held-out test set of
configurations that vary objects and placements together: the published evaluation seeds with
the object axis on (`object_variants="random"`); no generation attempt uses those seeds. Scene
appearance (the E axis) is not varied yet: the objects and placements are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dexbench.backends import PROCESS, Backend
from dexbench.evaluation.stats import wilson_interval
from dexbench.jsonio import write_json_atomic
from dexbench.pipelines.compare import evaluate_checkpoint
from dexbench.pipelines.learners import BC_POLICY
from dexbench.stages import Stage, generation_settings

TEST_ENV_KWARGS = {"object_variants": "random"}  # T_OEP: objects and placements varied together
PAPER_BUDGETS = (20, 100, 500)


def _variety(paths: list[Path]) -> dict[str, int]:
    """Object-variant combinations (O), placements (P) and configurations in datasets: P and the
    configurations are the demos (each an attempt with its own seed)."""
    from dexbench.datasets import load_dataset

    combos, demos = set(), 0
    for path in paths:
        with load_dataset(path) as ds:
            variant_keys = sorted(k for k in ds.obs_keys(ds.keys[0]) if k.endswith("_variant")) if ds.keys else []
            for key in ds.keys:
                combos.add(tuple(np.round(np.concatenate([ds.array(key, f"obs/{k}")[0] for k in variant_keys]), 6)))
                demos += 1
    return {"objects": len(combos), "placements": demos, "configurations": demos}


def _rate(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "success_rate": record["success_rate"],
        "successes": record["demos"],
        "attempts": record["attempts"],
        "ci95": list(wilson_interval(record["demos"], record["attempts"])),
    }


def run_flywheel(
    env_id: str,
    source: str | Path,
    workdir: str | Path,
    n: int = PAPER_BUDGETS[-1],
    config: dict[str, Any] | None = None,
    episodes: int = 50,
    seed: int = 0,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    backend: Backend = PROCESS,
) -> dict[str, Any]:
    """Run the flywheel into `workdir` (`flywheel.hdf5`, its `flywheel.stages/`, one BC policy per
    iteration and its evaluation) and return the report (also `workdir/flywheel_report.json`).
    `config`: the generator's config overrides; `n`: the last iteration's demos; `backend`: where
    the generation and evaluation workers run (the results do not depend on it)."""
    from dexbench.envs.registry import lookup
    from dexbench.generators import get_generator
    from dexbench.generators.flywheel.stages import stage_seed, train_base
    from dexbench.generators.runner import build_config, run_generation
    from dexbench.generators.shards import OutputPaths

    entry = lookup(env_id)
    workdir = Path(workdir)
    out = workdir / "flywheel.hdf5"
    report_path = OutputPaths(out).report
    stages_path = OutputPaths(out).stages / "flywheel.json"
    cls = get_generator("flywheel")
    stage = Stage(out, generation_settings(cls, build_config(cls, config), entry.env_id, None, source, seed, n))
    done = not overwrite and stage.done() and report_path.is_file() and stages_path.is_file()
    if done:
        final = json.loads(report_path.read_text())
        made = [it["data"]["out"] for it in json.loads(stages_path.read_text())["iterations"] if "data" in it]
        done = all(Path(p).is_file() for p in made)
    if not done:
        # A run killed with these settings is continued (its stages and shards); anything else
        # made into this output is replaced (each stage is still reused when its settings match).
        resume = not overwrite and (stage.recorded() == stage.settings if stage.read() else not out.exists())
        stage.begin()
        final = run_generation(
            "flywheel",
            entry.env_id,
            source,
            n,
            out,
            seed=seed,
            workers=workers,
            config=config,
            progress=progress,
            resume=resume,
            overwrite=not resume,
            backend=backend,
        ).to_dict()
        stage.finish()
    stages = json.loads(stages_path.read_text())
    iterations = stages["iterations"]
    # What each iteration generated: the stages' data, then the run's own attempts (their CPU
    # time is the report's: the attempts', not the preparation's).
    datas = [it["data"] for it in iterations[:-1]] + [
        {k: final[k] for k in ("out", "attempts", "success_rate")}
        | {"demos": final["successes"], "cpu_s": final["cpu_s"] - final.get("prepare_cpu_s", 0.0)}
    ]
    data_paths = [Path(d["out"]) for d in datas]

    # The policy of iteration i is trained on D_1 .. D_i: the stages trained it as the base of
    # iteration i + 1; the last one is trained here, on everything.
    last = len(iterations)
    final_bc = workdir / "bc_final"
    train_base(data_paths, final_bc, stages["config"]["bc_steps"], stage_seed(seed, last + 1, "bc"), progress)
    rows = []
    for k, it in enumerate(iterations):
        i, data = it["iteration"], datas[k]
        policy = Path(iterations[k + 1]["bc"]["out"]) if k + 1 < last else final_bc
        result = evaluate_checkpoint(
            BC_POLICY,
            policy,
            entry.env_id,
            episodes,
            workers,
            TEST_ENV_KWARGS,
            workdir / f"eval_iter{i}.json",
            progress,
            backend,
        )
        row = {
            "iteration": i,
            **_variety([Path(p) for p in data_paths[: k + 1]]),
            "trajectories": sum(d["demos"] for d in datas[: k + 1]),
            "new_demos": data["demos"],
            "generation_success": data["success_rate"],
            "generation_attempts": data["attempts"],
            "policy": str(policy),
            "test_success": result["success_rate"],
            "test_ci95": result["ci95"],
            "test_episodes": result["num_episodes"],
            "cpu_s": {"generation": data["cpu_s"], "bc": json.loads((policy / "stage.json").read_text())["cpu_s"]},
        }
        if "rollouts" in it:
            row["base_on_new_objects"] = _rate(it["base_rollouts"])
            row["residual_on_new_objects"] = _rate(it["rollouts"])
            row["cpu_s"]["residual_rl"] = it["residual"]["cpu_s"]
            row["cpu_s"]["rollouts"] = it["base_rollouts"]["cpu_s"] + it["rollouts"]["cpu_s"]
            row["residual_train"] = {
                k2: it["residual"][k2] for k2 in ("learner", "steps", "alpha", "train_episodes", "train_successes")
            }
        rows.append(row)
    report = {
        "format": "dexbench-flywheel-report",
        "env_id": entry.env_id,
        "source": str(source),
        "n": n,
        "seed": seed,
        "episodes": episodes,
        "test_set": {"seeds": "published evaluation seeds", "env_kwargs": TEST_ENV_KWARGS},
        "config": stages["config"],
        "rows": rows,
    }
    write_json_atomic(workdir / "flywheel_report.json", report)
    return report


def _pct(rate: float, ci: list[float] | None = None) -> str:
    return f"{100 * rate:.0f} %" + (f" [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]" if ci else "")


def flywheel_table(report: dict[str, Any]) -> str:
    """The report as Markdown: DexFlyWheel's Table 1 columns, then the CPU time per stage."""
    lines = [
        f"{report['env_id']}: flywheel from {report['source']} (seed {report['seed']}); policy: BC trained on "
        f"the data so far, {report['episodes']} episodes on the held-out test set (published seeds, objects and "
        "placements varied; scene appearance not varied)",
        "",
        "| iteration | O | P | configurations | trajectories | data-collection success | base on new objects "
        "| base + residual on new objects | policy on test set [95 % CI] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        base = r.get("base_on_new_objects")
        res = r.get("residual_on_new_objects")
        lines.append(
            f"| {r['iteration']} | {r['objects']} | {r['placements']} | {r['configurations']} | "
            f"{r['trajectories']} | {_pct(r['generation_success'])} of {r['generation_attempts']} | "
            + (
                f"{_pct(base['success_rate'], base['ci95'])} | {_pct(res['success_rate'], res['ci95'])} | "
                if base
                else "- | - | "
            )
            + f"{_pct(r['test_success'], r['test_ci95'])} |"
        )
    lines += ["", "| iteration | generation (CPU min) | BC | residual RL | rollouts |", "|---|---|---|---|---|"]
    for r in report["rows"]:
        c = r["cpu_s"]
        cells = [c["generation"], c["bc"], c.get("residual_rl"), c.get("rollouts")]
        lines.append(f"| {r['iteration']} | " + " | ".join("-" if x is None else f"{x / 60:.1f}" for x in cells) + " |")
    total = sum(v for r in report["rows"] for v in r["cpu_s"].values())
    lines.append(f"\nCPU in all: {total / 60:.1f} min (the test-set evaluations not counted)")
    return "\n".join(lines)
