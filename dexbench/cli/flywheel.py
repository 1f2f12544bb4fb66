"""`dexbench flywheel`: the flywheel generator's iterations, each reported (DexFlyWheel's Table 1)."""

from __future__ import annotations

import os
from pathlib import Path

from dexbench.cli.common import CLIError, add_backend_args, backend_of, env_entry, error_message, parse_overrides


def cmd_flywheel(args) -> int:
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.pipelines.flywheel import flywheel_table, run_flywheel

    entry = env_entry(args.env)
    config = parse_overrides(args.config)
    if not args.scale > 0:
        raise CLIError(f"--scale must be > 0, got {args.scale}")
    if args.n < 1:  # not silently one demo
        raise CLIError(f"-n must be >= 1 (the demos of the last iteration), got {args.n}")
    from dexbench.envs.tasks import TASKS

    if not TASKS[entry.task].object_variants:  # before the work folder is made
        raise CLIError(
            f"{entry.env_id}: the flywheel varies objects, and {entry.task} declares no object variants; "
            f"choose a task that does ({', '.join(t for t, c in TASKS.items() if c.object_variants)})"
        )
    config["scale"] = str(args.scale)
    n = max(1, round(args.n * args.scale))
    workdir = args.workdir or f"flywheel_{entry.env_id.split('/')[-1]}"
    if Path(workdir).exists() and not Path(workdir).is_dir():
        raise CLIError(f"--workdir {workdir} is a file; give a folder (it is created if missing)")
    made = not os.path.lexists(workdir)
    try:
        report = run_flywheel(
            entry.env_id,
            args.source,
            workdir,
            n=n,
            config=config,
            episodes=args.episodes,
            seed=args.seed,
            workers=args.workers,
            backend=backend_of(args),
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except (KeyError, DatasetError, FileNotFoundError, ValueError) as err:
        if made and Path(workdir).is_dir() and not any(Path(workdir).iterdir()):
            Path(workdir).rmdir()  # a request refused up front leaves no empty work folder
        raise CLIError(error_message(err)) from err
    table = flywheel_table(report)
    Path(workdir, "flywheel_report.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nsaved {Path(workdir, 'flywheel_report.json')} and flywheel_report.md")
    return 0


def add_commands(sub) -> None:
    """Add these commands to the `dexbench` subcommand parser `sub`."""
    p = sub.add_parser(
        "flywheel", help="run the flywheel generator's iterations and report each (DexFlyWheel's Table 1)"
    )
    p.add_argument("--env", required=True, metavar="ID", help="env id (its task must declare object variants)")
    p.add_argument("--source", required=True, metavar="FILE", help="seed demos (HDF5): one or a few")
    p.add_argument("-n", type=int, default=500, help="demos of the last iteration (default 500, as DexFlyWheel)")
    p.add_argument(
        "--scale", type=float, default=1.0, help="multiplies every iteration's demos, for quick runs (0.2: 4, 20, 100)"
    )
    p.add_argument("--config", nargs="+", action="extend", metavar="KEY=VALUE", help="flywheel config overrides")
    p.add_argument("--episodes", type=int, default=50, help="test-set episodes per iteration's policy")
    p.add_argument(
        "--workdir",
        default=None,
        metavar="DIR",
        help="where stages, policies and results go (default flywheel_<id>); finished stages found there are reused",
    )
    p.add_argument("--seed", type=int, default=0, help="generation and training seed")
    p.add_argument(
        "--workers", type=int, default=1, help="workers (processes, or Ray tasks) for generation and evaluation"
    )
    add_backend_args(p)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="make the run's own demos again (a stage made with other settings runs again anyway)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_flywheel)
