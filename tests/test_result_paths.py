"""No machine paths in results: `dexbench eval` records a checkpoint path as its last part (the
checkpoint itself by its hash), validate refuses an absolute path or `..`, and the repository's
own submissions hold none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_leaderboards import eval_result, policy_submission

from dexbench.evaluation.evaluate import _policy_block
from dexbench.leaderboards import SubmissionError, validate_submission

BOARDS = Path(__file__).resolve().parents[1] / "leaderboards"


@pytest.mark.parametrize("path", ["/work/runs/cmp/bc_mimicgen", "../../elsewhere/bc_mimicgen"])
def test_eval_records_a_checkpoint_path_without_the_machines_folders(path):
    block = _policy_block("dexbench.policies:BCPolicy", {"checkpoint": path}, "bc-mlp", "ab" * 32, {})
    assert block["kwargs"]["checkpoint"] == "bc_mimicgen"
    assert block["checkpoint_sha256"] == "ab" * 32


def test_a_relative_checkpoint_path_is_kept():
    block = _policy_block("dexbench.policies:BCPolicy", {"checkpoint": "runs/bc"}, "bc-mlp", None, {})
    assert block["kwargs"]["checkpoint"] == "runs/bc"


@pytest.mark.parametrize("path", ["/home/someone/runs/bc", "runs/../../etc/bc", "C:\\runs\\bc"])
def test_validate_refuses_a_machine_path_in_a_result(path):
    result = eval_result()
    result["policy"]["kwargs"]["checkpoint"] = path
    with pytest.raises(SubmissionError) as err:
        validate_submission(policy_submission(results=[result]))
    message = str(err.value)
    assert "checkpoint" in message and "path of the machine" in message and "checkpoint_sha256" in message


def test_the_repositorys_submissions_hold_no_machine_path():
    files = sorted([*BOARDS.glob("policies/*.json"), *BOARDS.glob("generators/*.json")])
    assert files
    for file in files:
        text = file.read_text()
        assert '"/work/' not in text and '"/home/' not in text, file
        validate_submission(json.loads(text))
    for record in BOARDS.glob("verified/*.json"):  # the verification records name no machine path either
        text = record.read_text()
        assert '"/work/' not in text and '"/home/' not in text and '"/tmp/' not in text, record
