"""`dexbench leaderboard verify`: a submission's rows re-run episode by episode, in the sandbox.

The judge's cases: a truthful submission verifies (again on another worker count); a tampered
one (one episode flipped, its counts and interval recomputed so that it still validates) differs,
naming the episode; a policy module that is not installed, a missing or linked checkpoint and a
checkpoint that is a pickle with a payload are unverifiable, and nothing from them runs."""

from __future__ import annotations

import hashlib
import json
import os
import pickle

import pytest

from dexbench.cli import main
from dexbench.evaluation.evaluate import evaluate
from dexbench.evaluation.stats import wilson_interval
from dexbench.leaderboards import SubmissionError, validate_submission
from dexbench.leaderboards.submit import policy_submission
from dexbench.leaderboards.verify import row_sample, verify_submission

ENV_ID = "DexMG/TrayLift-Panda-D0"
ORACLE = "dexbench.policies:ScriptedPolicy"


def write(folder, sub: dict, name: str = "sub.json"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(sub, indent=1))
    return path


@pytest.fixture(scope="module")
def oracle_result():
    return evaluate(ORACLE, ENV_ID, episodes=3, progress=False)


@pytest.fixture(scope="module")
def trained_bc(panda_tray_demos, tmp_path_factory):
    from dexbench.policies.bc.train import BCConfig, train_bc

    out = tmp_path_factory.mktemp("runs") / "bc"
    train_bc(panda_tray_demos, out, BCConfig(steps=30, hidden=32, layers=1, batch_size=32), progress=False)
    return out


def statuses(record) -> list[str]:
    return [row["status"] for row in record["rows"]]


def test_a_true_submission_verifies_on_any_worker_count(oracle_result, tmp_path):
    path = write(tmp_path, policy_submission("Oracle", "tests", "the scripted oracle", [oracle_result]))
    one = verify_submission(path, sample=None)
    assert statuses(one) == ["verified"] and one["rows"][0]["seeds"] == [e["seed"] for e in oracle_result["episodes"]]
    assert one["ran_on"]["mujoco_version"] and one["submission_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert statuses(verify_submission(path, sample=2, workers=2)) == ["verified"]


def test_a_tampered_episode_validates_but_fails_verify_naming_it(oracle_result, tmp_path, capsys):
    tampered = json.loads(json.dumps(oracle_result))
    flipped = tampered["episodes"][1]
    flipped["success"] = not flipped["success"]
    tampered["successes"] = sum(e["success"] for e in tampered["episodes"])
    tampered["success_rate"] = tampered["successes"] / tampered["num_episodes"]
    tampered["ci95"] = list(wilson_interval(tampered["successes"], tampered["num_episodes"]))
    path = write(tmp_path, policy_submission("Oracle", "tests", "the scripted oracle", [tampered]))
    assert validate_submission(path) == "policy"  # every count agrees: only re-running finds it
    record = verify_submission(path, sample=None)
    assert statuses(record) == ["differs"]
    assert [m["seed"] for m in record["rows"][0]["mismatches"]] == [flipped["seed"]]
    out = tmp_path / "verification.json"
    assert main(["leaderboard", "verify", str(path), "--all", "-q", "--out", str(out)]) == 1
    assert f"seed {flipped['seed']}: claimed" in capsys.readouterr().out
    assert json.loads(out.read_text())["rows"][0]["status"] == "differs"


def test_the_sample_is_fixed_by_the_file_and_row():
    seeds = list(range(100, 150))
    a = row_sample("ab" * 32, 0, seeds, 5)
    assert a == row_sample("ab" * 32, 0, seeds, 5) and len(set(a)) == 5 and set(a) <= set(seeds)
    assert a != row_sample("cd" * 32, 0, seeds, 5) or a != row_sample("ab" * 32, 1, seeds, 5)
    assert row_sample("ab" * 32, 0, seeds, None) == seeds


def test_a_policy_module_from_the_submission_folder_is_not_run(oracle_result, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "board").mkdir()
    (tmp_path / "board" / "sneaky_policy.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nPolicy = None\n")
    row = json.loads(json.dumps(oracle_result))
    row["policy"]["spec"] = "sneaky_policy:Policy"
    path = write(tmp_path / "board", policy_submission("Sneaky", "tests", "a module of its own", [row]))
    cwd = os.getcwd()
    os.chdir(tmp_path / "board")  # even with the module beside the working directory
    try:
        record = verify_submission(path, sample=1)
    finally:
        os.chdir(cwd)
    assert (
        statuses(record) == ["unverifiable"] and "not provided by any installed package" in record["rows"][0]["reason"]
    )
    assert not marker.exists()


def checkpoint_row(oracle_result, sha: str) -> dict:
    row = json.loads(json.dumps(oracle_result))
    row["policy"] = {"spec": "dexbench.policies:BCPolicy", "name": "bc-mlp", "kwargs": {"checkpoint": "bc"}}
    row["policy"]["checkpoint_sha256"] = sha
    return row


def test_a_missing_or_linked_checkpoint_is_unverifiable(oracle_result, tmp_path):
    sha = "0" * 64
    path = write(tmp_path, policy_submission("BC", "tests", "bc", [checkpoint_row(oracle_result, sha)]))
    record = verify_submission(path, sample=1)
    assert (
        statuses(record) == ["unverifiable"]
        and "no checkpoint with SHA-256 000000000000" in record["rows"][0]["reason"]
    )
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / sha).symlink_to("/dev")
    record = verify_submission(path, sample=1)
    assert statuses(record) == ["unverifiable"] and "links are not followed" in record["rows"][0]["reason"]


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['DEXBENCH_TEST_MARKER']}",))


