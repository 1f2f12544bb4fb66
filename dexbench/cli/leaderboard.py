"""`dexbench leaderboard validate | verify | build | submit-policy | submit-generators`: submissions and the pages."""

from __future__ import annotations

import sys
from pathlib import Path

from dexbench.cli.common import CLIError, add_backend_args, backend_of

# compare's row trained on the sources alone: no generator class to describe it.
SOURCE_DESCRIPTION = "No generation: the policy is trained on the source demos alone (the reference point)."


def generator_description(name: str) -> str:
    """A generator submission's description: the generator class's own (`Generator.description`),
    the name where it has none or is not installed here."""
    from dexbench.generators import get_generator

    if name == "source":
        return SOURCE_DESCRIPTION
    try:
        return get_generator(name).description or name
    except (KeyError, ImportError, TypeError):
        return name


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


def cmd_leaderboard_verify(args) -> int:
    from dexbench.jsonio import write_json_atomic
    from dexbench.leaderboards import SubmissionError
    from dexbench.leaderboards.submit import check_output
    from dexbench.leaderboards.verify import verification_table, verify_submission

    records = []
    try:
        if args.out is not None:
            check_output(args.out, "--out", inputs=args.files, overwrite=args.overwrite)
        for path in args.files:
            record = verify_submission(
                path,
                sample=None if args.all else args.episodes,
                workers=args.workers,
                backend=backend_of(args),
                checkpoints=args.checkpoints,
                progress=not args.quiet,
            )
            print(verification_table(record))
            records.append(record)
    except (SubmissionError, ValueError) as err:  # SubmissionError is a ValueError too
        raise CLIError(str(err)) from err
    if args.out is not None:
        print(f"wrote {write_json_atomic(args.out, records if len(records) > 1 else records[0])}")
    return 1 if any(r["status"] == "differs" for record in records for r in record["rows"]) else 0


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
    from dexbench.leaderboards.submit import (
        check_output,
        policy_submission,
        read_eval_result,
        ship_checkpoints,
        write_submission,
    )

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
        shipped = ship_checkpoints(results, args.checkpoint, args.out)
    except SubmissionError as err:
        raise CLIError(str(err)) from err
    try:
        print(f"wrote {write_submission(sub, args.out)}" + (f" and {len(shipped)} checkpoint(s)" if shipped else ""))
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
            subs[out] = generator_submission(label, args.authors, generator_description(name), rows, label=shown(out))
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


def add_commands(sub) -> None:
    """Add these commands to the `dexbench` subcommand parser `sub`."""
    p = sub.add_parser("leaderboard", help="validate submissions, build the leaderboard pages")
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="SUBCOMMAND", required=True)
    q = lsub.add_parser("validate", help="check submission JSON files: schema, consistency, and that the pages build")
    q.add_argument("files", nargs="+", metavar="FILE")
    q.set_defaults(func=cmd_leaderboard_validate)
    q = lsub.add_parser(
        "verify",
        help="re-run a sample of each row's episodes (policy submissions) or generation attempts (generator "
        "submissions) and compare them one by one",
        description="Exit status 1 when a row differs from its submission; unverifiable rows say why.",
    )
    q.add_argument("files", nargs="+", metavar="FILE")
    q.add_argument(
        "--episodes",
        type=int,
        default=5,
        help="episodes (or attempts) re-run per row (default 5; chosen from the file's hash)",
    )
    q.add_argument("--all", action="store_true", help="re-run every episode (or attempt) of every row")
    q.add_argument("--workers", type=int, default=1)
    add_backend_args(q)
    q.add_argument(
        "--checkpoints", default=None, metavar="DIR", help="a folder of <sha256>/ checkpoints to look in first"
    )
    q.add_argument("--out", default=None, metavar="FILE.json", help="write the verification record here")
    q.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    q.add_argument("-q", "--quiet", action="store_true")
    q.set_defaults(func=cmd_leaderboard_verify)
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
    q.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="DIR",
        help="a checkpoint folder the results were evaluated with (repeatable): copied to checkpoints/<sha256>/ "
        "beside --out, so `leaderboard verify` can re-run the rows",
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
