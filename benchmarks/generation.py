"""MimicGen generation on every id from scripted D0 sources (5 by default): success rates, speed, replay.

For each (task, embodiment) pair: record `--sources` scripted demos on D0, then for each variant
D0/D1/D2 generate `-n` successful demos with `mimicgen` (the sources never saw D1/D2), and
optionally replay every generated demo in a fresh env from its stored initial state (`--replay`:
the proof the data is physically valid). Prints a table (generation success rate, successful
demos per CPU-minute, mean length, failure reasons) and writes it to `--table` (Markdown).

    python benchmarks/generation.py --out /tmp/gen -n 50 --workers 2 --replay --table docs/generation.md
    python benchmarks/generation.py --out /tmp/gen -n 10 --ids DexMG/TrayLift-PandaDex-D1
    python benchmarks/generation.py --out /tmp/gen -n 50 --sources 10 --ids DexMG/Threading-Panda-D1  # grippers
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dexbench.datasets.reader import load_dataset
from dexbench.datasets.replay import replay_demo
from dexbench.envs.registry import ENV_TABLE, lookup
from dexbench.generators.runner import run_generation

SOURCES_PER_PAIR = 5  # DexMimicGen uses 5 source demos for dexterous hands, MimicGen 10 for grippers


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for sources and datasets")
    parser.add_argument("-n", type=int, default=50, help="successful demos per id")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sources", type=int, default=SOURCES_PER_PAIR, help="scripted D0 source demos per pair")
    parser.add_argument("--ids", nargs="+", default=sorted(ENV_TABLE, key=_order))
    parser.add_argument("--replay", action="store_true", help="replay every generated demo")
    parser.add_argument("--table", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    header = (
        "| id | native | attempts | successes | success rate | demos / CPU-min | mean length | "
        "replayed to success | failures (subtask running) |"
    )
    lines = [header, "|" + "---|" * 9]
    print(header, flush=True)
    for env_id in args.ids:
        entry = lookup(env_id)
        source = args.out / "sources" / f"{entry.task}-{entry.embodiment}-{args.sources}.hdf5"
        if not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True)
            run_generation(
                "scripted",
                f"DexMG/{entry.task}-{entry.embodiment}-D0",
                None,
                args.sources,
                source,
                seed=1000,
                progress=False,
            )
        out = args.out / f"{entry.task}-{entry.embodiment}-{entry.layout}.hdf5"
        report = run_generation(
            "mimicgen", env_id, source, args.n, out, seed=0, workers=args.workers, progress=False, overwrite=True
        )
        replayed = "-"
        if args.replay:
            with load_dataset(out) as ds:
                keys = list(ds.keys)
            ok = sum(replay_demo(out, key).success for key in keys)
            replayed = f"{ok}/{len(keys)}"
        failures = ", ".join(f"{k} {v}" for k, v in sorted(report.failure_reasons.items(), key=lambda kv: -kv[1]))
        line = (
            f"| {env_id} | {'*' if entry.native else ''} | {report.attempts} | {report.successes} | "
            f"{100 * report.success_rate:.0f}% | {report.demos_per_cpu_minute:.1f} | "
            f"{report.mean_length:.0f} | {replayed} | {failures or '-'} |"
        )
        lines.append(line)
        print(line, flush=True)
    if args.table:
        args.table.write_text(
            f"Generated {time.strftime('%Y-%m-%d')} by `python benchmarks/generation.py -n {args.n} "
            f"--workers {args.workers}{' --replay' if args.replay else ''}` from {args.sources} scripted "
            "D0 source demos per (task, embodiment); * marks the native pairs.\n\n" + "\n".join(lines) + "\n"
        )
    return 0


def _order(env_id: str):
    entry = ENV_TABLE[env_id]
    return (entry.task != "TrayLift", not entry.native, entry.embodiment, entry.layout)


if __name__ == "__main__":
    raise SystemExit(main())