def test_a_pickled_payload_checkpoint_is_refused_unexecuted(oracle_result, trained_bc, tmp_path, monkeypatch):
    marker = tmp_path / "payload-ran"
    monkeypatch.setenv("DEXBENCH_TEST_MARKER", str(marker))
    raw = pickle.dumps(Payload())
    sha = hashlib.sha256(raw).hexdigest()
    folder = tmp_path / "checkpoints" / sha
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(raw)
    (folder / "config.json").write_bytes((trained_bc / "config.json").read_bytes())  # a real config: torch reads it
    path = write(tmp_path, policy_submission("BC", "tests", "bc", [checkpoint_row(oracle_result, sha)]))
    record = verify_submission(path, sample=1)
    reason = record["rows"][0]["reason"]
    assert (
        statuses(record) == ["unverifiable"] and "the policy failed" in reason and "Weights only load failed" in reason
    )
    assert not marker.exists()


def test_a_real_checkpoint_is_found_by_its_hash_and_verified(trained_bc, tmp_path):
    import shutil

    trained = tmp_path / "runs" / "bc"
    shutil.copytree(trained_bc, trained)
    result = evaluate(
        "dexbench.policies:BCPolicy", ENV_ID, episodes=2, policy_kwargs={"checkpoint": str(trained)}, progress=False
    )
    sha = result["policy"]["checkpoint_sha256"]
    assert result["policy"]["kwargs"]["checkpoint"] == "bc"  # no machine path in the result
    board = tmp_path / "board"
    path = write(board, policy_submission("BC", "tests", "bc", [result]))
    assert statuses(verify_submission(path, sample=1)) == ["unverifiable"]  # not shipped
    assert statuses(verify_submission(path, sample=None, checkpoints=trained.parent.parent / "store")) == [
        "unverifiable"
    ]
    (board / "checkpoints").mkdir()
    os.rename(trained, board / "checkpoints" / sha)
    assert statuses(verify_submission(path, sample=None)) == ["verified"]


