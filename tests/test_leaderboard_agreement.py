"""One result, one number: a policy trained on a generator's demos is a row of both boards, and
`leaderboard build` refuses two rows of one result whose evaluations differ (a rerun that
replaced one and not the other), naming both files and the newer one. The repository's own
boards pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_leaderboards import NATIVE, episodes, eval_result, generator_submission, policy_submission, write

from dexbench.leaderboards import SubmissionError, build_leaderboards

REPO = Path(__file__).resolve().parents[1]


def _boards(tmp_path: Path, policy_successes: int, generator_successes: int, policy_created: str) -> Path:
    """BC trained on 200 mimicgen demos from 10 sources, on both boards."""
    root = tmp_path / "leaderboards"
    result = eval_result(NATIVE, episodes(policy_successes))
    result["created"] = policy_created
    write(root / "policies" / "bc.json", policy_submission(results=[result]))
    write(root / "generators" / "mimicgen.json", generator_submission(successes=episodes(generator_successes)))
    return root


def test_one_result_with_the_same_evaluation_on_both_boards_builds(tmp_path):
    root = _boards(tmp_path, 45, 45, "2026-11-24T02:00:00+00:00")
    build_leaderboards(root)
    assert "90.0 %" in (root / "README.md").read_text()


def test_a_rerun_on_one_board_only_fails_the_build_naming_both_files_and_the_newer(tmp_path):
    root = _boards(tmp_path, 49, 46, "2026-11-23T02:00:00+00:00")  # the generator row is the rerun
    with pytest.raises(SubmissionError) as err:
        build_leaderboards(root)
    message = str(err.value)
    assert "\n" not in message
    assert str(root / "policies" / "bc.json") in message and str(root / "generators" / "mimicgen.json") in message
    assert "49/50 = 98.0 %" in message and "46/50 = 92.0 %" in message
    assert f"put the newer evaluation (in {root / 'generators' / 'mimicgen.json'})" in message
    assert "bc-mlp trained on 200 mimicgen demos from 10 sources" in message
    assert not (root / "README.md").exists()  # nothing published


def test_the_same_numbers_from_another_run_are_still_two_evaluations(tmp_path):
    # demo_noise on BoxCleanup-PandaDex-D0 scored 26/50 in both runs: the policy board still showed
    # the old run (another checkpoint), which a rerun supersedes
    root = _boards(tmp_path, 45, 45, "2026-11-23T02:00:00+00:00")
    with pytest.raises(SubmissionError, match="two different evaluations"):
        build_leaderboards(root)


@pytest.mark.parametrize("change", ["sources", "demos", "policy", "generator", "test set"])
def test_rows_of_other_results_are_not_compared(tmp_path, change):
    root = tmp_path / "leaderboards"
    result = eval_result(NATIVE, episodes(10))
    sub = policy_submission(results=[result])
    if change == "sources":
        sub["training_data"]["source_demos"] = 5
    elif change == "demos":
        sub["training_data"]["num_demos"] = 1000
    elif change == "policy":
        result["policy"]["name"] = "diffusion"
    elif change == "generator":
        sub["training_data"]["generator"] = "demo_noise"
    else:
        result["env_kwargs"] = {"object_variants": "random"}
    write(root / "policies" / "bc.json", sub)
    write(root / "generators" / "mimicgen.json", generator_submission(successes=episodes(45)))
    build_leaderboards(root)


def test_a_policy_trained_on_the_sources_alone_is_the_generator_boards_source_row(tmp_path):
    root = tmp_path / "leaderboards"
    sub = policy_submission(results=[eval_result(NATIVE, episodes(3, 4))])
    sub["training_data"] = {"generator": "source", "num_demos": 10, "source_demos": 10}
    write(root / "policies" / "bc-source.json", sub)
    write(root / "generators" / "source-only.json", generator_submission("source-only"))  # its source row: 1/4
    with pytest.raises(SubmissionError, match=r"3/4 = 75.0 %.* and .*source-only.json results\[1\] \(1/4"):
        build_leaderboards(root)


def test_the_repository_boards_hold_one_number_per_result(tmp_path):
    import shutil

    copy = tmp_path / "leaderboards"
    shutil.copytree(REPO / "leaderboards", copy, ignore=shutil.ignore_patterns("README.md", "index.html"))
    build_leaderboards(copy)
    readme = (copy / "README.md").read_text()
    row = next(
        line
        for line in readme.splitlines()
        if line.startswith("| BC-MLP (mimicgen, 5 sources) | DexMG/BoxCleanup-PandaDex-D0")
    )
    policy = json.loads((REPO / "leaderboards" / "policies" / "bc-mlp-mimicgen-5src.json").read_text())
    generator = json.loads((REPO / "leaderboards" / "generators" / "mimicgen.json").read_text())
    (rate,) = {r["success_rate"] for r in policy["results"] if r["env_id"] == "DexMG/BoxCleanup-PandaDex-D0"}
    same = [
        r["downstream"]["eval"]["success_rate"]
        for r in generator["results"]
        if r["env_id"] == "DexMG/BoxCleanup-PandaDex-D0" and r["num_source_demos"] == 5
    ]
    assert rate in same and f"{100 * rate:.1f} %" in row  # the one number, on both boards
    assert row in (REPO / "leaderboards" / "README.md").read_text()  # the published board was rebuilt
