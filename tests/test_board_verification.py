"""The boards in the repository: every row has a verification record of its file as it is now,
and a sample of the recorded verdicts holds when re-run here (rows chosen from the record's
hash, one recorded episode or attempt each), so a record cannot claim what the code no longer does."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from dexbench.backends import PROCESS
from dexbench.leaderboards.verify import CHECKPOINTS_FOLDER, verify_row

BOARD = Path(__file__).resolve().parents[1] / "leaderboards"
SUBMISSIONS = sorted((BOARD / "policies").glob("*.json"))


def record_of(submission: Path) -> dict:
    return json.loads((BOARD / "verified" / submission.name).read_text())


@pytest.mark.parametrize("submission", SUBMISSIONS, ids=lambda p: p.stem)
def test_every_policy_row_is_verified_or_says_why(submission):
    record = record_of(submission)
    assert record["submission_sha256"] == hashlib.sha256(submission.read_bytes()).hexdigest(), (
        f"{submission.name} changed since it was verified: run `dexbench leaderboard verify "
        f"{submission.relative_to(BOARD.parent)} --out leaderboards/verified/{submission.name} --overwrite`"
    )
    results = json.loads(submission.read_text())["results"]
    verdicts = {row["env_id"]: row for row in record["rows"]}
    assert sorted(verdicts) == sorted(r["env_id"] for r in results)
    for env_id, row in verdicts.items():
        if row["status"] == "differs":  # shown as such on the board, with the episodes that moved
            assert row["mismatches"], f"{submission.name}: {env_id} differs but names no episode"
        else:
            assert row["status"] == "verified" or row.get("reason"), env_id  # unverifiable: says why


ROWS_PER_BOARD = 8  # rows re-run per submission, one episode each: about a minute in all


@pytest.mark.parametrize("submission", SUBMISSIONS, ids=lambda p: p.stem)
def test_a_sample_of_each_boards_verdicts_holds_when_re_run(submission):
    """A change to the code that moves an episode of a board's row shows here (the rows were
    re-measured once already, when a change of the tasks had made the oracle's board stale)."""
    record = record_of(submission)
    results = {r["env_id"]: r for r in json.loads(submission.read_text())["results"]}
    rng = np.random.default_rng(int(record["submission_sha256"][:16], 16))
    picked = rng.choice(len(record["rows"]), size=min(ROWS_PER_BOARD, len(record["rows"])), replace=False)
    for index in sorted(picked):
        row = record["rows"][index]
        result = results[row["env_id"]]
        seeds = row["seeds"][:1] or [result["episodes"][0]["seed"]]
        # one episode of a row that differs: "differs" again if it is one that moved
        moved = {m["seed"] for m in row["mismatches"]}
        expected = "differs" if seeds[0] in moved else "verified" if row["status"] == "differs" else row["status"]
        again = verify_row(
            result,
            seeds,
            submission.parent,
            [submission.parent / CHECKPOINTS_FOLDER],
            workers=1,
            backend=PROCESS,
            timeouts={},
            progress=False,
        )
        assert again.status == expected, (row, again)


GENERATOR_SUBMISSIONS = sorted((BOARD / "generators").glob("*.json"))


def generator_record_of(submission: Path) -> dict:
    return json.loads((BOARD / "verified" / "generators" / submission.name).read_text())


@pytest.mark.parametrize("submission", GENERATOR_SUBMISSIONS, ids=lambda p: p.stem)
def test_every_generator_row_is_verified_or_says_why(submission):
    record = generator_record_of(submission)
    assert record["submission_sha256"] == hashlib.sha256(submission.read_bytes()).hexdigest(), (
        f"{submission.name} changed since it was verified: run `dexbench leaderboard verify "
        f"{submission.relative_to(BOARD.parent)} --out leaderboards/verified/generators/{submission.name} --overwrite`"
    )
    results = json.loads(submission.read_text())["results"]
    assert [row["env_id"] for row in record["rows"]] == [r["env_id"] for r in results]
    for row, result in zip(record["rows"], results):
        assert row["status"] in ("verified", "unverifiable"), (submission.name, row)
        assert row["status"] == "verified" or row.get("reason"), row
        if "generation" in result and result["generation"]["generator"] in ("mimicgen", "demo_noise"):
            assert row["status"] == "verified", (submission.name, row)  # a recorded run of ours re-runs


def test_a_sample_of_the_generator_boards_attempts_comes_out_as_recorded():
    """One recorded attempt of up to two rows that record their generation, from sources remade here."""
    from dexbench.leaderboards.generation_records import SourceCache, verify_generation_row

    rows = [
        (submission, i, result)
        for submission in GENERATOR_SUBMISSIONS
        for i, result in enumerate(json.loads(submission.read_text())["results"])
        if generator_record_of(submission)["rows"][i]["status"] == "verified"
    ]
    if not rows:
        pytest.skip("no generator row on the boards records its generation yet")
    rng = np.random.default_rng(len(rows))
    sources = SourceCache()
    try:
        for k in sorted(rng.choice(len(rows), size=min(2, len(rows)), replace=False)):
            submission, i, result = rows[k]
            attempt = generator_record_of(submission)["rows"][i]["attempts"][0]
            again = verify_generation_row(result, [attempt], sources)
            assert again.status == "verified", (submission.name, result["env_id"], again)
    finally:
        sources.close()
