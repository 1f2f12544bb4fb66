"""The td3 residual's env steps per second against its number of worker processes, in one run.

    python benchmarks/residual_workers.py [--workers 1 2] [--steps 2000] [--checkpoint BC_DIR --env ID]

Each row trains a residual for `--steps` env steps with W envs in W processes (gymnasium's
AsyncVectorEnv; W = 1 steps in-process). "collect" never updates (learning_starts past the
budget): the envs and bases alone, what the workers parallelise. "train" does one update per env
step, in the main process: on a machine with as many cores as workers the updates become the
bound. Without --checkpoint the base is the sanity case's corrupted oracle on TrayLift-Panda-D0.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from dexbench.generators.flywheel.residual import BaseFactory, train_residual
from dexbench.generators.flywheel.sanity import SanityFactory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--checkpoint", default=None, help="a BC base (its config.json names the env kwargs)")
    parser.add_argument("--env", default=None, help="with --checkpoint: the env id")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.checkpoint:
        kwargs = json.loads((Path(args.checkpoint) / "config.json").read_text())["env_kwargs"]
        factory = BaseFactory(
            args.env, {**kwargs, "reward_type": "dense", "terminate_on_success": True}, args.checkpoint
        )
        name = f"{args.env}, BC base {args.checkpoint}"
    else:
        factory, name = SanityFactory(), "the sanity case (TrayLift-Panda-D0, corrupted oracle)"
    rows = []
    for mode, starts in (("collect", args.steps * 10), ("train", 200)):
        for workers in args.workers:
            env, base = factory()
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                train_residual(
                    env,
                    base,
                    out,
                    args.steps,
                    alpha=0.5,
                    epsilon_steps=0,
                    learner="td3",
                    reward="sparse",
                    workers=workers,
                    factory=factory,
                    learner_overrides={"learning_starts": starts, "critic_warmup": 0},
                )
                rows.append((mode, workers, args.steps / (time.perf_counter() - start)))
            env.close()
    print(f"{name}: {args.steps} env steps per row")
    print("| mode | workers | env steps/s | vs 1 worker |")
    print("|---|---|---|---|")
    for mode, workers, rate in rows:
        one = next(r for m, w, r in rows if m == mode and w == args.workers[0])
        print(f"| {mode} | {workers} | {rate:.0f} | {rate / one:.2f}x |")


if __name__ == "__main__":
    main()
