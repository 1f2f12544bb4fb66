"""One result, one number: a policy trained on a generator's demos is a row of both boards (the
policy board's `training_data` row and the generator board's downstream row). Both rows must hold
the same evaluation; when a rerun replaced one and not the other, the boards would show two
numbers for one result, so `build` refuses (`check_one_number`), naming both files and which is
the newer (its `created` time), rather than silently picking one: the files are what is
published, and the fix (replace the older row with the newer run's eval result) belongs in them.

A row's identity is (downstream policy name, training data, demo count, source-demo count, env id
and test set); two rows with that identity hold the same result when their evaluations are the
same run: the same `created` time, checkpoint hash, counts and episodes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dexbench.leaderboards.names import name_key
from dexbench.leaderboards.reading import SubmissionError, shown
from dexbench.leaderboards.tables import Submission, test_set_id
from dexbench.leaderboards.validate import GENERATION_FIELDS

SOURCE_DATA = "source"  # training_data.generator of a policy trained on the source demos alone


def _run(result: dict[str, Any]) -> tuple:
    """What makes two eval results the same run."""
    episodes = tuple((e["seed"], bool(e["success"]), e["length"]) for e in result["episodes"])
    return (
        result["created"],
        result["policy"].get("checkpoint_sha256"),
        result["successes"],
        result["num_episodes"],
        episodes,
    )


def _said(folder: Path, sub: Submission, i: int, result: dict[str, Any]) -> str:
    rate = 100 * result["successes"] / result["num_episodes"]
    return (
        f"{shown(folder / sub.file)} results[{i}] ({result['successes']}/{result['num_episodes']} = "
        f"{rate:.1f} %, evaluated {result['created']})"
    )


def check_one_number(subs: list[Submission], folder: str | os.PathLike = ".") -> None:
    """Every policy-board row with training data agrees with the generator-board row of the same
    result, if there is one; SubmissionError naming both files (under `folder`, the leaderboards
    folder) otherwise."""
    folder = Path(folder)
    downstream: dict[tuple, list[tuple[int | None, Submission, int, dict[str, Any]]]] = {}
    for sub in subs:
        if sub.kind != "generator":
            continue
        for i, row in enumerate(sub.data["results"]):
            result = row["downstream"]["eval"]
            data = sub.data["name"] if any(row[f] is not None for f in GENERATION_FIELDS) else SOURCE_DATA
            key = (name_key(row["downstream"]["policy"]), name_key(data), row["num_demos"], test_set_id(result))
            downstream.setdefault(key, []).append((row["num_source_demos"], sub, i, result))
    for sub in subs:
        training = sub.data.get("training_data") if sub.kind == "policy" else None
        if not training:
            continue
        for i, result in enumerate(sub.data["results"]):
            key = (
                name_key(result["policy"]["name"]),
                name_key(training["generator"]),
                training["num_demos"],
                test_set_id(result),
            )
            sources = training.get("source_demos")
            same = [c for c in downstream.get(key, []) if sources is None or c[0] == sources]
            if not same or any(_run(theirs) == _run(result) for _, _, _, theirs in same):
                continue
            _, other, j, theirs = max(same, key=lambda c: c[3]["created"])
            newer = shown(folder / (other.file if theirs["created"] > result["created"] else sub.file))
            what = (
                f"{result['policy']['name']} trained on {training['num_demos']} {training['generator']} demos"
                + (f" from {sources} sources" if sources is not None else "")
                + f" on {test_set_id(result)}"
            )
            raise SubmissionError(
                f"{_said(folder, sub, i, result)} and {_said(folder, other, j, theirs)} are one result ({what}) "
                f"with two different evaluations. A rerun replaces every row it supersedes: put the newer "
                f"evaluation (in {newer}) in both files (for a policy row, `dexbench leaderboard submit-policy` "
                "with the rerun's eval_*.json and --overwrite), then build again."
            )
