"""Make submissions from what the suite writes: eval result JSONs -> a policy submission,
`dexbench compare` summaries -> one generator submission per generator (`dexbench leaderboard
submit-policy` / `submit-generators`). The output is checked before it is written, so what this
makes always passes `dexbench leaderboard validate`.

The files read here are JSON only (`reading`); names from them never choose where a file goes
outside the given folder (`submission_path`). An existing file is replaced only with --overwrite,
and an input file never (`check_output`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dexbench.jsonio import write_json_atomic
from dexbench.leaderboards.reading import SubmissionError, read_json_file, shown
from dexbench.leaderboards.validate import check_submission, read_and_check, schema_fields

SOURCE_ROW = "source"  # the compare row that trains on the source demos alone


def read_eval_result(path: str | os.PathLike) -> dict[str, Any]:
    """An eval result file (`dexbench eval --out`), read as untrusted JSON."""
    obj = read_json_file(path, "evaluation result", quotable_keys=schema_fields())
    if not isinstance(obj, dict) or obj.get("format") != "dexbench-eval-result":
        raise SubmissionError(
            f'{shown(path)}: not an evaluation result (format "dexbench-eval-result"). '
            "Give the JSON files `dexbench eval --out` wrote."
        )
    return obj


def policy_submission(
    name: str,
    authors: str,
    description: str,
    results: Sequence[dict[str, Any]],
    training_data: dict[str, Any] | None = None,
    url: str | None = None,
    label: str = "submission",
) -> dict[str, Any]:
    """A policy submission holding eval `results` (one per env id); `label` (where it goes) starts
    an error."""
    sub: dict[str, Any] = {
        "format": "dexbench-policy-submission",
        "format_version": 1,
        "name": name,
        "authors": authors,
        "description": description,
    }
    if url:
        sub["url"] = url
    if training_data:
        sub["training_data"] = training_data
    sub["results"] = list(results)
    check_submission(sub, label=label)  # not the name: it may be long or break the line
    return sub


def rows_from_compare(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Generator-board rows of one `dexbench compare` summary file, keyed by data name (incl.
    source). Compare keeps what a row needs beside the summary: the downstream evaluation
    `eval_<data>.json` and, for a generator, the generation report `<data>.report.json` (its CPU
    time); they are looked up there, never outside that folder."""
    path = Path(path)
    summary = read_json_file(path, "compare summary")
    if not isinstance(summary, dict) or summary.get("format") != "dexbench-compare":
        raise SubmissionError(
            f'{shown(path)}: not a compare summary (format "dexbench-compare"). Give the '
            "compare.json `dexbench compare` wrote in its work directory."
        )
    if not summary.get("rows"):  # compare stopped before its first row, or the rows were removed
        raise SubmissionError(
            f"{shown(path)}: the comparison has no rows, so there is nothing to submit. Give "
            "the compare.json of a finished `dexbench compare` run."
        )
    rows = {}
    try:
        for row in summary["rows"]:
            name = row["data"]
            cpu_s, generation = None, None
            if name != SOURCE_ROW:
                report = read_json_file(inside(path.parent, f"{name}.report.json"), "generation report")
                cpu_s = report["cpu_s"]
                generation = _generation(inside(path.parent, f"{name}.hdf5"), summary.get("source"))
            rows[name] = {
                "env_id": summary["env_id"],
                "source_env_id": summary["source_env_id"],
                "num_source_demos": summary["num_source_demos"],
                "num_demos": row["num_demos"],
                "attempts": row["attempts"],
                "generation_success_rate": row["generation_success_rate"],
                "demos_per_cpu_min": row["demos_per_cpu_min"],
                "cpu_s": cpu_s,
                "seed": summary["seed"],
                **({"generation": generation} if generation else {}),
                "downstream": {
                    "policy": summary["policy"],
                    # compare.json before the Diffusion Policy named BC's config "bc_config"
                    "train_steps": summary.get("train_config", summary.get("bc_config"))["steps"],
                    "eval": read_eval_result(inside(path.parent, f"eval_{name}.json")),
                },
            }
    except (KeyError, TypeError) as err:  # what compare writes always has these fields
        raise SubmissionError(
            f"{shown(path)}: a compare summary (or its report) without the field {err}. Give "
            "the files `dexbench compare` wrote, unchanged."
        ) from None
    return rows


def _generation(data: Path, source: str | None) -> dict[str, Any] | None:
    """A row's generation record (`generation_records.py`), or None when its dataset or its
    sources are no longer where compare left them (the row's numbers are still submitted;
    verify will say that it cannot re-run it)."""
    from dexbench.leaderboards.generation_records import generation_record

    if source is None or not data.is_file() or not Path(source).is_file():
        return None
    return generation_record(data, source)


def generator_submission(
    name: str,
    authors: str,
    description: str,
    rows: Sequence[dict[str, Any]],
    url: str | None = None,
    label: str = "submission",
) -> dict[str, Any]:
    """A generator submission holding `rows` (see `rows_from_compare`); `label` starts an error."""
    sub: dict[str, Any] = {
        "format": "dexbench-generator-submission",
        "format_version": 1,
        "name": name,
        "authors": authors,
        "description": description,
    }
    if url:
        sub["url"] = url
    sub["results"] = list(rows)
    check_submission(sub, label=label)
    return sub


