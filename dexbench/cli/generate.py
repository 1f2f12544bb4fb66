"""`dexbench generate | demo`: successful demos from a generator plug-in (demo: the scripted one)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dexbench.cli.common import (
    CLIError,
    add_backend_args,
    add_cameras_arg,
    backend_of,
    cameras_of,
    env_entry,
    parse_overrides,
    user_errors,
)


def cmd_demo(args) -> int:
    """`dexbench demo`: the `scripted` generator under another name."""
    args.generator, args.source, args.config = "scripted", None, None
    return cmd_generate(args)


def cmd_generate(args) -> int:
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.generators import available_generators
    from dexbench.generators.runner import GenerationError, OutputPaths, run_generation

    if args.generator is None:
        raise CLIError(f"--generator is required; available: {', '.join(available_generators()) or '(none)'}")
    env_entry(args.env)
    _check_generation_out(args)
    env_kwargs = {}
    if args.obs_mode != "state":
        env_kwargs.update(obs_mode=args.obs_mode, camera_names=cameras_of(args.cameras), image_size=args.image_size)
    try:
        # KeyError: an unknown generator, or no scripted demonstrator for the task
        with user_errors(KeyError, DatasetError, OSError, ImportError, TypeError, ValueError):
            report = run_generation(
                args.generator,
                args.env,
                args.source,
                args.n,
                args.out,
                seed=args.seed,
                workers=args.workers,
                config=parse_overrides(args.config),
                resume=args.resume,
                keep_failed=args.keep_failed,
                max_attempts=args.max_attempts,
                progress=not args.quiet,
                overwrite=args.overwrite,
                env_kwargs=env_kwargs,
                backend=backend_of(args),
            )
    except GenerationError as err:  # a worker failed or the disk is full; the shards are kept for --resume
        print(f"dexbench {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the demos made so far are kept in the shards beside the output; run the same "
            "command with --resume to continue",
            file=sys.stderr,
        )
        return 130
    print()
    print(report.table())
    print(f"\nreport: {OutputPaths(Path(args.out)).report}")
    if report.successes < args.n:
        print(
            f"\nonly {report.successes} of {args.n} demos succeeded in {report.attempts} attempts; raise "
            "--max-attempts and run again with --resume to continue",
            file=sys.stderr,
        )
        return 1
    return 0


def _check_generation_out(args) -> None:
    """The outputs rule for generate/demo, before any attempt: --overwrite replaces only a
    DexBench dataset (and the generation report beside it); a file of something else at the
    report's path is never replaced. --resume extends the output: the run checks it."""
    from dexbench.generators.runner import OutputPaths
    from dexbench.outputs import check_output, is_dexbench_dataset, is_generation_report

    try:
        # An existing --out without --overwrite is the run's to refuse (after its config checks,
        # naming --resume too).
        if not args.resume and (args.overwrite or not os.path.lexists(args.out)):
            check_output(args.out, overwrite=args.overwrite, ours=is_dexbench_dataset, what="a DexBench dataset")
        report = OutputPaths(Path(args.out)).report
        if os.path.lexists(report) and (report.is_symlink() or not is_generation_report(report)):
            raise ValueError(
                f"{report} (where the generation report of --out {args.out} goes) is not a generation "
                "report, so it is not replaced; move it away, or give another --out"
            )
    except (OSError, ValueError) as err:
        raise CLIError(str(err)) from err


def _add_generation_args(p: argparse.ArgumentParser, sources: bool) -> None:
    p.add_argument("--env", required=True, metavar="ID", help="target env id")
    if sources:
        p.add_argument(
            "--source",
            metavar="FILE",
            help="source demos (HDF5, e.g. from `dexbench demo`); not for the scripted generator",
        )
    p.add_argument("-n", type=int, required=True, help="number of successful demos to keep")
    p.add_argument("--out", required=True, metavar="FILE", help="output dataset, e.g. demos.hdf5")
    p.add_argument("--seed", type=int, default=0, help="run seed (attempt i depends on (seed, i) only)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="workers: processes, or Ray tasks (each writes a shard; merged at the end)",
    )
    add_backend_args(p)
    p.add_argument("--resume", action="store_true", help="continue an interrupted (or finished, to a larger -n) run")
    p.add_argument("--keep-failed", action="store_true", help="also write failed attempts to <out stem>.failed.hdf5")
    p.add_argument("--max-attempts", type=int, default=None, help="bound on attempts (default max(20 n, 100))")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output and discard old shards")
    p.add_argument("--obs-mode", default="state", choices=("state", "rgb", "state+rgb"))
    add_cameras_arg(
        p, "comma-separated cameras for rgb observations (default agentview)", default="agentview", words=True
    )
    p.add_argument("--image-size", type=int, default=84, help="rgb observation side in pixels")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_commands(sub) -> None:
    """Add these commands to the `dexbench` subcommand parser `sub`."""
    p = sub.add_parser("demo", help="record successful scripted demos to HDF5 (= generate --generator scripted)")
    _add_generation_args(p, sources=False)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("generate", help="generate successful demos with a generator plug-in (scripted: no sources)")
    p.add_argument("--generator", metavar="NAME", help="registered generator (e.g. scripted, mimicgen, demo_noise)")
    _add_generation_args(p, sources=True)
    p.add_argument("--config", nargs="+", action="extend", metavar="KEY=VALUE", help="generator config overrides")
    p.set_defaults(func=cmd_generate)
