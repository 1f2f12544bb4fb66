"""The evaluation side of the `dexbench` command line: eval | train | compare | flywheel | leaderboard.

Thin like the rest of the CLI: each command parses its arguments and calls library code
(`dexbench.evaluation`, `dexbench.policies.bc`, `dexbench.leaderboards`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dexbench.cli_common import CLIError, add_backend_args, backend_of, env_entry, parse_overrides
from dexbench.evaluation.sandbox import DEFAULT_EPISODE_TIMEOUT_S, DEFAULT_STEP_TIMEOUT_S
from dexbench.policies.device import DEVICE_HELP, DEVICES

GENERATOR_DESCRIPTIONS = {
    "mimicgen": "DexMimicGen-style generation: per-arm subtask segments carried by object-centric transforms, "
    "parallel / coordinated / sequential scheduling.",
    "demo_noise": "Noisy replay: a source demo replayed from its own initial state with Gaussian action noise.",
    "source": "No generation: the policy is trained on the source demos alone (the reference point).",
}


def _parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as err:
        raise CLIError(f"--seeds expects comma-separated integers, e.g. 0,1,2; got {text!r}") from err
    if any(s < 0 for s in seeds):
        raise CLIError(f"--seeds must be >= 0 (numpy seeds), got {text!r}")
    return seeds


def cmd_eval(args) -> int:
    from dexbench.backends import BackendError
    from dexbench.evaluation import evaluate, result_table, write_result
    from dexbench.evaluation.perturbations import (
        evaluate_perturbations,
        perturbation_env_kwargs,
        perturbation_rows,
        perturbation_table,
    )
    from dexbench.evaluation.sandbox import PolicyFailure
    from dexbench.jsonio import check_writable
    from dexbench.policies.base import PolicyLoadError

    entry = env_entry(args.env)
    try:
        rows = perturbation_rows(args.perturb) if args.perturb is not None else {"none": ()}
    except ValueError as err:
        raise CLIError(str(err)) from err
    per_factor = len(rows) > 1  # --perturb each: --out is a folder of results and a table
    kwargs = parse_overrides(args.policy_arg, "--policy-arg")
    if args.checkpoint:
        kwargs["checkpoint"] = args.checkpoint
    if args.seeds is not None and args.episodes is not None:
        raise CLIError("--seeds and --episodes contradict each other: --seeds gives the episodes; pass one")
    if args.videos < 0:
        raise CLIError(f"--videos must be >= 0, got {args.videos}")
    out = Path(args.out) if args.out else None
    outs = [out / f"{name}.json" for name in rows] if per_factor and out else [out] if out else []
    if per_factor and out is not None and out.exists() and not out.is_dir():
        raise CLIError(f"--perturb each writes a folder of results; {out} is a file: give a folder as --out")
    if per_factor and out is not None and out.suffix.lower() == ".json" and not out.is_dir():
        raise CLIError(
            f"--perturb each writes a folder of results (one JSON per row and a table), not the file "
            f"{out}: give a folder as --out, e.g. {out.with_suffix('')}"
        )
    table_out = out / "perturbations.md" if per_factor and out is not None else None
    taken = [o for o in [*outs, table_out] if o is not None and os.path.lexists(o)]
    if taken and not args.overwrite:
        raise CLIError(f"{taken[0]} already exists; choose another --out or pass --overwrite")
    # The outputs rule: --overwrite replaces only what eval writes (a result, its table).
    foreign = next(
        (
            o
            for o in taken
            if o.is_symlink() or not (_is_perturbation_table(o) if o == table_out else _is_eval_result(o))
        ),
        None,
    )
    if foreign is not None:
        raise CLIError(
            f"{foreign} is not {'a perturbation table' if foreign == table_out else 'an eval result'} "
            "eval wrote, so --overwrite does not replace it; move it away, or give another --out"
        )
    try:  # before the evaluation, not after it
        for o in outs:
            check_writable(o)
        if args.video:
            check_writable(Path(args.video) / "probe.mp4")
    except OSError as err:
        raise CLIError(str(err)) from err
    options = dict(
        episodes=50 if args.episodes is None else args.episodes,
        seeds=_parse_seeds(args.seeds),
        workers=args.workers,
        policy_kwargs=kwargs,
        video_dir=args.video,
        videos=args.videos,
        progress=not args.quiet,
        step_timeout_s=args.step_timeout,
        episode_timeout_s=args.episode_timeout,
        backend=backend_of(args),
    )
    try:
        if per_factor:
            results = evaluate_perturbations(args.policy, entry.env_id, rows, **options)
        else:
            results = {
                "": evaluate(
                    args.policy, entry.env_id, env_kwargs=perturbation_env_kwargs(next(iter(rows.values()))), **options
                )
            }
    except (PolicyLoadError, KeyError, ValueError, FileNotFoundError, PolicyFailure, BackendError) as err:
        raise CLIError(str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)) from err
    for result, o in zip(results.values(), outs):
        write_result(result, o)
    print()
    if per_factor:
        table = perturbation_table(results)
        print(table)
        if table_out is not None:
            table_out.write_text(table + "\n")
            print(f"\nwrote {out}/<row>.json and {out}/perturbations.md")
        return 0
    print(result_table(results[""]))
    if out is not None:
        print(f"\nwrote {out}")
    return 0


def _out_of_memory(err: BaseException) -> bool:
    text = str(err)
    return type(err).__name__ == "OutOfMemoryError" or "can't allocate memory" in text or "out of memory" in text


def _first_line(err: BaseException) -> str:
    line = next((x for x in str(err).splitlines() if x.strip()), type(err).__name__)
    return line if len(line) <= 200 else line[:200] + "..."


def _is_eval_result(path: Path) -> bool:
    import json

    try:
        return path.is_file() and json.loads(path.read_text(encoding="utf-8")).get("format") == "dexbench-eval-result"
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


def _is_perturbation_table(path: Path) -> bool:
    try:
        return path.is_file() and path.read_text(encoding="utf-8").startswith("| factor |")
    except (OSError, UnicodeDecodeError):
        return False


def _bc_config(args):
    from dexbench.policies.bc.train import BCConfig

    if args.batch_size is not None and args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    # An LSTM sample is seq_len steps; an image sample runs the conv encoder (docs/evaluation.md: Pixel BC).
    batch_size = args.batch_size or (64 if args.arch == "rnn" else 128 if args.obs == "rgb" else 256)
    if args.obs == "rgb" and args.arch != "mlp":
        raise CLIError(f"--obs rgb trains the mlp architecture (action chunking); leave out --arch {args.arch}")
    return BCConfig(
        arch=args.arch,
        obs=args.obs,
        steps=args.steps,
        batch_size=batch_size,
        lr=args.lr,
        chunk=args.chunk,
        seq_len=args.seq_len,
        hidden=args.hidden,
        layers=args.layers or (3 if args.arch == "mlp" else 2),
        obs_noise=args.obs_noise,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
    )


def cmd_train_bc(args) -> int:
    import dataclasses

    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.policies.bc.data import load_demo_arrays
    from dexbench.policies.bc.train import check_checkpoint_out, clear_checkpoint, train_bc

    if args.train_seeds < 1 or args.checkpoints < 1:
        raise CLIError(f"--train-seeds and --checkpoints must be >= 1, got {args.train_seeds} and {args.checkpoints}")
    config = dataclasses.replace(_bc_config(args), keep_checkpoints=args.checkpoints if args.checkpoints > 1 else 0)
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
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except (KeyError, DatasetError, FileNotFoundError, ValueError) as err:
        if made and Path(workdir).is_dir() and not any(Path(workdir).iterdir()):
            Path(workdir).rmdir()  # a request refused up front leaves no empty work folder
        if isinstance(err, KeyError):
            raise CLIError(str(err.args[0]) if err.args else str(err)) from err
        raise CLIError(str(err)) from err
    table = flywheel_table(report)
    Path(workdir, "flywheel_report.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nsaved {Path(workdir, 'flywheel_report.json')} and flywheel_report.md")
    return 0


def cmd_compare(args) -> int:
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.pipelines.compare import compare_generators, compare_table

    entry = env_entry(args.env)
    if args.train != "bc":
        raise CLIError(f"--train {args.train!r}: the only baseline is bc")
    generators = [g.strip() for g in args.generators.split(",") if g.strip()]
    if not generators:
        raise CLIError("--generators is empty; name at least one, e.g. mimicgen,demo_noise")
    workdir = args.workdir or f"compare_{entry.env_id.split('/')[-1]}"
    if Path(workdir).exists() and not Path(workdir).is_dir():
        raise CLIError(f"--workdir {workdir} is a file; give a folder (it is created if missing)")
    if args.obs != "rgb" and (args.cameras is not None or args.image_size is not None):
        raise CLIError("--cameras and --image-size choose the images of pixel BC; add --obs rgb, or leave them out")
    cameras = [c.strip() for c in (args.cameras or "agentview").split(",") if c.strip()]
    try:
        summary = compare_generators(
            entry.env_id,
            args.source,
            generators,
            args.n,
            workdir,
            episodes=args.episodes,
            seed=args.seed,
            workers=args.workers,
            bc_config=_bc_config(args),
            include_source=not args.no_source,
            progress=not args.quiet,
            train_seeds=args.train_seeds,
            checkpoints=args.checkpoints,
            objects=args.objects,
            backend=backend_of(args),
            cameras=cameras,
            image_size=84 if args.image_size is None else args.image_size,
        )
    except KeyError as err:
        raise CLIError(str(err.args[0]) if err.args else str(err)) from err
    except (DatasetError, FileNotFoundError, ValueError) as err:
        raise CLIError(str(err)) from err
    table = compare_table(summary)
    Path(workdir, "compare.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nsaved {Path(workdir, 'compare.json')} and compare.md")
    return 0


def cmd_leaderboard_validate(args) -> int:
    from dexbench.leaderboards import SubmissionError, validate_submission

    bad = 0
    for path in args.files:
        try:
            kind = validate_submission(path)
            print(f"{path}: valid {kind} submission")
        except SubmissionError as err:
            print(f"{err}", file=sys.stderr)
            bad += 1
    return 2 if bad else 0


def cmd_leaderboard_build(args) -> int:
    from dexbench.leaderboards import BoardFolderError, SubmissionError, build_leaderboards

    try:
        paths = build_leaderboards(args.dir)
    except (SubmissionError, BoardFolderError) as err:
        raise CLIError(str(err)) from err
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_leaderboard_submit_policy(args) -> int:
    from dexbench.leaderboards import SubmissionError
    from dexbench.leaderboards.reading import shown
    from dexbench.leaderboards.submit import check_output, policy_submission, read_eval_result, write_submission

    # A count without --train-data would be dropped from the submission: refused instead.
    counts = [
        flag
        for flag, value in (("--train-demos", args.train_demos), ("--source-demos", args.source_demos))
        if value is not None
    ]
    if args.train_data is None and counts:
        raise CLIError(
            f"{counts[0]} needs --train-data (the generator of the training demos, e.g. mimicgen, "
            "demo_noise or source). Add it, or leave out the count for an untrained policy."
        )
    training = None
    if args.train_data is not None:
        training = {"generator": args.train_data, "num_demos": args.train_demos or 0}
        if args.source_demos is not None:
            training["source_demos"] = args.source_demos
    try:
        check_output(args.out, "--out", inputs=args.results, overwrite=args.overwrite)
        results = [read_eval_result(f) for f in args.results]
        sub = policy_submission(
            args.name, args.authors, args.description, results, training, url=args.url, label=shown(args.out)
        )
    except SubmissionError as err:
        raise CLIError(str(err)) from err
    try:
        print(f"wrote {write_submission(sub, args.out)}")
    except OSError as err:
        raise CLIError(
            f"{shown(args.out)}: cannot write it ({err.strerror}). Give a writable --out file path, e.g. "
            "leaderboards/policies/NAME.json."
        ) from err
    return 0


def cmd_leaderboard_submit_generators(args) -> int:
    from dexbench.leaderboards import SubmissionError
    from dexbench.leaderboards.reading import shown
    from dexbench.leaderboards.submit import (
        check_out_dir,
        check_output,
        generator_submission,
        rows_from_compare,
        submission_path,
        write_submission,
    )

    by_generator: dict[str, list] = {}
    subs = {}
    taken: list[tuple[Path, SubmissionError]] = []  # outputs that would destroy a file: all named, one explained
    try:
        check_out_dir(args.out_dir)
        for f in args.compare:
            for name, row in rows_from_compare(f).items():
                by_generator.setdefault(name, []).append(row)
        for name, rows in by_generator.items():
            label = "source-only" if name == "source" else name
            # The file name comes from the generator name in the summaries: made safe, inside --out-dir.
            out = submission_path(args.out_dir, label)
            if out in subs:
                raise SubmissionError(
                    f"{out}: both {subs[out]['name']!r} and {label!r} would be written here. Rename one generator."
                )
            # Inputs: each summary and the eval results and reports beside it that rows_from_compare read.
            inputs = [p for f in args.compare for p in (Path(f), *Path(f).parent.glob("*.json"))]
            try:
                check_output(out, "--out-dir", inputs=inputs, overwrite=args.overwrite)
            except SubmissionError as err:
                taken.append((out, err))
            subs[out] = generator_submission(
                label, args.authors, GENERATOR_DESCRIPTIONS.get(name, name), rows, label=shown(out)
            )
    except SubmissionError as err:
        raise CLIError(str(err)) from err
    if taken:
        also = f" Also taken: {', '.join(shown(out) for out, _ in taken[1:])}." if taken[1:] else ""
        raise CLIError(f"{taken[0][1]}{also}")
    for out, sub in subs.items():  # written only once all are made: no half-updated folder
        try:
            print(f"wrote {write_submission(sub, out)}")
        except OSError as err:
            raise CLIError(f"{shown(out)}: cannot write it ({err.strerror}). Give a writable --out-dir.") from err
    return 0


def add_evaluation_commands(sub) -> None:
    """Add eval, train, compare and leaderboard to the `dexbench` subcommand parser `sub`."""
    p = sub.add_parser("eval", help="evaluate a policy on the published seeds of an env id (result JSON)")
    p.add_argument(
        "--policy",
        required=True,
        metavar="MODULE:ATTR",
        help="policy class or factory, e.g. dexbench.policies:ScriptedPolicy, dexbench.policies:BCPolicy",
    )
    p.add_argument("--env", required=True, metavar="ID")
    p.add_argument("--episodes", type=int, default=None, help="episodes on the published seeds (default 50, max 200)")
    p.add_argument("--seeds", default=None, metavar="S,S,...", help="custom reset seeds instead of the published ones")
    p.add_argument("--checkpoint", default=None, metavar="DIR", help="policy checkpoint (passed as checkpoint=DIR)")
    p.add_argument(
        "--policy-arg",
        nargs="+",
        action="extend",
        metavar="KEY=VALUE",
        help="more keyword arguments for the policy factory (strings)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="workers: processes, or Ray tasks (results do not depend on it)"
    )
    add_backend_args(p)
    p.add_argument(
        "--out", default=None, metavar="FILE.json", help="write the result JSON here (a folder with --perturb each)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument(
        "--perturb",
        default=None,
        metavar="FACTOR[,FACTOR...]",
        help="visual factors on (lighting, textures, object_colors, camera, distractors, or all); "
        "'each': one row per factor, with none and all (docs/evaluation.md)",
    )
    p.add_argument("--video", default=None, metavar="DIR", help="film the first --videos rollouts into DIR (mp4)")
    p.add_argument("--videos", type=int, default=3, help="rollouts to film with --video (default 3)")
    p.add_argument(
        "--step-timeout",
        type=float,
        default=DEFAULT_STEP_TIMEOUT_S,
        metavar="S",
        help=f"deadline of one policy reset()/act() call (default {DEFAULT_STEP_TIMEOUT_S:g} s)",
    )
    p.add_argument(
        "--episode-timeout",
        type=float,
        default=DEFAULT_EPISODE_TIMEOUT_S,
        metavar="S",
        help=f"deadline of one episode (default {DEFAULT_EPISODE_TIMEOUT_S:g} s)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    def bc_options(p) -> None:
        g = p.add_argument_group("BC baseline")
        g.add_argument("--arch", default="mlp", choices=("mlp", "rnn"), help="MLP with action chunking, or LSTM")
        g.add_argument(
            "--obs",
            default="state",
            choices=("state", "rgb"),
            help="state observations, or camera images + the robot's proprioception (pixel BC, mlp; "
            "the dataset's images from `dexbench dataset render-obs`)",
        )
        g.add_argument("--steps", type=int, default=5_000, help="gradient steps (default 5000)")
        g.add_argument(
            "--batch-size", type=int, default=None, help="default 256 mlp, 128 with --obs rgb, 64 rnn (windows of 10)"
        )
        g.add_argument("--lr", type=float, default=1e-3)
        g.add_argument("--chunk", type=int, default=10, help="mlp: actions predicted per step (default 10)")
        g.add_argument("--seq-len", type=int, default=10, help="rnn: training window (default 10)")
        g.add_argument("--hidden", type=int, default=256, help="hidden width (default 256)")
        g.add_argument("--layers", type=int, default=None, help="layers (default 3 mlp, 2 rnn)")
        g.add_argument("--obs-noise", type=float, default=0.0, help="std of noise on normalised observations")
        g.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
        g.add_argument("--device", default="auto", choices=DEVICES, help=DEVICE_HELP)

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
    bc_options(q)
    q.set_defaults(func=cmd_train_bc)
    from dexbench.policies.diffusion.cli import add_train_diffusion

    add_train_diffusion(tsub)

    p = sub.add_parser("compare", help="generate with each generator, train BC on each dataset, evaluate (one table)")
    p.add_argument("--env", required=True, metavar="ID", help="env id to generate for and evaluate on")
    p.add_argument("--source", required=True, metavar="FILE", help="source demos (HDF5)")
    p.add_argument(
        "--generators",
        default="mimicgen,demo_noise",
        help="comma-separated (default mimicgen,demo_noise); NAME:KEY=VALUE[:KEY=VALUE] is a row with "
        "the generator's config changed, e.g. mimicgen:coordination_scheme=transform",
    )
    p.add_argument("-n", type=int, required=True, help="demos to generate per generator")
    p.add_argument("--train", default="bc", help="baseline to train (bc)")
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
    p.add_argument(
        "--cameras",
        default=None,
        metavar="CAM,CAM",
        help="with --obs rgb: the cameras rendered into each dataset (default agentview)",
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
    bc_options(p)
    p.set_defaults(func=cmd_compare)

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
    p.add_argument("--workers", type=int, default=1, help="worker processes for generation and evaluation")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="make the run's own demos again (a stage made with other settings runs again anyway)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_flywheel)

    p = sub.add_parser("leaderboard", help="validate submissions, build the leaderboard pages")
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="SUBCOMMAND", required=True)
    q = lsub.add_parser("validate", help="check submission JSON files: schema, consistency, and that the pages build")
    q.add_argument("files", nargs="+", metavar="FILE")
    q.set_defaults(func=cmd_leaderboard_validate)
    q = lsub.add_parser("build", help="render leaderboards/README.md and index.html from the submissions")
    q.add_argument("--dir", default="leaderboards", help="leaderboards directory (default leaderboards)")
    q.set_defaults(func=cmd_leaderboard_build)
    q = lsub.add_parser("submit-policy", help="wrap eval result JSONs into a policy submission")
    q.add_argument("results", nargs="+", metavar="RESULT.json", help="results of `dexbench eval --out`")
    q.add_argument("--name", required=True)
    q.add_argument("--authors", required=True)
    q.add_argument("--description", required=True)
    q.add_argument("--url", default=None)
    q.add_argument(
        "--train-data", default=None, metavar="NAME", help="training data, e.g. mimicgen, demo_noise, source"
    )
    q.add_argument("--train-demos", type=int, default=None, help="number of training demos (with --train-data)")
    q.add_argument(
        "--source-demos", type=int, default=None, help="source demos the training data came from (with --train-data)"
    )
    q.add_argument("--out", required=True, metavar="FILE.json")
    q.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    q.set_defaults(func=cmd_leaderboard_submit_policy)
    q = lsub.add_parser("submit-generators", help="one generator submission per generator from compare results")
    q.add_argument("compare", nargs="+", metavar="compare.json", help="summaries written by `dexbench compare`")
    q.add_argument("--authors", required=True)
    q.add_argument("--out-dir", default="leaderboards/generators")
    q.add_argument("--overwrite", action="store_true", help="replace submissions of the same name in --out-dir")
    q.set_defaults(func=cmd_leaderboard_submit_generators)
