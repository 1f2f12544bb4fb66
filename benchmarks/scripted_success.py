"""Success rate of the scripted source demonstrators on every (task, embodiment, layout).

The measure of done for the demonstrators: >= 9/10 on D0 for every pair, most episodes on D1 and
D2. For each failure it prints which subtask signals never fired (where the script broke).

    python benchmarks/scripted_success.py [--episodes 10] [--tasks TrayLift Pouring]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dexbench.envs.embodiments import EMBODIMENTS
from dexbench.envs.registry import make_env
from dexbench.envs.tasks import TASKS
from dexbench.generators.scripted import make_demonstrator
from dexbench.rollout import rollout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--embodiments", nargs="+", default=list(EMBODIMENTS))
    parser.add_argument("--layouts", "--variants", dest="layouts", nargs="+", default=["D0", "D1", "D2"])
    args = parser.parse_args(argv)
    print(
        f"{'task':<10} {'embodiment':<10} {'layout':<7} {'success':>8} {'mean steps':>10} {'s/episode':>9}  "
        "failures (seed: unfired signals)"
    )
    for task in args.tasks:
        for embodiment in (e for e in args.embodiments if e in TASKS[task].embodiments):
            for layout in args.layouts:
                env = make_env(task, embodiment, layout)
                demonstrator = make_demonstrator(env)
                wins, lengths, failures = 0, [], []
                t0 = time.perf_counter()
                for seed in range(args.episodes):
                    ep = rollout(env, demonstrator, seed)
                    if ep.success:
                        wins += 1
                        lengths.append(len(ep.actions))
                    else:
                        fired = {k for k, v in ep.datagen_info["subtask_signals"].items() if v.any()}
                        missing = sorted(set(ep.datagen_info["subtask_signals"]) - fired)
                        failures.append(f"{seed}: {','.join(missing) or 'all fired, undone later'}")
                wall = (time.perf_counter() - t0) / args.episodes
                mean_len = f"{np.mean(lengths):.0f}" if lengths else "-"
                print(
                    f"{task:<10} {embodiment:<10} {layout:<7} {wins:>4}/{args.episodes:<3} {mean_len:>10} "
                    f"{wall:>9.1f}  {'; '.join(failures)}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
