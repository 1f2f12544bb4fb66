"""`dexbench train diffusion`: its parser and command (registered by `cli_evaluation.py`)."""

from __future__ import annotations

from dexbench.cli_common import CLIError
from dexbench.policies.device import DEVICE_HELP, DEVICES
from dexbench.policies.diffusion import PREDICTIONS


def cmd_train_diffusion(args) -> int:
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.policies.diffusion.train import DiffusionConfig, train_diffusion

    try:
        channels = tuple(int(c) for c in args.channels.split(","))
    except ValueError as err:
        raise CLIError(f"--channels expects comma-separated integers, e.g. 64,128,256; got {args.channels!r}") from err
    if args.checkpoints < 1:
        raise CLIError(f"--checkpoints must be >= 1, got {args.checkpoints}")
    config = DiffusionConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        horizon=args.horizon,
        n_obs=args.n_obs,
        n_action=args.n_action,
        ddim_steps=args.ddim_steps,
        channels=channels,
        prediction=args.prediction,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        keep_checkpoints=args.checkpoints if args.checkpoints > 1 else 0,
    )
    try:
        report = train_diffusion(args.data, args.out, config, progress=not args.quiet, max_demos=args.max_demos)
    except (DatasetError, FileNotFoundError, ValueError) as err:
        raise CLIError(str(err)) from err
    print()
    print(report.table())
    kept = " (and each step_<N>/ in it)" if args.checkpoints > 1 else ""
    print(
        f"\nevaluate it{kept}: dexbench eval --policy dexbench.policies:DiffusionPolicy --checkpoint {args.out} "
        "--env ENV_ID"
    )
    return 0


def add_train_diffusion(tsub) -> None:
    """Add `diffusion` to the `dexbench train` subparsers `tsub`."""
    q = tsub.add_parser(
        "diffusion",
        help="Diffusion Policy on state observations (temporal U-Net, DDIM; torch). "
        "Experimental: it reproduces the demos' actions but succeeds less often than BC's MLP so "
        "far (docs/evaluation.md)",
    )
    q.add_argument("--data", required=True, metavar="FILE", help="demos (HDF5)")
    q.add_argument("--out", required=True, metavar="DIR", help="checkpoint directory (model.pt, config.json)")
    q.add_argument("--max-demos", type=int, default=None, help="train on the first K demos only")
    q.add_argument("--steps", type=int, default=5_000, help="gradient steps (default 5000)")
    q.add_argument("--batch-size", type=int, default=256)
    q.add_argument("--lr", type=float, default=1e-4)
    q.add_argument("--horizon", type=int, default=16, help="actions predicted per sample (default 16)")
    q.add_argument("--n-obs", type=int, default=2, help="observations conditioned on (default 2)")
    q.add_argument("--n-action", type=int, default=8, help="actions executed per prediction (default 8)")
    q.add_argument("--ddim-steps", type=int, default=10, help="DDIM steps at inference (default 10)")
    q.add_argument(
        "--channels", default="64,128,256", help="U-Net widths per level (default 64,128,256; the paper's 256,512,1024)"
    )
    q.add_argument(
        "--prediction",
        default="sample",
        choices=PREDICTIONS,
        help="what the network predicts: the clean actions (sample, default: learns in far fewer steps "
        "on a CPU budget) or the noise (epsilon, Chi et al.'s choice); docs/evaluation.md",
    )
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device", default="auto", choices=DEVICES, help=DEVICE_HELP)
    q.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    q.add_argument(
        "--checkpoints", type=int, default=1, metavar="K", help="also keep K evenly spaced checkpoints in OUT/step_<N>/"
    )
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_train_diffusion)
