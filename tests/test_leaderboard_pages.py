"""Leaderboard pages against what validate accepts: whatever passes `validate`, `build`
publishes (edge cases and random changes of valid files), the summary table is in both pages,
and the leaderboard modules import one way."""

from __future__ import annotations

import ast
import copy
import json
import random
import shutil
from pathlib import Path

import pytest
from test_leaderboard_hostile import board, refused
from test_leaderboards import NATIVE, OTHER, episodes, eval_result, generator_submission, policy_submission, write

from dexbench.leaderboards import SubmissionError, build_leaderboards, validate_submission
from dexbench.leaderboards import validate as validate_module
from dexbench.leaderboards.tables import summary_columns

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the pages
def test_the_summary_table_is_in_both_readme_and_html(tmp_path):
    root = board(tmp_path)
    write(
        root / "policies" / "bc.json",
        policy_submission(results=[eval_result(NATIVE, episodes(45), "bc-rnn"), eval_result(OTHER, episodes(50))]),
    )
    write(root / "generators" / "mimicgen.json", generator_submission(successes=episodes(40)))  # bc-mlp downstream
    readme, page = (p.read_text() for p in build_leaderboards(root))
    # One column per registered task (more tasks may be added): TrayLift's is the one with results.
    columns = [c.removeprefix("DexMG/") for c in summary_columns()]
    n, at = len(columns), columns.index("TrayLift-PandaDex-D0")
    cells = lambda rate: " | ".join(rate if i == at else "-" for i in range(n))  # noqa: E731
    assert readme.index("## Summary") < readme.index("## TrayLift")
    assert f"| Policy | {' | '.join(columns)} | Mean (tasks) |" in readme
    assert f"| [Scripted oracle](https://example.org/bc) | {cells('100.0 %')} | 100.0 % (1/{n}) |" in readme
    assert f"| [BC-MLP (mimicgen 200)](https://example.org/bc) | {cells('90.0 %')} | 90.0 % (1/{n}) |" in readme
    assert readme.index("| [Scripted oracle]") < readme.index("| [BC-MLP (mimicgen 200)]")
    assert f"| Generator | {' | '.join(columns)} | Mean (tasks) |" in readme
    assert f"| mimicgen | {cells('80.0 %')} | 80.0 % (1/{n}) |" in readme  # its best row (the source row has 2 %)
    assert page.index('<h2 id="summary">') < page.index('<h2 id="TrayLift">')
    assert "".join(f"<th>{c}</th>" for c in columns) + "<th>Mean (tasks)</th>" in page
    assert '<td class="num" data-sort="0.9">90.0 %</td>' in page
    assert f'<td class="num" data-sort="0.8">80.0 % (1/{n})</td>' in page