def test_submit_policy_ships_its_checkpoints_for_verify(trained_bc, tmp_path, capsys):
    """`submit-policy --checkpoint DIR` copies the checkpoint to checkpoints/<sha256>/ beside the
    submission, and the row then verifies; a checkpoint no row was evaluated with is refused."""
    result = evaluate(
        "dexbench.policies:BCPolicy", ENV_ID, episodes=2, policy_kwargs={"checkpoint": str(trained_bc)}, progress=False
    )
    (tmp_path / "r.json").write_text(json.dumps(result))
    out = tmp_path / "board" / "bc.json"
    args = ["leaderboard", "submit-policy", str(tmp_path / "r.json"), "--name", "BC", "--authors", "t"]
    args += ["--description", "bc", "--out", str(out)]
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    (other / "model.pt").write_bytes(b"not these weights")
    assert main([*args, "--checkpoint", str(other)]) == 2
    assert "no result row was evaluated with it" in capsys.readouterr().err and not out.exists()
    assert main([*args, "--checkpoint", str(trained_bc)]) == 0
    sha = result["policy"]["checkpoint_sha256"]
    assert sorted(p.name for p in (out.parent / "checkpoints" / sha).iterdir()) == ["config.json", "model.pt"]
    assert statuses(verify_submission(out, sample=None)) == ["verified"]


def board_with(tmp_path, result, record_rows=None, sha=None):
    from dexbench.leaderboards import build_leaderboards

    board = tmp_path / "board"
    path = write(
        board / "policies", policy_submission("Oracle", "tests", "the scripted oracle", [result]), "oracle.json"
    )
    if record_rows is not None:
        record = {
            "format": "dexbench-verification",
            "format_version": 1,
            "submission": "oracle.json",
            "submission_sha256": sha or hashlib.sha256(path.read_bytes()).hexdigest(),
            "rows": record_rows,
        }
        write(board / "verified", record, "oracle.json")
    build_leaderboards(board)
    return (board / "README.md").read_text(), (board / "index.html").read_text()


def test_the_pages_mark_verified_rows_from_records_of_the_file_as_it_is(oracle_result, tmp_path):
    env = oracle_result["env_id"]
    readme, page = board_with(tmp_path, oracle_result, [{"env_id": env, "status": "verified", "seeds": [1, 2]}])
    assert "\u2713 verified (2 episodes)" in readme and "\u2713 verified (2 episodes)" in page
    assert "Verified:" in readme  # the legend
    stale, _ = board_with(tmp_path, oracle_result, [{"env_id": env, "status": "verified", "seeds": [1]}], "0" * 64)
    assert "\u2713 verified" not in stale and "- not run" in stale
    reason = [{"env_id": env, "status": "unverifiable", "seeds": [], "reason": "no checkpoint"}]
    assert "? unverifiable: no checkpoint" in board_with(tmp_path, oracle_result, reason)[0]
    with pytest.raises(SubmissionError, match="not a verification record"):
        board_with(tmp_path, oracle_result, [{"env_id": env, "status": "trust me"}])


def test_verified_rows_rank_first_within_a_task(oracle_result):
    from dexbench.leaderboards.tables import Submission, make_tables

    worse = json.loads(json.dumps(oracle_result))
    worse["episodes"][0]["success"] = False
    worse["successes"] -= 1
    worse["success_rate"] = worse["successes"] / worse["num_episodes"]
    worse["ci95"] = list(wilson_interval(worse["successes"], worse["num_episodes"]))
    subs = [
        Submission("policies/a.json", "policy", policy_submission("Claims more", "t", "d", [oracle_result])),
        Submission("policies/b.json", "policy", policy_submission("Verified", "t", "d", [worse])),
    ]
    verdicts = {"policies/b.json": {0: {"status": "verified", "seeds": [1]}}}
    assert [r.method for r in make_tables(subs, verdicts=verdicts).policies] == ["Verified", "Claims more"]
    assert [r.method for r in make_tables(subs).policies] == ["Claims more", "Verified"]
