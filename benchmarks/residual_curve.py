"""The td3 residual's learning curve on a real task: one training continued to each budget, and
at each budget base vs base + residual on the same held-out configurations (paired, McNemar).

    python benchmarks/residual_curve.py --out DIR [--env DexMG/TrayLift-PandaDex-D0] \
        [--budgets 50000 200000 500000] [--episodes 60] [--workers 2] [--base-demos 20] \
        [--td3 actor_l2=1.0 demo_fraction=0.25]

The base is BC (the chunking MLP, 5,000 steps) on `--base-demos` scripted demos of the env with
its objects drawn per episode (`object_variants="random"`), made in DIR the first time. The
residual's demonstrations are the scripted oracle's episodes expressed in residual units (what
the residual would have added to the base's action to act as the oracle did). Every step is
resumable: the base's data and weights are reused, the training continues from its last
checkpoint (`train_state/`), and an evaluated budget is not evaluated again. Run it in the
background and rerun the same command after an interruption.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import binomtest

from dexbench.envs.registry import build_env
from dexbench.evaluation.stats import wilson_interval
from dexbench.generators.flywheel.residual import BaseFactory, ResidualPolicy, train_residual
from dexbench.generators.scripted import make_demonstrator
from dexbench.jsonio import write_json_atomic
from dexbench.policies.bc.policy import BCPolicy
from dexbench.policies.bc.train import BCConfig, train_bc

FIRST_SEED = 900_000  # held-out configurations: no generation, training or published test seed


def episode(env, policy, seed: int) -> tuple[bool, int]:
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    for t in range(env.horizon):  # noqa: B007 - t counts the steps, read after the loop
        obs, _, terminated, truncated, info = env.step(policy.act(obs).astype(np.float32))
        if terminated or truncated:
            break
    return bool(info["is_success"]), t + 1


def make_base(env_id: str, out: Path, demos: int, action_mode: str | None) -> Path:
    data, checkpoint = out / "base_demos.hdf5", out / "base"
    if not (checkpoint / "config.json").is_file():
        if not data.is_file():
            from dexbench.generators.runner import run_generation

            env_kwargs = {"object_variants": "random", **({"action_mode": action_mode} if action_mode else {})}
            run_generation("scripted", env_id, None, demos, data, seed=0, env_kwargs=env_kwargs, progress=True)
        train_bc(data, checkpoint, BCConfig(steps=5_000))
    return checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--env", default="DexMG/TrayLift-PandaDex-D0")
    parser.add_argument("--budgets", type=int, nargs="+", default=[50_000, 200_000, 500_000])
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--base-demos", type=int, default=20)
    parser.add_argument("--demo-episodes", type=int, default=20)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--action-mode",
        choices=("delta", "absolute"),
        default=None,
        help="the base's action mode (default: the embodiment's); in delta mode a held correction is a "
        "velocity, in absolute mode an offset",
    )
    parser.add_argument(
        "--td3",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="TD3Config settings (values as JSON), e.g. actor_l2=1.0",
    )
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.td3)}
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = make_base(args.env, out, args.base_demos, args.action_mode)
    env_kwargs = {
        **json.loads((checkpoint / "config.json").read_text())["env_kwargs"],
        "object_variants": "random",
        "reward_type": "dense",
        "terminate_on_success": True,
    }
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.episodes))
    results_file = out / "curve.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {"seeds": seeds, "budgets": {}}
    test_env = build_env(args.env, **env_kwargs)
    if "base" not in results:
        base = BCPolicy(test_env.observation_space, test_env.action_space, checkpoint)
        results["base"] = [episode(test_env, base, s) for s in seeds]
        write_json_atomic(results_file, results)
    residual_dir = out / "residual"
    for budget in args.budgets:
        if str(budget) in results["budgets"]:
            continue
        env = build_env(args.env, **env_kwargs)
        base = BCPolicy(env.observation_space, env.action_space, checkpoint)
        start = time.time()
        record = train_residual(
            env,
            base,
            residual_dir,
            budget,
            alpha=args.alpha,
            epsilon_steps=0,
            learner="td3",
            reward="sparse",
            seed=args.seed,
            base_checkpoint=str(checkpoint),
            learner_overrides=overrides,
            workers=args.workers,
            factory=BaseFactory(args.env, env_kwargs, str(checkpoint)),
            teacher=make_demonstrator(env),
            demo_episodes=args.demo_episodes,
            resume=True,
            checkpoint_every=10_000,
            progress=True,
        )
        policy = ResidualPolicy(test_env.observation_space, test_env.action_space, str(checkpoint), str(residual_dir))
        both = [episode(test_env, policy, s) for s in seeds]
        results["budgets"][str(budget)] = {
            "outcomes": both,
            "wall_s": time.time() - start,
            "train_episodes": len(record["episodes"]),
            "train_successes": sum(s for _, s in record["episodes"]),
        }
        write_json_atomic(results_file, results)
    base = np.array([s for s, _ in results["base"]])
    n = len(base)
    low, high = wilson_interval(int(base.sum()), n)
    print(
        f"{args.env}, base {checkpoint}: {base.sum()}/{n} [{100 * low:.0f}, {100 * high:.0f}] % on held-out "
        f"configurations (seeds {FIRST_SEED}+)"
    )
    print("| env steps | base + residual | 95 % CI | gained | lost | McNemar p | training successes |")
    print("|---|---|---|---|---|---|---|")
    for budget, row in sorted(results["budgets"].items(), key=lambda kv: int(kv[0])):
        both = np.array([s for s, _ in row["outcomes"]])
        gained, lost = int((both & ~base).sum()), int((base & ~both).sum())
        p = binomtest(gained, gained + lost).pvalue if gained + lost else 1.0
        low, high = wilson_interval(int(both.sum()), n)
        print(
            f"| {int(budget):,} | {both.sum()}/{n} | {100 * low:.0f}-{100 * high:.0f} % | {gained} | {lost} | "
            f"{p:.3f} | "
            f"{row['train_successes']}/{row['train_episodes']} |"
        )


if __name__ == "__main__":
    main()
