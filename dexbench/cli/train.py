"""`dexbench train bc | diffusion`: the reference baselines, trained on a dataset (checkpoints)."""

from __future__ import annotations

from pathlib import Path

from dexbench.cli.common import CLIError
from dexbench.policies.device import DEVICE_HELP, DEVICES
from dexbench.policies.diffusion import PREDICTIONS


def _out_of_memory(err: BaseException) -> bool:
    text = str(err)
    return type(err).__name__ == "OutOfMemoryError" or "can't allocate memory" in text or "out of memory" in text


def _first_line(err: BaseException) -> str:
    line = next((x for x in str(err).splitlines() if x.strip()), type(err).__name__)
    return line if len(line) <= 200 else line[:200] + "..."


def add_bc_options(p) -> None:
    """The BC baseline's options (`train bc`, `compare`); `bc_config` reads them."""
    g = p.add_argument_group("BC baseline")
    # Defaults are BCConfig's: an option left out is not passed (`bc_config`).
    g.add_argument("--arch", choices=("mlp", "rnn"), help="MLP with action chunking (default), or LSTM")
    g.add_argument(
        "--obs",
        choices=("state", "rgb"),
        help="state observations (default), or camera images + the robot's proprioception (pixel BC, mlp; "
        "the dataset's images from `dexbench dataset render-obs`)",
    )
    g.add_argument("--steps", type=int, help="gradient steps (default 5000)")
    g.add_argument("--batch-size", type=int, help="default 256 mlp, 128 with --obs rgb, 64 rnn (windows of 10)")
    g.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    g.add_argument("--chunk", type=int, help="mlp: actions predicted per step (default 10)")
    g.add_argument("--seq-len", type=int, help="rnn: training window (default 10)")
    g.add_argument("--hidden", type=int, help="hidden width (default 256)")
    g.add_argument("--layers", type=int, help="layers (default 3 mlp, 2 rnn)")
    g.add_argument("--obs-noise", type=float, help="std of noise on normalised observations (default 0)")
    g.add_argument(
        "--gmm-modes",
        type=int,
        help="rnn: a Gaussian-mixture head of K modes trained by likelihood (BC-RNN-GMM; robomimic: 5)",
    )
    g.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    g.add_argument("--device", choices=DEVICES, help=DEVICE_HELP)


BC_OPTIONS = ("arch", "obs", "steps", "batch_size", "lr", "chunk", "seq_len", "hidden", "layers", "obs_noise")
BC_OPTIONS += ("gmm_modes",)
BC_OPTIONS += ("seed", "threads", "device")


def bc_config(args, keep_checkpoints: int = 0):
    """The `BCConfig` of the BC options the user gave (the others keep BCConfig's defaults),
    checked: a bad value is refused before any work, with BCConfig's message."""
    from dexbench.policies.bc.train import BCConfig

    given = {name: getattr(args, name) for name in BC_OPTIONS if getattr(args, name, None) is not None}
    given["keep_checkpoints"] = keep_checkpoints
    try:
        return BCConfig(**given)
    except ValueError as err:
        raise CLIError(str(err)) from err


def cmd_train_bc(args) -> int:
    import dataclasses

    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.policies.bc.data import load_demo_arrays
    from dexbench.policies.bc.train import train_bc
    from dexbench.policies.checkpoint_folders import check_checkpoint_out, clear_checkpoint

    if args.train_seeds < 1 or args.checkpoints < 1:
        raise CLIError(f"--train-seeds and --checkpoints must be >= 1, got {args.train_seeds} and {args.checkpoints}")
    config = bc_config(args, keep_checkpoints=args.checkpoints if args.checkpoints > 1 else 0)
    try:  # before any work: a training is not lost to an --out that cannot take it
        check_checkpoint_out(args.out, overwrite=args.overwrite)
    except (OSError, ValueError) as err:
        raise CLIError(str(err)) from err
    if args.overwrite:
        clear_checkpoint(args.out)
    outs = (
        [Path(args.out)]
        if args.train_seeds == 1
        else [Path(args.out) / f"seed_{args.seed + k}" for k in range(args.train_seeds)]
    )
    try:
        # Several seeds load the demos once; one seed keeps the file's path in its checkpoint.
        data = args.data if len(outs) == 1 else load_demo_arrays(args.data, max_demos=args.max_demos, obs=config.obs)
        for k, out in enumerate(outs):
            report = train_bc(
                data,
                out,
                dataclasses.replace(config, seed=args.seed + k),
                progress=not args.quiet,
                max_demos=args.max_demos,
            )
            print()
            print(report.table())
    except (DatasetError, FileNotFoundError, ValueError) as err:
        raise CLIError(str(err)) from err
    except (MemoryError, RuntimeError) as err:  # torch.OutOfMemoryError (CUDA) is a RuntimeError
        if not isinstance(err, MemoryError) and not _out_of_memory(err):
            raise
        raise CLIError(
            f"training ran out of memory ({_first_line(err)}); lower --batch-size (now "
            f"{config.batch_size}), or --hidden / --layers, or render the images smaller (render-obs --size) for "
            "pixel BC; "
            f"a checkpoint in {args.out} is the last one written before, if any"
        ) from err
    kept = " (and each step_<N>/ in it)" if args.checkpoints > 1 else ""
    print(
        f"\nevaluate each{kept}: dexbench eval --policy dexbench.policies:BCPolicy --checkpoint "
        f"{outs[0]} --env ENV_ID; `dexbench compare --train-seeds S --checkpoints K` reports the papers' "
        "best-checkpoint mean +- std"
    )
    return 0