def safe_file_name(name: str) -> str:
    """`name` as a plain file name (letters, digits, '.', '_', '-'; no leading dot), with .json:
    what a board folder accepts (`validate.FILE_NAME`)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip("._-")[:95] or "submission"
    return f"{stem}.json"


def inside(folder: str | os.PathLike, name: str) -> Path:
    """`folder / name`, refused if it resolves outside `folder` (a name holding ../ or a link)."""
    folder = Path(folder)
    path = folder / name
    if not path.resolve().is_relative_to(folder.resolve()) or path.resolve() == folder.resolve():
        raise SubmissionError(f"{shown(path)}: outside {shown(folder)}. Give a plain file name.")
    return path


def submission_path(out_dir: str | os.PathLike, name: str) -> Path:
    """Where the submission named `name` goes in `out_dir`: a safe file name, inside the folder."""
    return inside(out_dir, safe_file_name(name))


def check_output(
    out: str | os.PathLike, flag: str, inputs: Sequence[str | os.PathLike] = (), overwrite: bool = False
) -> None:
    """Refuse to write a submission where it would destroy something: one of the files it is made
    from (even with --overwrite), a folder, or an existing file without `overwrite`. `flag` names
    the option that chose `out` ("--out", "--out-dir") in the fix."""
    out = Path(out)
    if not os.path.lexists(out):
        return
    if any(_same_file(out, f) for f in inputs):
        raise SubmissionError(
            f"{shown(out)}: the output is one of the input files, and writing it would destroy "
            f"that input. Give another {flag}."
        )
    if out.is_dir():
        raise SubmissionError(
            f"{shown(out)}: a folder, not a file. Give a file path as {flag}, e.g. {shown(out / 'NAME.json')}."
        )
    if not overwrite:
        raise SubmissionError(
            f"{shown(out)}: {_what_it_holds(out)}. Pass --overwrite to replace it, or give another {flag}."
        )


def _same_file(a: Path, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them cannot be looked up: not a file this command read
        return False


# How to keep the results of a submission that would be replaced: the submit tools merge what
# one command line gives them.
KEEP_RESULTS = {
    "generator": "give its compare.json files on this command line too, so that their rows are kept",
    "policy": "give its eval results on this command line too, so that they are kept",
}


def _what_it_holds(path: Path) -> str:
    """What an existing output file holds, said so that the loss of replacing it is clear."""
    try:
        data, kind = read_and_check(path)
    except SubmissionError:  # not a valid submission: nothing more to say than that it exists
        return "the file exists and would be replaced"
    return (
        f"already holds the {kind} submission {shown(data['name'][:100])!r} with {len(data['results'])} "
        f"result(s), which replacing it loses (to add to it, {KEEP_RESULTS[kind]})"
    )


def check_out_dir(out_dir: str | os.PathLike) -> None:
    """`--out-dir` is a folder, or not there yet (it is made)."""
    if os.path.lexists(out_dir) and not Path(out_dir).is_dir():
        raise SubmissionError(
            f"--out-dir {shown(out_dir)}: a file, not a folder. Give a folder, e.g. leaderboards/generators."
        )


def write_submission(submission: dict[str, Any], out: str | os.PathLike) -> Path:
    return write_json_atomic(out, submission)


def ship_checkpoints(
    results: Sequence[dict[str, Any]], checkpoints: Sequence[str | os.PathLike], out: str | os.PathLike
) -> list[Path]:
    """Copy each checkpoint folder (its plain files `CHECKPOINT_FILES`) to `checkpoints/<SHA-256
    of its model.pt>/` beside the submission `out`, where `verify` looks for it. A checkpoint no
    result row names is refused (it would ship weights the board never ranks), and so is a link
    or a missing file. Returns the folders written."""
    import hashlib
    import shutil
    import stat

    from dexbench.leaderboards.verify import CHECKPOINT_FILES, CHECKPOINTS_FOLDER

    named = {r["policy"].get("checkpoint_sha256") for r in results}
    shipped = []
    for folder in map(Path, checkpoints):
        for name in CHECKPOINT_FILES:
            try:
                mode = os.lstat(folder / name).st_mode
            except OSError:
                raise SubmissionError(
                    f"--checkpoint {shown(folder)}: it has no {name} (give a checkpoint folder)"
                ) from None
            if not stat.S_ISREG(mode):
                raise SubmissionError(
                    f"--checkpoint {shown(folder / name)} is not a plain file (links are not followed)"
                )
        sha = hashlib.sha256((folder / "model.pt").read_bytes()).hexdigest()
        if sha not in named:
            raise SubmissionError(
                f"--checkpoint {shown(folder)}: no result row was evaluated with it (SHA-256 {sha[:12]}...); "
                "give the checkpoints of these results only"
            )
        target = Path(out).parent / CHECKPOINTS_FOLDER / sha
        target.mkdir(parents=True, exist_ok=True)
        for name in CHECKPOINT_FILES:
            shutil.copyfile(folder / name, target / name)
        shipped.append(target)
    return shipped