EDGE_CASES = {
    "plain": lambda: policy_submission(),
    "unicode name and long text": lambda: {
        **policy_submission("Rückwärts 机器人 🤖 ‖ `x`"),
        "description": "* _a_ [b](c) <i> " * 250,
    },
    "url with a bar": lambda: {**policy_submission(), "url": "https://example.org/a|b?c=[d]"},
    "one custom-seed episode": lambda: policy_submission(
        results=[
            {
                **eval_result(NATIVE, (True,)),
                "seeds": {"source": "custom", "values": [3]},
                "episodes": [{"seed": 3, "success": True, "length": 5}],
            }
        ]
    ),
    "generator": lambda: generator_submission(),
    "the oracle's name in capitals": lambda: policy_submission("  SCRIPTED ORACLE "),
    "a policy among generators": lambda: policy_submission("elsewhere"),
    "a newline in a name": lambda: policy_submission("two\nlines"),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
@pytest.mark.parametrize("file_name", ["entry.json", "my entry.json"])
def test_validate_accepting_a_file_implies_build_succeeds(tmp_path, case, file_name):
    root = board(tmp_path)
    sub = EDGE_CASES[case]()
    folder = "generators" if case in ("generator", "a policy among generators") else "policies"
    path = write(root / folder / file_name, sub)
    try:
        validate_submission(path)
        accepted = True
    except SubmissionError:
        accepted = False
    try:
        build_leaderboards(root)
        built = True
    except SubmissionError:
        built = False
    assert accepted == built
    assert accepted == (
        file_name == "entry.json"
        and case not in ("the oracle's name in capitals", "a policy among generators", "a newline in a name")
    )


def _paths(obj, where=()):
    """Every (path, value) inside a JSON object, the object itself first."""
    yield where, obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        yield from _paths(value, where + (key,))


ODD_VALUES = [
    None,
    True,
    -1,
    0,
    1,
    10**10,
    0.5,
    1e308,
    "",
    "x" * 600,
    "DexMG/TrayLift-GR1-D0",
    [],
    {},
    [1, 2],
    {"format": "dexbench-eval-result"},
]


def test_random_changes_are_refused_in_one_line_or_validate_and_build(tmp_path):
    """A cheap fuzz: 150 random edits of valid submissions (replace a value, drop a key). validate
    must never crash, and must accept exactly what build accepts."""
    rng = random.Random(0)
    root = board(tmp_path)
    accepted = 0
    for i in range(150):
        kind = rng.choice(["policy", "generator"])
        sub = policy_submission(f"fuzz {i}") if kind == "policy" else generator_submission(f"fuzz {i}")
        where, _ = rng.choice([p for p in _paths(sub) if p[0]])
        parent = sub
        for key in where[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[where[-1]]
        else:
            parent[where[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        for folder in ("policies", "generators"):
            (root / folder / "fuzz.json").unlink(missing_ok=True)
        path = write(root / ("policies" if kind == "policy" else "generators") / "fuzz.json", sub)
        try:
            validate_submission(path)
            ok = True
        except SubmissionError as err:
            assert "\n" not in str(err) and str(err).startswith(str(path)), err
            ok = False
        try:
            build_leaderboards(root)
            built = True
        except SubmissionError:
            built = False
        assert ok == built, (where, sub)
        accepted += ok
    assert 0 < accepted < 150  # some edits are harmless (a description), most are not


def test_a_format_that_is_not_text_is_refused():
    refused({"format": ["dexbench-policy-submission"], "name": "x"}, "format: missing or not a submission format")


def test_validate_fails_when_the_pages_cannot_render_the_submission(monkeypatch):
    def broken(tables):
        raise KeyError("cells")

    monkeypatch.setattr(validate_module, "render_html", broken)
    refused(policy_submission(), "submission: the leaderboard pages cannot be built with it (KeyError: 'cells')")


def test_the_published_submissions_validate_and_build(tmp_path):
    root = tmp_path / "leaderboards"
    shutil.copytree(REPO / "leaderboards", root, ignore=shutil.ignore_patterns("README.md", "index.html"))
    files = sorted([*root.glob("policies/*.json"), *root.glob("generators/*.json")])
    assert len(files) >= 8 and all(validate_submission(f) for f in files)
    readme = build_leaderboards(root)[0].read_text()
    assert "Not ranked" not in readme  # all 50 episodes on the published seeds
    for path in root.glob("generators/*.json"):
        assert all("cpu_s" in row for row in json.loads(path.read_text())["results"])


def test_the_leaderboard_modules_import_one_way():
    """No import circle: each module imports only modules further down the chain."""
    package = REPO / "dexbench" / "leaderboards"
    graph = {}
    for path in package.glob("*.py"):
        imported = [
            node.module or "" for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom)
        ]
        graph[path.stem] = {m.rsplit(".", 1)[-1] for m in imported if m.startswith("dexbench.leaderboards.")}
    order: list[str] = []
    while len(order) < len(graph):
        ready = sorted(m for m, deps in graph.items() if m not in order and deps <= set(order))
        assert ready, f"import circle among {sorted(set(graph) - set(order))}"
        order += ready
    assert order.index("tables") < order.index("render") < order.index("build")
    assert graph["render"] == {"ranking", "tables"}
