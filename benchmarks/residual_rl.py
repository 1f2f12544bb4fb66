"""Residual RL speed: environment steps per second of PPO and SAC (stable-baselines3) training a
residual on a frozen base policy, against stepping the same env + base with no learner, in the
same run. The flywheel's budget per iteration follows from these numbers (docs/generation.md).

    python benchmarks/residual_rl.py [--env ID] [--checkpoint BC_DIR] [--steps N]

Without --checkpoint the base is the scripted demonstrator (cheaper than a BC network, so the
ratios then overstate the learners' share a little)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import dexbench  # noqa: F401
from dexbench.generators.flywheel.residual import LEARNERS, ResidualEnv
from dexbench.generators.flywheel.sb3_learners import make_learner
from dexbench.policies import BCPolicy, ScriptedPolicy


def make(env_id: str, checkpoint: str | None) -> ResidualEnv:
    # The env the checkpoint was trained in (a flywheel base observes the objects' variants).
    kwargs = json.loads((Path(checkpoint) / "config.json").read_text())["env_kwargs"] if checkpoint else {}
    env = gym.make(env_id, **{**kwargs, "reward_type": "dense", "terminate_on_success": True}).unwrapped
    base = (
        BCPolicy(env.observation_space, env.action_space, checkpoint)
        if checkpoint
        else ScriptedPolicy(env.observation_space, env.action_space, env)
    )
    return ResidualEnv(env, base, epsilon_steps=1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="DexMG/TrayLift-PandaDex-D0")
    parser.add_argument("--checkpoint", help="BC checkpoint directory for the base (default: scripted)")
    parser.add_argument("--steps", type=int, default=4096)
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = make(args.env, args.checkpoint)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(args.steps):
        _, _, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape))
        if terminated or truncated:
            env.reset()
    rates = {"env + base, no learner": args.steps / (time.perf_counter() - start)}
    for name in LEARNERS:  # with the settings the flywheel trains with
        model = make_learner(name, make(args.env, args.checkpoint), seed=0, steps=args.steps)
        start = time.perf_counter()
        model.learn(args.steps)  # SAC: its first 1000 steps only fill the buffer, as in training
        rates[f"{name.upper()} (stable-baselines3)"] = args.steps / (time.perf_counter() - start)
    base = rates["env + base, no learner"]
    print(f"{args.env}, base: {args.checkpoint or 'scripted'}")
    print("| loop | env steps / s | ratio to env + base |")
    print("|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.0f} | {rate / base:.2f} |")


if __name__ == "__main__":
    main()
