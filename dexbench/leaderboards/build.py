"""Building the leaderboard pages: validate every submission in `leaderboards/policies/` and
`leaderboards/generators/`, turn them into table rows per task, and write README.md and
index.html (rendered by `dexbench.leaderboards.render`) atomically.

One bad file aborts the whole build before anything is written, so the published pages never mix
checked and unchecked results.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

from dexbench.leaderboards.validate import (
    SubmissionError,
    check_submission,
    read_submission,
)

NAN = float("nan")
KINDS = {"policy": "policies", "generator": "generators"}  # kind -> folder of its submissions


@dataclasses.dataclass
class Row:
    """One table row. `cells` hold plain text (untrusted: the renderers escape it) and `sort` a
    numeric sort key per cell (None: sort by text; NaN: a missing number, sorted last)."""

    task: str
    env_id: str
    native: bool
    rate: float
    cells: list[str]
    sort: list[float | None]
    url: str | None = None  # link of the first cell (the submission's url)

    def order(self) -> tuple:
        return (not self.native, self.env_id, -self.rate, self.cells[0].lower())


@dataclasses.dataclass
class Submission:
    path: Path
    kind: str
    data: dict[str, Any]


def load_submissions(directory: Path) -> list[Submission]:
    """Every `policies/*.json` and `generators/*.json`, validated; the first bad one raises."""
    subs: list[Submission] = []
    names: dict[tuple[str, str], Path] = {}
    for kind, folder in KINDS.items():
        for path in sorted((directory / folder).glob("*.json")):
            data = read_submission(path)
            found = check_submission(data, str(path))
            if found != kind:
                raise SubmissionError(f"{path}: format: a {found} submission in {folder}/. "
                                      f"Move it to {KINDS[found]}/.")
            key = (kind, data["name"].strip().lower())
            if key in names:
                raise SubmissionError(f"{path}: name: {data['name']!r} is already the name of {names[key]}. "
                                      f"Give each {kind} submission its own name.")
            names[key] = path
            subs.append(Submission(path, kind, data))
    return subs


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f} %"


def rate_with_ci(result: dict[str, Any]) -> str:
    """`92.0 % [81.2, 96.8]`."""
    lo, hi = result["ci95"]
    return f"{percent(result['success_rate'])} [{100 * lo:.1f}, {100 * hi:.1f}]"


def policy_rows(subs: list[Submission]) -> list[Row]:
    rows = []
    for sub in subs:
        if sub.kind != "policy":
            continue
        training = sub.data.get("training_data")
        trained = f"{training['generator']} x{training['num_demos']}" if training else "-"
        for result in sub.data["results"]:
            rows.append(Row(
                task=result["task"], env_id=result["env_id"], native=result["native"],
                rate=result["success_rate"], url=sub.data.get("url"),
                cells=[sub.data["name"], env_cell(result), rate_with_ci(result), str(result["num_episodes"]),
                       trained, result["suite_version"]],
                sort=[None, None, result["success_rate"], result["num_episodes"],
                      training["num_demos"] if training else NAN, None]))
    return rows


def generator_rows(subs: list[Submission]) -> list[Row]:
    rows = []
    for sub in subs:
        if sub.kind != "generator":
            continue
        for row in sub.data["results"]:
            result = row["downstream"]["eval"]
            rate, speed = row["generation_success_rate"], row["demos_per_cpu_min"]
            demos = str(row["num_demos"])
            if row["source_env_id"] != row["env_id"]:
                demos += f" (sources: {row['source_env_id']})"
            rows.append(Row(
                task=result["task"], env_id=row["env_id"], native=result["native"],
                rate=result["success_rate"], url=sub.data.get("url"),
                cells=[sub.data["name"], env_cell(result), percent(rate), "-" if speed is None else f"{speed:.1f}",
                       row["downstream"]["policy"], rate_with_ci(result), demos],
                sort=[None, None, NAN if rate is None else rate, NAN if speed is None else speed, None,
                      result["success_rate"], row["num_demos"]]))
    return rows


def env_cell(result: dict[str, Any]) -> str:
    return result["env_id"] + (" (native)" if result["native"] else "")


def task_order(rows: list[Row]) -> list[str]:
    """The registered tasks in their order, then any other task found in the rows."""
    from dexbench.envs.tasks import TASKS

    return list(TASKS) + sorted({r.task for r in rows} - set(TASKS))


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, so readers never see half a page."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_leaderboards(directory: str | os.PathLike = "leaderboards") -> list[Path]:
    """Validate the submissions under `directory` and (re)write its README.md and index.html.

    Returns the written paths. Raises SubmissionError for the first bad submission, before
    anything is written."""
    from dexbench.leaderboards.render import Tables, render_html, render_markdown

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such folder. Give the leaderboards folder (it holds "
                                "policies/ and generators/), e.g. `--dir leaderboards`.")
    subs = load_submissions(directory)
    prows, grows = policy_rows(subs), generator_rows(subs)
    images = directory.resolve().parent / "docs" / "images"
    tables = Tables(
        tasks=task_order(prows + grows),
        policies=sorted(prows, key=Row.order),
        generators=sorted(grows, key=Row.order),
        submissions=[(s.kind, s.path.relative_to(directory).as_posix(), s.data) for s in subs],
        images={t for t in task_order(prows + grows) if (images / f"{t}.png").is_file()},
    )
    # Render both before writing either: a rendering bug must not leave one page updated.
    pages = {directory / "README.md": render_markdown(tables), directory / "index.html": render_html(tables)}
    for path, text in pages.items():
        write_atomic(path, text)
    return list(pages)