DIFFUSION_ONLY = ("horizon", "n_obs", "n_action", "ddim_steps", "prediction", "channels")
DIFFUSION_OPTIONS = ("steps", "batch_size", "lr", "horizon", "n_obs", "n_action", "ddim_steps", "prediction")
DIFFUSION_OPTIONS += ("seed", "device", "threads")
BC_ONLY = ("arch", "obs", "chunk", "seq_len", "hidden", "layers", "obs_noise", "gmm_modes")


def add_diffusion_options(p) -> None:
    """The Diffusion Policy's own options (`train diffusion`, `compare --train diffusion`);
    `diffusion_config` reads them with the shared ones (--steps, --batch-size, --lr, ...)."""
    g = p.add_argument_group("Diffusion Policy")
    # Defaults are DiffusionConfig's: an option left out is not passed (`diffusion_config`).
    g.add_argument("--horizon", type=int, help="actions predicted per sample (default 16)")
    g.add_argument("--n-obs", type=int, help="observations conditioned on (default 2)")
    g.add_argument("--n-action", type=int, help="actions executed per prediction (default 8)")
    g.add_argument("--ddim-steps", type=int, help="DDIM steps at inference (default 10)")
    g.add_argument("--channels", help="U-Net widths per level (default 64,128,256; the paper's 256,512,1024)")
    g.add_argument(
        "--prediction",
        choices=PREDICTIONS,
        help="what the network predicts: the clean actions (sample, default: learns in far fewer steps "
        "on a CPU budget) or the noise (epsilon, Chi et al.'s choice); docs/evaluation.md",
    )


def learner_config(args, keep_checkpoints: int = 0):
    """The config of `--train bc|diffusion` (compare): the options given, each refused when it
    belongs to the other learner."""
    learner = args.train
    other = BC_ONLY if learner == "diffusion" else DIFFUSION_ONLY
    stray = [name for name in other if getattr(args, name, None) is not None]
    if stray:
        flag = "--" + stray[0].replace("_", "-")
        owner = "BC's" if learner == "diffusion" else "the Diffusion Policy's"
        raise CLIError(f"{flag} is {owner} option; leave it out with --train {learner}")
    return diffusion_config(args) if learner == "diffusion" else bc_config(args, keep_checkpoints)


def diffusion_config(args):
    """The `DiffusionConfig` of the options the user gave (the others keep its defaults)."""
    from dexbench.policies.diffusion.train import DiffusionConfig

    given = {name: getattr(args, name) for name in DIFFUSION_OPTIONS if getattr(args, name) is not None}
    if args.channels is not None:
        try:
            given["channels"] = tuple(int(c) for c in args.channels.split(","))
        except ValueError as err:
            raise CLIError(
                f"--channels expects comma-separated integers, e.g. 64,128,256; got {args.channels!r}"
            ) from err
    if args.checkpoints < 1:
        raise CLIError(f"--checkpoints must be >= 1, got {args.checkpoints}")
    try:
        return DiffusionConfig(**given, keep_checkpoints=args.checkpoints if args.checkpoints > 1 else 0)
    except ValueError as err:
        raise CLIError(str(err)) from err


def cmd_train_diffusion(args) -> int:
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.policies.diffusion.train import train_diffusion

    config = diffusion_config(args)
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


def add_commands(sub) -> None:
    """Add these commands to the `dexbench` subcommand parser `sub`."""
    p = sub.add_parser("train", help="train the reference baseline on a dataset")
    tsub = p.add_subparsers(dest="train_command", metavar="BASELINE", required=True)
    q = tsub.add_parser("bc", help="behaviour cloning on state observations or camera images (torch, CPU)")
    q.add_argument("--data", required=True, metavar="FILE", help="demos (HDF5)")
    q.add_argument("--out", required=True, metavar="DIR", help="checkpoint directory (model.pt, config.json)")
    q.add_argument("--overwrite", action="store_true", help="replace the checkpoint an earlier train bc wrote in --out")
    q.add_argument("--max-demos", type=int, default=None, help="train on the first K demos only")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument(
        "--train-seeds",
        type=int,
        default=1,
        metavar="S",
        help="train S policies (seeds seed..seed+S-1) into OUT/seed_<s>/",
    )
    q.add_argument(
        "--checkpoints", type=int, default=1, metavar="K", help="also keep K evenly spaced checkpoints in OUT/step_<N>/"
    )
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_bc_options(q)
    q.set_defaults(func=cmd_train_bc)
    q = tsub.add_parser(
        "diffusion",
        help="Diffusion Policy on state observations (temporal U-Net, DDIM; torch). "
        "Experimental: it reproduces the demos' actions but succeeds less often than BC's MLP so "
        "far (docs/evaluation.md)",
    )
    q.add_argument("--data", required=True, metavar="FILE", help="demos (HDF5)")
    q.add_argument("--out", required=True, metavar="DIR", help="checkpoint directory (model.pt, config.json)")
    q.add_argument("--max-demos", type=int, default=None, help="train on the first K demos only")
    # Defaults are DiffusionConfig's: an option left out is not passed (`diffusion_config`).
    q.add_argument("--steps", type=int, help="gradient steps (default 5000)")
    q.add_argument("--batch-size", type=int, help="default 256")
    q.add_argument("--lr", type=float, help="learning rate (default 1e-4)")
    add_diffusion_options(q)
    q.add_argument("--seed", type=int, help="default 0")
    q.add_argument("--device", choices=DEVICES, help=DEVICE_HELP)
    q.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    q.add_argument(
        "--checkpoints", type=int, default=1, metavar="K", help="also keep K evenly spaced checkpoints in OUT/step_<N>/"
    )
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_train_diffusion)
