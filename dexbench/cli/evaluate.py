"""`dexbench eval`: a policy on the published seeds of an env id (result JSON; --perturb: visual factors)."""

from __future__ import annotations

import os
from pathlib import Path

from dexbench.cli.common import CLIError, add_backend_args, backend_of, env_entry, parse_overrides, user_errors
from dexbench.evaluation.sandbox import DEFAULT_EPISODE_TIMEOUT_S, DEFAULT_STEP_TIMEOUT_S


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
    with user_errors(PolicyLoadError, KeyError, ValueError, FileNotFoundError, PolicyFailure, BackendError):
        if per_factor:
            results = evaluate_perturbations(args.policy, entry.env_id, rows, **options)
        else:
            results = {
                "": evaluate(
                    args.policy, entry.env_id, env_kwargs=perturbation_env_kwargs(next(iter(rows.values()))), **options
                )
            }
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


def add_commands(sub) -> None:
    """Add these commands to the `dexbench` subcommand parser `sub`."""
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
