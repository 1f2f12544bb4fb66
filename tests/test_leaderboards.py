"""Leaderboards: the published schemas, submission validation (schema, consistency, published
seeds, unreadable files) and the README.md / index.html build. Hostile files and the rules that
keep them out: test_leaderboard_hostile.py."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator

from dexbench.envs.registry import lookup
from dexbench.evaluation.seeds import eval_seeds
from dexbench.evaluation.stats import wilson_interval
from dexbench.leaderboards import (
    BoardFolderError,
    SubmissionError,
    build_leaderboards,
    load_schema,
    validate_submission,
)
from dexbench.leaderboards.reading import MAX_BYTES

NATIVE = "DexMG/TrayLift-PandaDex-D0"
OTHER = "DexMG/TrayLift-Panda-D0"


# ----------------------------------------------------------------------------- fixtures
def episodes(k: int, n: int = 50) -> tuple[bool, ...]:
    """Success flags of `n` episodes, `k` of them successful: a rankable result by default."""
    return (True,) * k + (False,) * (n - k)


def eval_result(
    env_id: str = NATIVE, successes: tuple[bool, ...] = (True, False, True, True), name: str = "bc-mlp"
) -> dict:
    """A consistent eval result on the published seeds, shaped like `dexbench eval` output."""
    entry, n, k = lookup(env_id), len(successes), sum(successes)
    seeds = eval_seeds(env_id, n)
    return {
        "format": "dexbench-eval-result",
        "format_version": 1,
        "suite_version": "0.1.0",
        "mujoco_version": "3.3.0",
        "env_id": env_id,
        "task": entry.task,
        "embodiment": entry.embodiment,
        "variant": entry.layout,
        "native": entry.native,
        "policy": {"spec": "dexbench.policies:BCPolicy", "name": name, "kwargs": {"checkpoint": "runs/bc/model"}},
        "env_kwargs": {},
        "seeds": {"source": "published", "values": seeds},
        "episodes": [
            {"seed": s, "success": ok, "length": 200 if ok else 750, "return": float(ok)}
            for s, ok in zip(seeds, successes)
        ],
        "num_episodes": n,
        "successes": k,
        "success_rate": k / n,
        "ci95": list(wilson_interval(k, n)),
        "ci_method": "wilson",
        "horizon": 750,
        "wall_time_s": 12.3,
        "workers": 2,
        "created": "2026-11-24T02:00:00+00:00",
        "host": {"python": "3.11.7", "platform": "Linux-x86_64"},
        "videos": [],
    }


def policy_submission(name: str = "BC-MLP (mimicgen 200)", results: list[dict] | None = None) -> dict:
    return {
        "format": "dexbench-policy-submission",
        "format_version": 1,
        "name": name,
        "authors": "DexBench team",
        "url": "https://example.org/bc",
        "description": "Behaviour cloning, MLP.",
        "training_data": {"generator": "mimicgen", "num_demos": 200, "source_demos": 10},
        "results": results if results is not None else [eval_result(NATIVE), eval_result(OTHER)],
    }


def generator_submission(name: str = "mimicgen", successes: tuple[bool, ...] = (True, False, True, True)) -> dict:
    """200 demos from 215 attempts in 230 CPU-seconds (52.2 demos / CPU-minute, rounded)."""
    row = {
        "env_id": NATIVE,
        "source_env_id": NATIVE,
        "num_source_demos": 10,
        "num_demos": 200,
        "attempts": 215,
        "generation_success_rate": 200 / 215,
        "demos_per_cpu_min": 52.2,
        "cpu_s": 230.0,
        "seed": 0,
        "downstream": {"policy": "bc-mlp", "train_steps": 20000, "eval": eval_result(NATIVE, successes)},
    }
    source = {
        **copy.deepcopy(row),
        "num_demos": 10,
        "attempts": None,
        "generation_success_rate": None,
        "demos_per_cpu_min": None,
        "cpu_s": None,
    }
    source["downstream"]["eval"] = eval_result(NATIVE, (False,) * (len(successes) - 1) + (True,))
    return {
        "format": "dexbench-generator-submission",
        "format_version": 1,
        "name": name,
        "authors": "DexBench team",
        "description": "Object-centric segment transforms.",
        "results": [row, source],
    }


def write(path, obj) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))
    return str(path)


# ----------------------------------------------------------------------------- schemas
def test_schemas_are_valid_draft_2020_12_and_share_the_eval_result():
    schemas = [load_schema("policy"), load_schema("generator")]
    for schema in schemas:
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] and schema["title"] and schema["additionalProperties"] is False
    shared = "urn:dexbench:schema:eval-result:1"  # one eval-result schema, referenced by both
    assert shared in json.dumps(schemas[0]) and shared in json.dumps(schemas[1])
    with pytest.raises(ValueError, match="policy, generator"):
        load_schema("dataset")


# ----------------------------------------------------------------------------- validation
def test_valid_submissions_pass(tmp_path):
    assert validate_submission(write(tmp_path / "p.json", policy_submission())) == "policy"
    assert validate_submission(generator_submission()) == "generator"
    scripted = policy_submission("scripted oracle")
    del scripted["training_data"], scripted["url"]
    assert validate_submission(scripted) == "policy"


def _published_but_custom(sub):
    seeds = [11, 12, 13, 14]
    sub["results"][0]["seeds"]["values"] = seeds
    for ep, s in zip(sub["results"][0]["episodes"], seeds):
        ep["seed"] = s


def _set(path, value):
    def mutate(sub):
        *parents, last = path
        target = sub
        for key in parents:
            target = target[key]
        target[last] = value

    return mutate


def _duplicate_seed(sub):
    result = sub["results"][0]
    result["seeds"] = {"source": "custom", "values": [5, 5, 6, 7]}
    for ep, s in zip(result["episodes"], result["seeds"]["values"]):
        ep["seed"] = s


R0 = ("results", 0)
CASES = {
    "missing name": (lambda s: s.pop("name"), "name: missing"),
    "rate above 1": (_set(R0 + ("success_rate",), 1.5), "results[0].success_rate: 1.5 is greater than"),
    "rate vs episodes": (_set(R0 + ("success_rate",), 0.5), "results[0].success_rate: 0.5 but successes"),
    "wrong format": (
        _set(("format",), "dexbench-policy"),
        "format: missing or not a submission format. Set it to "
        '"dexbench-policy-submission" (a policy) or "dexbench-generator-submission"',
    ),
    "seeds not published": (_published_but_custom, "results[0].seeds.values: not the published evaluation seeds"),
    "env id pattern": (
        _set(R0 + ("env_id",), "TrayLift-PandaDex"),
        "results[0].env_id: 'TrayLift-PandaDex' does not match",
    ),
    "unknown env id": (_set(R0 + ("env_id",), "DexMG/Stack-PandaDex-D0"), "results[0].env_id: not a DexBench env id"),
    "env id vs task": (
        _set(R0 + ("env_id",), "DexMG/TrayLift-PandaDex-D1"),
        "results[0].env_id: DexMG/TrayLift-PandaDex-D1 but",
    ),
    "successes": (_set(R0 + ("successes",), 4), "results[0].successes: 4 but 3 episodes"),
    "num_episodes": (_set(R0 + ("num_episodes",), 5), "results[0].num_episodes: 5 but there are 4"),
    "ci excludes rate": (_set(R0 + ("ci95",), [0.1, 0.5]), "results[0].ci95: [0.1, 0.5] is not the Wilson interval"),
    "negative count": (_set(R0 + ("episodes", 1, "length"), -3), "results[0].episodes[1].length: -3 is less than"),
    "unknown field": (_set(("score",), 3), "score: unknown field"),
    "duplicate env": (lambda s: s["results"].append(copy.deepcopy(s["results"][0])), "results[2]: repeats results[0]"),
    "duplicate seed": (_duplicate_seed, "results[0].seeds.values: seed 5 appears more than once"),
    "not the Wilson ci": (_set(R0 + ("ci95",), [0.5, 0.9]), "results[0].ci95: [0.5, 0.9] is not the Wilson interval"),
    "episode seed order": (
        lambda s: s["results"][0]["episodes"].reverse(),
        "results[0].episodes[0].seed: episode seeds",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_policy_submission_names_the_field(tmp_path, case):
    mutate, expected = CASES[case]
    sub = policy_submission()
    mutate(sub)
    path = write(tmp_path / "bad.json", sub)
    with pytest.raises(SubmissionError) as err:
        validate_submission(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_bad_generator_submission_names_the_field():
    sub = generator_submission()
    sub["results"][1]["downstream"]["eval"]["success_rate"] = 0.75
    with pytest.raises(SubmissionError, match=r"results\[1\]\.downstream\.eval\.success_rate: 0\.75 but"):
        validate_submission(sub)
    sub = generator_submission()
    sub["results"][0]["generation_success_rate"] = -0.1
    with pytest.raises(SubmissionError, match=r"results\[0\]\.generation_success_rate: -0\.1 is less than"):
        validate_submission(sub)
    sub = generator_submission()
    sub["results"][0]["downstream"]["eval"] = eval_result(OTHER)
    with pytest.raises(SubmissionError, match=r"results\[0\]\.downstream\.eval\.env_id: .* differs"):
        validate_submission(sub)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"{not json", "not valid JSON"),
        (b'[{"format": "dexbench-policy-submission"}]', "top level is a JSON list, not an object"),
        (b'{"format": "dexbench-policy-submission", "x": NaN}', "NaN is not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_unreadable_files_are_rejected(tmp_path, content, expected):
    path = tmp_path / "s.json"
    path.write_bytes(content)
    with pytest.raises(SubmissionError, match=expected) as err:
        validate_submission(path)
    assert str(path) in str(err.value)


def test_oversized_and_missing_files_are_rejected(tmp_path):
    path = tmp_path / "big.json"
    with open(path, "wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: never read, the size alone rejects it
    with pytest.raises(SubmissionError, match="over the 5 MB limit"):
        validate_submission(path)
    with pytest.raises(SubmissionError, match="cannot read it"):
        validate_submission(tmp_path / "nope.json")


# ----------------------------------------------------------------------------- build
def _tree(tmp_path):
    """A board: BC ranked on the native id (45/50) and unranked on OTHER (3/4), a hostile name
    ranked on OTHER (50/50), and a generator (45/50 downstream)."""
    board = tmp_path / "leaderboards"
    (tmp_path / "docs" / "images").mkdir(parents=True)
    (tmp_path / "docs" / "images" / "TrayLift.png").write_bytes(b"png")
    hostile = policy_submission("<script>alert(1)</script> | x", [eval_result(OTHER, episodes(50))])
    del hostile["training_data"]
    write(
        board / "policies" / "bc.json",
        policy_submission(results=[eval_result(NATIVE, episodes(45)), eval_result(OTHER, episodes(3, 4))]),
    )
    write(board / "policies" / "hostile.json", hostile)
    write(board / "generators" / "mimicgen.json", generator_submission(successes=episodes(45)))
    return board


def test_build_writes_tables(tmp_path):
    board = _tree(tmp_path)
    paths = build_leaderboards(board)
    assert paths == [board / "README.md", board / "index.html"]
    readme, page = (p.read_text() for p in paths)
    assert "## TrayLift" in readme and "## Pouring" in readme
    assert "![TrayLift](../docs/images/TrayLift.png)" in readme and "Pouring.png" not in readme
    assert "../dexbench/leaderboards/schemas/policy_submission.schema.json" in readme
    assert "90.0 % [78.6, 95.7]" in readme and "mimicgen x200" in readme and "93.0 %" in readme
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "DexMG/" in line]
    policy = [r for r in rows if "0.1.0" in r]
    # native pairs first, then env id, then rate: the hostile 100 % Panda row comes after the native
    # row; the 4-episode row is apart, after them, saying why it is not ranked
    assert "(native)" in policy[0] and NATIVE in policy[0] and OTHER in policy[1]
    assert "100.0 %" in policy[1] and "75.0 % [30.1, 95.4]" in policy[2] and "4 episodes, under 50" in policy[2]
    assert readme.index("Not ranked") < readme.index("75.0 % [30.1, 95.4]")
    assert "\\<script\\>" in readme and "\\|" in readme
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the page's own sort script
    assert page.index(f"<td>{NATIVE} (native)</td>") < page.index(f"<td>{OTHER}</td>")
    assert 'src="../docs/images/TrayLift.png"' in page and 'data-sort="0.75"' in page
    assert 'src="http' not in page and "<link" not in page
    assert build_leaderboards(board) == paths and paths[0].read_text() == readme  # deterministic


def test_a_copy_of_the_board_away_from_docs_keeps_its_task_pictures(tmp_path):
    import shutil
    from pathlib import Path

    from dexbench.cli import main

    repo = Path(__file__).resolve().parents[1]
    board = tmp_path / "elsewhere" / "COPY"  # no docs/ beside it
    shutil.copytree(repo / "leaderboards", board)
    assert main(["leaderboard", "build", "--dir", str(board)]) == 0
    readme, page = (board / "README.md").read_text(), (board / "index.html").read_text()
    linked = [line.split("](")[1][:-1] for line in readme.splitlines() if line.startswith("![")]
    assert linked and all(link.startswith("images/") for link in linked)
    for link in linked:  # each picture the pages link is there, the same bytes as docs/images
        assert (board / link).read_bytes() == (repo / "docs" / link).read_bytes(), link
        assert f'src="{link}"' in page
    assert build_leaderboards(board) and (board / "README.md").read_text() == readme  # again: the same


def test_bad_file_fails_the_build_and_writes_nothing(tmp_path):
    board = _tree(tmp_path)
    build_leaderboards(board)
    before = {p: p.read_text() for p in (board / "README.md", board / "index.html")}
    (board / "generators" / "broken.json").write_text('{"format": "dexbench-generator-submission",')
    with pytest.raises(SubmissionError, match="broken.json: not valid JSON"):
        build_leaderboards(board)
    assert {p: p.read_text() for p in before} == before
    (board / "generators" / "broken.json").unlink()
    write(board / "policies" / "gen.json", generator_submission("other"))
    with pytest.raises(SubmissionError, match="gen.json: format: a generator submission in policies/"):
        build_leaderboards(board)
    (board / "policies" / "gen.json").unlink()
    write(board / "policies" / "copy.json", policy_submission())
    with pytest.raises(SubmissionError, match="copy.json: name: .* already the name of"):
        build_leaderboards(board)
    assert not list(board.glob(".*.tmp"))


def test_build_of_an_empty_folder(tmp_path):
    readme, page = (p.read_text() for p in build_leaderboards(tmp_path))
    assert "No submissions yet." in readme and "No submissions yet." in page
    with pytest.raises(BoardFolderError, match="missing: no such folder"):
        build_leaderboards(tmp_path / "missing")


def test_an_env_id_may_hold_one_result_per_test_set():
    """A generator compared on the registered env and on varied objects keeps both rows; the same
    test set twice is still refused."""
    sub = generator_submission()
    varied = copy.deepcopy(sub["results"][0])
    varied["downstream"]["eval"]["env_kwargs"] = {"object_variants": "random"}
    sub["results"].append(varied)
    validate_submission(sub)
    sub["results"].append(copy.deepcopy(varied))
    with pytest.raises(SubmissionError, match=r"results\[3\]: repeats results\[2\] .*object_variants"):
        validate_submission(sub)


def test_results_are_ranked_within_their_test_set(tmp_path):
    """The flywheel's held-out set (objects varied) is ranked apart from the registered env and
    kept out of the summary; an env made easier (a longer horizon) is not ranked at all."""
    board = tmp_path / "leaderboards"
    varied = eval_result(NATIVE, episodes(50))
    varied["env_kwargs"] = {"object_variants": "random"}
    longer = eval_result(NATIVE, episodes(50))
    longer["env_kwargs"], longer["horizon"] = {"horizon": 5000}, 5000
    write(board / "policies" / "a.json", policy_submission("plain", [eval_result(NATIVE, episodes(40))]))
    write(board / "policies" / "b.json", policy_submission("varied", [varied]))
    write(board / "policies" / "c.json", policy_submission("longer", [longer]))
    readme = build_leaderboards(board)[0].read_text()
    rows = {
        name: line
        for line in readme.splitlines()
        if line.startswith("| ") and "DexMG/" in line
        for name in ("plain", "varied", "longer")
        if f"[{name}]" in line.split("|")[1]
    }
    assert f"{NATIVE} [objects varied] (native)" in rows["varied"] and "not a benchmark test set" not in rows["varied"]
    assert "not a benchmark test set" in rows["longer"] and "[other env kwargs]" in rows["longer"]
    summary = [line for line in readme[: readme.index("## TrayLift")].splitlines() if line.startswith("| ")]
    assert any("[plain]" in line for line in summary)
    assert not any("[varied]" in line or "[longer]" in line for line in summary)
