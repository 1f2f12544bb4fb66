"""Generation speed-up from worker processes: the same mimicgen run with 1 and with W workers.

python benchmarks/workers.py [--env DexMG/TrayLift-PandaDex-D1] [-n 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from dexbench.envs.registry import lookup
from dexbench.generators.runner import run_generation


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="DexMG/TrayLift-PandaDex-D1")
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    entry = lookup(args.env)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "sources.hdf5"
        run_generation(
            "scripted", f"DexMG/{entry.task}-{entry.embodiment}-D0", None, 5, source, seed=1000, progress=False
        )
        rows = []
        for workers in (1, args.workers):
            t0 = time.perf_counter()
            report = run_generation(
                "mimicgen", args.env, source, args.n, Path(tmp) / f"w{workers}.hdf5", workers=workers, progress=False
            )
            wall = time.perf_counter() - t0
            rows.append(
                (
                    workers,
                    report.attempts,
                    report.successes,
                    wall,
                    60 * report.successes / wall,
                    report.demos_per_cpu_minute,
                )
            )
    print(f"{args.env}, n={args.n}, {os.cpu_count()} CPUs")
    print(f"{'workers':>7} {'attempts':>8} {'successes':>9} {'wall s':>7} {'demos/wall-min':>14} {'demos/CPU-min':>13}")
    for w, a, s, wall, per_min, per_cpu in rows:
        print(f"{w:>7} {a:>8} {s:>9} {wall:>7.1f} {per_min:>14.1f} {per_cpu:>13.1f}")
    print(f"speed-up with {args.workers} workers: {rows[0][3] / rows[1][3]:.2f}x (wall time, includes start-up)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
