"""Does a residual help? Residual RL settings trained on one frozen BC base, each evaluated against
the base alone on the same episodes (paired), with 95 % intervals and an exact McNemar test.

    python benchmarks/residual_sweep.py --checkpoint FLYWHEEL/flywheel.stages/iter3/bc \
        [--env DexMG/TrayLift-PandaDex-D0] [--settings ppo sac] [--episodes 60] [--out DIR]

The base is a flywheel iteration's BC checkpoint (it observes the objects' variants); episodes
draw objects and placements from seeds no flywheel stage or test set uses. A setting's residual
is reused from `--out` when it was trained before. Outcomes flip both ways between base and
base + residual on many seeds (a small correction changes a contact), so only the paired
difference says whether a residual helps: the table shows the episodes it gained and lost.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from scipy.stats import binomtest

import dexbench  # noqa: F401
from dexbench.evaluation.stats import wilson_interval
from dexbench.generators.flywheel.residual import ResidualPolicy, train_residual
from dexbench.policies.bc.policy import BCPolicy

FIRST_SEED = 900_000  # apart from every generation seed (runner seeds) and the published test seeds
# Named settings: the learner, its env steps, the env steps a correction is held (`hold`),
# ResidualEnv's epsilon schedule and the learner's own settings (stable-baselines3 keyword
# arguments) over sb3_learners.make_learner's defaults. docs/generation.md has their results.
FAST = {"learning_rate": 3e-4, "target_kl": 0.03}
SETTINGS = {
    "ppo": dict(learner="ppo", steps=30_000, hold=1, epsilon_steps=10_000, overrides={}),
    "ppo-fast": dict(learner="ppo", steps=30_000, hold=1, epsilon_steps=10_000, overrides=FAST),
    "ppo-fast-60k": dict(learner="ppo", steps=60_000, hold=1, epsilon_steps=0, overrides={**FAST, "n_epochs": 10}),
    "ppo-sde": dict(
        learner="ppo",
        steps=30_000,
        hold=1,
        epsilon_steps=10_000,
        overrides={"use_sde": True, "sde_sample_freq": 8, "learning_rate": 1e-4, "target_kl": 0.02},
    ),
    "sac": dict(learner="sac", steps=30_000, hold=1, epsilon_steps=0, overrides={}),
    "ppo-hold8": dict(learner="ppo", steps=30_000, hold=8, epsilon_steps=10_000, overrides={}),
    "ppo-fast-hold8": dict(learner="ppo", steps=30_000, hold=8, epsilon_steps=10_000, overrides=FAST),
    "ppo-fast-hold8-90k": dict(learner="ppo", steps=90_000, hold=8, epsilon_steps=20_000, overrides=FAST),
    "ppo-fast-hold16-90k": dict(learner="ppo", steps=90_000, hold=16, epsilon_steps=20_000, overrides=FAST),
    # trained on the evaluation's own configurations (as the flywheel's rollouts would be)
    "ppo-fast-hold8-90k-same": dict(
        learner="ppo", steps=90_000, hold=8, epsilon_steps=20_000, overrides=FAST, same_configurations=True
    ),
    "ppo-fast-hold8-300k": dict(learner="ppo", steps=300_000, hold=8, epsilon_steps=20_000, overrides=FAST),
}


def episode(env, policy, seed: int) -> bool:
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    while True:
        obs, _, terminated, truncated, info = env.step(policy.act(obs).astype(np.float32))
        if info["is_success"] or terminated or truncated:
            return bool(info["is_success"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="the frozen BC base (a flywheel iteration's bc/)")
    parser.add_argument("--env", default="DexMG/TrayLift-PandaDex-D0")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--out", default="residual_sweep")
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint, out = Path(args.checkpoint), Path(args.out)
    env_kwargs = {**json.loads((checkpoint / "config.json").read_text())["env_kwargs"], "object_variants": "random"}
    seeds = range(FIRST_SEED, FIRST_SEED + args.episodes)
    test_env = gym.make(args.env, **{**env_kwargs, "terminate_on_success": True}).unwrapped
    base_file = out / "base.json"
    if base_file.is_file() and json.loads(base_file.read_text())["seeds"] == list(seeds):
        base = np.array(json.loads(base_file.read_text())["success"])
    else:
        policy = ResidualPolicy(test_env.observation_space, test_env.action_space, str(checkpoint))
        base = np.array([episode(test_env, policy, s) for s in seeds])
        out.mkdir(parents=True, exist_ok=True)
        base_file.write_text(json.dumps({"seeds": list(seeds), "success": base.tolist()}))
    rows = []
    for name in args.settings:
        setting, folder = SETTINGS[name], out / name
        if not (folder / "residual.json").is_file():
            train_env = gym.make(
                args.env, **{**env_kwargs, "reward_type": "dense", "terminate_on_success": True}
            ).unwrapped
            frozen = BCPolicy(train_env.observation_space, train_env.action_space, checkpoint)
            train_residual(
                train_env,
                frozen,
                folder,
                setting["steps"],
                alpha=args.alpha,
                epsilon_steps=setting["epsilon_steps"],
                learner=setting["learner"],
                penalty=1.0,
                seed=1,
                base_checkpoint=str(checkpoint),
                learner_overrides=setting["overrides"],
                hold=setting["hold"],
                configurations=list(seeds) if setting.get("same_configurations") else None,
            )
            train_env.close()
        record = json.loads((folder / "residual.json").read_text())
        start = time.process_time()
        policy = ResidualPolicy(test_env.observation_space, test_env.action_space, str(checkpoint), str(folder))
        both = np.array([episode(test_env, policy, s) for s in seeds])
        gained, lost = int((both & ~base).sum()), int((base & ~both).sum())
        rows.append((name, record, both, gained, lost, time.process_time() - start))
    n = len(seeds)
    low, high = wilson_interval(int(base.sum()), n)
    print(
        f"{args.env}, base {checkpoint}, {n} paired episodes (objects and placements from seeds {FIRST_SEED}+), "
        f"base alone {base.sum()}/{n} ({100 * low:.0f}-{100 * high:.0f} %)"
    )
    print(
        "| setting | env steps | hold | CPU min (training) | training episodes | base + residual | 95 % CI | "
        "gained | lost | McNemar p |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, record, both, gained, lost, _ in rows:
        low, high = wilson_interval(int(both.sum()), n)
        p = binomtest(gained, gained + lost).pvalue if gained + lost else 1.0
        print(
            f"| {name} | {record['steps']} | {record.get('hold', 1)} | {record['cpu_s'] / 60:.1f} | "
            f"{len(record['episodes'])} | "
            f"{both.sum()}/{n} | {100 * low:.0f}-{100 * high:.0f} % | {gained} | {lost} | {p:.2f} |"
        )


if __name__ == "__main__":
    main()
