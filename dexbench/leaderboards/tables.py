"""What the leaderboard pages show, as data: a `Row` per result for the per-task tables, a
`Summary` per board (methods x tasks, at a glance), gathered in `Tables`. Made from checked
submissions (`make_tables`); `render` turns them into Markdown and HTML.

Cells are plain text taken from untrusted submissions: the renderers escape them. Intervals are
recomputed from the counts (Wilson), never copied from a submission.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dexbench.leaderboards.ranking import test_set, unranked_reason

NAN = float("nan")


@dataclasses.dataclass
class Submission:
    file: str  # as the pages show and link it: relative to the leaderboards folder
    kind: str  # "policy" or "generator"
    data: dict[str, Any]  # checked by `validate.check_submission`


@dataclasses.dataclass(kw_only=True)
class TableRow:
    """One row of a rendered table: `cells` hold plain text and `sort` a numeric sort key per cell
    (None: sort by text; NaN: a missing number, sorted last)."""

    cells: list[str]
    sort: list[float | None]
    url: str | None = None  # link of the first cell (the submission's url)
    native: bool = False  # a result on the task's native embodiment (shaded)


@dataclasses.dataclass(kw_only=True)
class Row(TableRow):
    """A result row of a per-task table."""

    method: str  # the submission's name
    task: str
    env_id: str
    rate: float
    unranked: str = ""  # why the result is not ranked ("" when it is)
    verified: bool = False  # re-run by `leaderboard verify`, every episode checked as claimed

    def order(self) -> tuple:
        return (not self.native, self.env_id, not self.verified, -self.rate, self.method.lower())


@dataclasses.dataclass
class Summary:
    """A board at a glance: one row per method with its ranked success rate on each task's native
    D0 id (`columns`) and the mean over the tasks it has, best first."""

    columns: list[str]
    rows: list[TableRow]


@dataclasses.dataclass
class Tables:
    tasks: list[str]
    policies: list[Row]
    generators: list[Row]
    summaries: dict[str, Summary]  # by kind
    submissions: list[Submission]
    images: set[str]  # tasks that have docs/images/<Task>.png
    image_dir: str = "../docs/images"  # where the pages link them, relative to the pages

    def rows(self, kind: str, task: str, ranked: bool) -> list[Row]:
        return [
            r
            for r in (self.policies if kind == "policy" else self.generators)
            if r.task == task and (not r.unranked) == ranked
        ]


def make_tables(
    subs: list[Submission], images: set[str] = frozenset(), verdicts: dict[str, dict[int, dict]] | None = None
) -> Tables:
    """`verdicts`: per submission file, per row index, the state `leaderboard verify` left
    ("verified", "differs" or "unverifiable", with what it checked)."""
    prows, grows = policy_rows(subs, verdicts or {}), generator_rows(subs, verdicts or {})
    tasks = task_order(prows + grows)
    return Tables(
        tasks=tasks,
        policies=sorted(prows, key=Row.order),
        generators=sorted(grows, key=Row.order),
        summaries={"policy": summary(prows), "generator": summary(grows)},
        submissions=subs,
        images=images & set(tasks),
    )


# ----------------------------------------------------------------------------- cells
def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f} %"


def rate_with_ci(result: dict[str, Any]) -> str:
    """`92.0 % [81.2, 96.8]`, the interval recomputed from the counts."""
    from dexbench.evaluation.stats import wilson_interval

    lo, hi = wilson_interval(result["successes"], result["num_episodes"])
    return f"{percent(result['successes'] / result['num_episodes'])} [{100 * lo:.1f}, {100 * hi:.1f}]"


def env_cell(result: dict[str, Any]) -> str:
    return test_set_id(result) + (" (native)" if result["native"] else "")


def test_set_id(result: dict[str, Any]) -> str:
    """The env id, and the test set when it is not the env as registered: rows are ranked within
    one (the summary's columns are the registered envs)."""
    name = test_set(result)
    return result["env_id"] + ("" if name == "" else f" [{name or 'other env kwargs'}]")


# ----------------------------------------------------------------------------- per-task rows
VERIFY_MARKS = {"verified": "\u2713 verified", "differs": "\u2717 differs", "unverifiable": "? unverifiable"}


def verify_cell(verdict: dict[str, Any] | None) -> str:
    """A row's verification as the pages show it: the mark, what was checked or why not."""
    if verdict is None:
        return "- not run"
    mark = VERIFY_MARKS[verdict["status"]]
    if verdict["status"] == "unverifiable":
        return f"{mark}: {verdict.get('reason', '')}"
    if "attempts" in verdict:
        return f"{mark} ({len(verdict['attempts'])} attempts)"
    return f"{mark} ({len(verdict['seeds'])} episodes)"


def policy_rows(subs: list[Submission], verdicts: dict[str, dict[int, dict]]) -> list[Row]:
    rows = []
    for sub in subs:
        if sub.kind != "policy":
            continue
        verdict_of = verdicts.get(sub.file, {})
        training = sub.data.get("training_data")
        trained = f"{training['generator']} x{training['num_demos']}" if training else "-"
        for index, result in enumerate(sub.data["results"]):
            rows.append(
                Row(
                    method=sub.data["name"],
                    task=result["task"],
                    env_id=test_set_id(result),
                    native=result["native"],
                    rate=result["success_rate"],
                    url=sub.data.get("url"),
                    unranked=unranked_reason(result),
                    verified=verdict_of.get(index, {}).get("status") == "verified",
                    cells=[
                        sub.data["name"],
                        env_cell(result),
                        rate_with_ci(result),
                        str(result["num_episodes"]),
                        trained,
                        result["suite_version"],
                        verify_cell(verdict_of.get(index)),
                    ],
                    sort=[
                        None,
                        None,
                        result["success_rate"],
                        result["num_episodes"],
                        training["num_demos"] if training else NAN,
                        None,
                        None,
                    ],
                )
            )
    return rows


def generator_rows(subs: list[Submission], verdicts: dict[str, dict[int, dict]]) -> list[Row]:
    rows = []
    for sub in subs:
        if sub.kind != "generator":
            continue
        verdict_of = verdicts.get(sub.file, {})
        for index, row in enumerate(sub.data["results"]):
            result = row["downstream"]["eval"]
            rate, speed = row["generation_success_rate"], row["demos_per_cpu_min"]
            demos = str(row["num_demos"])
            if row["source_env_id"] != row["env_id"]:
                demos += f" (sources: {row['source_env_id']})"
            rows.append(
                Row(
                    method=sub.data["name"],
                    task=result["task"],
                    env_id=test_set_id(result),
                    native=result["native"],
                    rate=result["success_rate"],
                    url=sub.data.get("url"),
                    unranked=unranked_reason(result),
                    verified=verdict_of.get(index, {}).get("status") == "verified",
                    cells=[
                        sub.data["name"],
                        env_cell(result),
                        percent(rate),
                        "-" if speed is None else f"{speed:.1f}",
                        row["downstream"]["policy"],
                        rate_with_ci(result),
                        demos,
                        verify_cell(verdict_of.get(index)),
                    ],
                    sort=[
                        None,
                        None,
                        NAN if rate is None else rate,
                        NAN if speed is None else speed,
                        None,
                        result["success_rate"],
                        row["num_demos"],
                        None,
                    ],
                )
            )
    return rows


def task_order(rows: list[Row]) -> list[str]:
    """The registered tasks in their order, then any other task found in the rows."""
    from dexbench.envs.tasks import TASKS

    return list(TASKS) + sorted({r.task for r in rows} - set(TASKS))


# ----------------------------------------------------------------------------- summary
def summary_columns() -> list[str]:
    """The native embodiment's D0 id of each registered task, in task order: one column per task."""
    from dexbench.envs.registry import ENV_TABLE
    from dexbench.envs.tasks import TASKS

    native_d0 = {e.task: e.env_id for e in ENV_TABLE.values() if e.native and e.layout == "D0"}
    return [native_d0[task] for task in TASKS if task in native_d0]


def summary(rows: list[Row]) -> Summary:
    """Methods x native D0 ids from the ranked rows; a generator with several rows on an id (demo
    counts, policies) counts its best. Methods covering more tasks come first, then by mean."""
    columns = summary_columns()
    best: dict[str, dict[str, float]] = {}
    urls: dict[str, str | None] = {}
    for row in rows:
        if row.unranked or row.env_id not in columns:
            continue
        rates = best.setdefault(row.method, {})
        rates[row.env_id] = max(rates.get(row.env_id, 0.0), row.rate)
        urls.setdefault(row.method, row.url)
    lines = []
    for method, rates in best.items():
        mean = sum(rates.values()) / len(rates)
        cells = [percent(rates.get(c)) for c in columns]
        lines.append(
            (
                -len(rates),
                -mean,
                method.lower(),
                TableRow(
                    cells=[method, *cells, f"{percent(mean)} ({len(rates)}/{len(columns)})"],
                    sort=[None, *(rates.get(c, NAN) for c in columns), mean],
                    url=urls[method],
                ),
            )
        )
    return Summary(columns=columns, rows=[line[-1] for line in sorted(lines, key=lambda x: x[:3])])
