"""Success rate of the scripted source demonstrators on every (task, embodiment, variant).

The measure of done for the demonstrators: >= 9/10 on D0 for every pair, most episodes on D1 and
D2. For each failure it prints which subtask signals never fired (where the script broke).

    python benchmarks/scripted_success.py [--episodes 10] [--tasks TrayLift Pouring]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dexbench.datasets.recorder import record_episode
from dexbench.envs.registry import VARIANT_NAMES, make_env
from dexbench.envs.tasks import TASKS
from dexbench.envs.embodiments import EMBODIMENTS
from dexbench.generators.scripted import make_demonstrator


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--embodiments", nargs="+", default=list(EMBODIMENTS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANT_NAMES))
    args = parser.parse_args(argv)
    print(f"{'task':<10} {'embodiment':<10} {'variant':<7} {'success':>8} {'mean steps':>10} {'s/episode':>9}  failures (seed: unfired signals)")
    for task in args.tasks:
        for embodiment in args.embodiments:
            for variant in args.variants:
                env = make_env(task, embodiment, variant)
                wins, lengths, failures = 0, [], []
                t0 = time.perf_counter()
                for seed in range(args.episodes):
                    ep = record_episode(env, make_demonstrator(env, np.random.default_rng(seed)), seed=seed)
                    if ep.success:
                        wins += 1
                        lengths.append(len(ep.actions))
                    else:
                        fired = {k for k, v in ep.datagen_info["subtask_signals"].items() if v.any()}
                        missing = sorted(set(ep.datagen_info["subtask_signals"]) - fired)
                        failures.append(f"{seed}: {','.join(missing) or 'all fired, undone later'}")
                wall = (time.perf_counter() - t0) / args.episodes
                mean_len = f"{np.mean(lengths):.0f}" if lengths else "-"
                print(f"{task:<10} {embodiment:<10} {variant:<7} {wins:>4}/{args.episodes:<3} {mean_len:>10} "
                      f"{wall:>9.1f}  {'; '.join(failures)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
