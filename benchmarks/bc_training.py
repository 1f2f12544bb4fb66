"""How long the BC baseline takes to train on CPU, as a function of the number of demos.

Loads a dataset, tiles its demos up to each requested count (training cost depends on the
number of samples, not on what they contain), and trains the default `dexbench train bc` config
for `--steps` steps, timing loading and training separately. Also reports one `mj_step`-relative
ratio for orientation: gradient steps per second against raw physics steps per second on the
dataset's model, in the same run.

    python benchmarks/bc_training.py --data generated.hdf5 --demos 200 1000 --steps 2000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import mujoco
import numpy as np
import torch

from dexbench.datasets import load_dataset
from dexbench.policies.bc.data import DemoArrays, load_demo_arrays
from dexbench.policies.bc.train import BCConfig, train_bc


def raw_physics_steps_per_s(path: str, seconds: float = 2.0) -> float:
    with load_dataset(path) as ds:
        model = ds.load_model()
    data = mujoco.MjData(model)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mujoco.mj_step(model, data)
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--demos", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--steps", type=int, default=2000, help="timed gradient steps (the default run is 5000)")
    parser.add_argument("--arch", default="mlp", choices=("mlp", "rnn"))
    args = parser.parse_args()

    t0 = time.perf_counter()
    base = load_demo_arrays(args.data)
    load_s_per_demo = (time.perf_counter() - t0) / len(base.actions)
    physics = raw_physics_steps_per_s(args.data)
    rows = []
    for n in args.demos:
        reps = int(np.ceil(n / len(base.actions)))
        tiled = DemoArrays(
            (base.obs * reps)[:n], (base.actions * reps)[:n], base.obs_keys, base.env_id, base.env_kwargs
        )
        with tempfile.TemporaryDirectory() as tmp:
            report = train_bc(
                tiled,
                Path(tmp) / "bc",
                BCConfig(arch=args.arch, steps=args.steps, checkpoint_every=10**9),
                progress=False,
            )
        train_s = report.wall_s
        rows.append(
            (
                n,
                tiled.num_samples,
                n * load_s_per_demo,
                train_s / args.steps * 1e3,
                (n * load_s_per_demo + train_s * 5_000 / args.steps) / 60,
                args.steps / train_s / physics,
            )
        )
    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, arch {args.arch}; "
        f"raw mj_step: {physics:.0f}/s"
    )
    print("| demos | samples | load (s) | ms / gradient step | default 5k-step run (min) | grad steps/s : mj_step/s |")
    print("|---|---|---|---|---|---|")
    for n, samples, load_s, ms, total_min, ratio in rows:
        print(f"| {n} | {samples} | {load_s:.1f} | {ms:.1f} | {total_min:.1f} | {ratio:.2e} |")


if __name__ == "__main__":
    main()
