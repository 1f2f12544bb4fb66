"""Make submissions from what the suite writes: eval result JSONs -> a policy submission,
a `dexbench compare` summary -> one generator submission per generator (`dexbench leaderboard
submit`). The output is validated before it is written, so what this makes always passes
`dexbench leaderboard validate`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dexbench.jsonio import write_json_atomic
from dexbench.leaderboards.validate import check_submission

SOURCE_ROW = "source"  # the compare row that trains on the source demos alone


def policy_submission(name: str, authors: str, description: str, results: Sequence[dict[str, Any]],
                      training_data: dict[str, Any] | None = None, url: str | None = None) -> dict[str, Any]:
    """A policy submission holding eval `results` (one per env id)."""
    sub: dict[str, Any] = {"format": "dexbench-policy-submission", "format_version": 1, "name": name,
                           "authors": authors, "description": description}
    if url:
        sub["url"] = url
    if training_data:
        sub["training_data"] = training_data
    sub["results"] = list(results)
    check_submission(sub, label=name)
    return sub


def rows_from_compare(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Generator-board rows of one `dexbench compare` summary, keyed by data name (incl. source)."""
    rows = {}
    for row in summary["rows"]:
        result = json.loads(Path(row["eval"]).read_text())
        rows[row["data"]] = {
            "env_id": summary["env_id"], "source_env_id": summary["source_env_id"],
            "num_source_demos": summary["num_source_demos"], "num_demos": row["num_demos"],
            "attempts": row["attempts"], "generation_success_rate": row["generation_success_rate"],
            "demos_per_cpu_min": row["demos_per_cpu_min"], "seed": summary["seed"],
            "downstream": {"policy": summary["policy"], "train_steps": summary["bc_config"]["steps"], "eval": result},
        }
    return rows


def generator_submission(name: str, authors: str, description: str, rows: Sequence[dict[str, Any]],
                         url: str | None = None) -> dict[str, Any]:
    sub: dict[str, Any] = {"format": "dexbench-generator-submission", "format_version": 1, "name": name,
                           "authors": authors, "description": description}
    if url:
        sub["url"] = url
    sub["results"] = list(rows)
    check_submission(sub, label=name)
    return sub


def write_submission(submission: dict[str, Any], out: str | os.PathLike) -> Path:
    return write_json_atomic(out, submission)
