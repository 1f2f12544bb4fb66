"""`dexbench compare`: generate with each generator, train a learner on each dataset, evaluate (one table)."""

from __future__ import annotations

from pathlib import Path

from dexbench.cli.common import (
    CLIError,
    add_backend_args,
    add_cameras_arg,
    backend_of,
    cameras_of,
    env_entry,
    user_errors,
)
from dexbench.cli.train import add_bc_options, add_diffusion_options, learner_config
from dexbench.pipelines.learners import LEARNERS


def cmd_compare(args) -> int:
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.pipelines.compare import compare_generators, compare_table

    entry = env_entry(args.env)
    generators = [g.strip() for g in args.generators.split(",") if g.strip()]
    if not generators:
        raise CLIError("--generators is empty; name at least one, e.g. mimicgen,demo_noise")
    workdir = args.workdir or f"compare_{entry.env_id.split('/')[-1]}"
    if Path(workdir).exists() and not Path(workdir).is_dir():
        raise CLIError(f"--workdir {workdir} is a file; give a folder (it is created if missing)")
    if args.obs != "rgb" and (args.cameras is not None or args.image_size is not None):
        raise CLIError("--cameras and --image-size choose the images of pixel BC; add --obs rgb, or leave them out")
    cameras = cameras_of(args.cameras or "agentview")
    with user_errors(KeyError, DatasetError, FileNotFoundError, ValueError):
        summary = compare_generators(
            entry.env_id,
            args.source,
            generators,
            args.n,
            workdir,
            episodes=args.episodes,
            seed=args.seed,
            workers=args.workers,
            train_config=learner_config(args),
            include_source=not args.no_source,
            progress=not args.quiet,
            train_seeds=args.train_seeds,
            checkpoints=args.checkpoints,
            objects=args.objects,
            backend=backend_of(args),
            cameras=cameras,
            image_size=84 if args.image_size is None else args.image_size,
        )
    table = compare_table(summary)
    Path(workdir, "compare.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nsaved {Path(workdir, 'compare.json')} and compare.md")
    return 0


def add_commands(sub) -> None:
    """Add these commands to the `dexbench` subcommand parser `sub`."""
    p = sub.add_parser(
        "compare",
        help="generate with each generator, train BC (or the Diffusion Policy) on each dataset, evaluate (one table)",
    )
    p.add_argument("--env", required=True, metavar="ID", help="env id to generate for and evaluate on")
    p.add_argument("--source", required=True, metavar="FILE", help="source demos (HDF5)")
    p.add_argument(
        "--generators",
        default="mimicgen,demo_noise",
        help="comma-separated (default mimicgen,demo_noise); NAME:KEY=VALUE[:KEY=VALUE] is a row with "
        "the generator's config changed, e.g. mimicgen:coordination_scheme=transform",
    )
    p.add_argument("-n", type=int, required=True, help="demos to generate per generator")
    p.add_argument(
        "--train",
        choices=LEARNERS,
        default="bc",
        help="learner trained on each dataset: BC (default; its options below) or the Diffusion Policy "
        "(--steps, --batch-size, --lr, --threads, --device and its own options below; its defaults are "
        "DiffusionConfig's)",
    )
    p.add_argument("--episodes", type=int, default=50, help="evaluation episodes on the published seeds")
    p.add_argument(
        "--workdir",
        default=None,
        metavar="DIR",
        help="where datasets, checkpoints and results go "
        "(default compare_<id>); finished stages found there are reused",
    )
    p.add_argument("--no-source", action="store_true", help="leave out the row trained on the sources alone")
    p.add_argument(
        "--objects",
        choices=("reference", "random"),
        default="reference",
        help="evaluate with the reference objects, or with the task's object variants drawn per episode "
        "(new objects at the published placements: the flywheel's test set)",
    )
    p.add_argument("--seed", type=int, default=0, help="generation and training seed")
    p.add_argument(
        "--train-seeds",
        type=int,
        default=1,
        metavar="S",
        help="train S policies per dataset (seeds seed..seed+S-1); the papers use 3",
    )
    p.add_argument(
        "--checkpoints",
        type=int,
        default=1,
        metavar="K",
        help="evaluate K evenly spaced checkpoints per policy; report the best per seed, mean +- std",
    )
    add_cameras_arg(
        p, "with --obs rgb: the comma-separated cameras rendered into each dataset (default agentview)", words=True
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="PX",
        help="with --obs rgb: the side of the rendered images (default 84)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="workers (processes, or Ray tasks) for generation, rendering and evaluation",
    )
    add_backend_args(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_bc_options(p)
    add_diffusion_options(p)
    p.set_defaults(func=cmd_compare)
