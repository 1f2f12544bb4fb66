"""Training and inference speed of the Diffusion Policy against BC's chunking MLP, in one run.

Trains each with its default `dexbench train` config for `--steps` gradient steps on a real
dataset (records `--demos` scripted demos of DexMG/TrayLift-PandaDex-D0 when `--data` is not
given), then rolls each policy out in the dataset's env for `--rollout` steps, timing act() and
env.step() separately: gradient steps per second, milliseconds per executed action (a diffusion
plan of n_action actions is charged to the actions it yields), and the share of a 750-step
episode's wall time spent in the policy.

    python benchmarks/policy_speed.py --steps 100 --rollout 200 --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from dexbench.envs.registry import build_env
from dexbench.policies.bc.policy import BCPolicy
from dexbench.policies.bc.train import BCConfig, train_bc
from dexbench.policies.diffusion.policy import DiffusionPolicy
from dexbench.policies.diffusion.train import DiffusionConfig, train_diffusion


def rollout_times(policy, env, steps: int) -> tuple[float, float]:
    """(policy s per step, env s per step) over `steps` steps (resets when an episode ends)."""
    obs, _ = env.reset(seed=0)
    policy.reset(seed=0)
    t_policy = t_env = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        action = policy.act(obs)
        t1 = time.perf_counter()
        obs, _, terminated, truncated, _ = env.step(action)
        t_env += time.perf_counter() - t1
        t_policy += t1 - t0
        if terminated or truncated:
            obs, _ = env.reset(seed=1)
            policy.reset(seed=1)
    return t_policy / steps, t_env / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset (default: record scripted TrayLift-PandaDex-D0 demos)")
    ap.add_argument("--demos", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="gradient steps timed per policy")
    ap.add_argument("--rollout", type=int, default=200, help="env steps timed per policy")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="policy_speed_"))
    data = args.data
    if data is None:
        from dexbench.generators.runner import run_generation

        data = work / "demos.hdf5"
        run_generation("scripted", "DexMG/TrayLift-PandaDex-D0", None, args.demos, data, progress=False)
    rows = []
    for name, train, config, cls in [
        (
            "diffusion (64,128,256), DDIM 10",
            train_diffusion,
            DiffusionConfig(steps=args.steps, threads=args.threads, device="cpu", log_every=10**9),
            DiffusionPolicy,
        ),
        (
            "BC chunking MLP (256x3)",
            train_bc,
            BCConfig(steps=args.steps, threads=args.threads, log_every=10**9),
            BCPolicy,
        ),
    ]:
        out = work / name.split()[0]
        t0 = time.perf_counter()
        report = train(data, out, config, progress=False)
        train_s = report.wall_s if hasattr(report, "wall_s") else time.perf_counter() - t0
        import json

        cfg = json.loads((out / "config.json").read_text())
        env = build_env(cfg["env_id"], **cfg["env_kwargs"])
        try:
            policy = cls(env.observation_space, env.action_space, checkpoint=out)
            p, e = rollout_times(policy, env, args.rollout)
        finally:
            env.close()
        rows.append((name, args.steps / train_s, 1e3 * p, 1e3 * e, p / (p + e)))
    print(f"dataset {data}; torch {torch.__version__}, {args.threads} training thread(s), inference on 1 thread")
    print(
        "| policy | gradient steps/s (batch 256) | ms per executed action | env ms per step | policy share of a "
        "750-step episode |"
    )
    print("|---|---|---|---|---|")
    for name, gps, ms, env_ms, share in rows:
        print(f"| {name} | {gps:.1f} | {ms:.2f} | {env_ms:.2f} | {100 * share:.0f}% ({750 * ms / 1e3:.1f} s) |")


if __name__ == "__main__":
    main()
