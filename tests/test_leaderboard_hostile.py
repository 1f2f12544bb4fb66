"""Leaderboards against hostile or careless submissions: files that are not plain files, numbers
and text that JSON allows but a board cannot show, counts that disagree, names that try to leave
the output folder, lucky few-episode results; and the rule that every rejection is one line
(that whatever `validate` accepts, `build` publishes: test_leaderboard_pages.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_leaderboards import NATIVE, OTHER, episodes, eval_result, generator_submission, policy_submission, write

from dexbench.cli import main
from dexbench.evaluation.stats import wilson_interval
from dexbench.leaderboards import SubmissionError, build_leaderboards, validate_submission
from dexbench.leaderboards.reading import MAX_BYTES
from dexbench.leaderboards.submit import safe_file_name, submission_path

REPO = Path(__file__).resolve().parents[1]
SECRET = "hunter2-not-for-logs"


def refused(obj_or_path, *expected: str) -> str:
    """The one-line error `validate_submission` raises, holding each of `expected`."""
    with pytest.raises(SubmissionError) as err:
        validate_submission(obj_or_path)
    message = str(err.value)
    assert "\n" not in message, message
    for text in expected:
        assert text in message, message
    return message


def board(tmp_path: Path) -> Path:
    """A leaderboards folder with one valid policy submission (the scripted oracle)."""
    root = tmp_path / "leaderboards"
    oracle = policy_submission("Scripted oracle", [eval_result(NATIVE, episodes(50))])
    del oracle["training_data"]
    write(root / "policies" / "oracle.json", oracle)
    (root / "generators").mkdir()
    return root


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`dexbench ...` in its own process: a hang fails the test instead of stalling the run."""
    return subprocess.run(
        [sys.executable, "-m", "dexbench.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


# ----------------------------------------------------------------------------- files that are not plain files
def test_a_symlink_to_dev_zero_is_refused_without_reading_it(tmp_path):
    root = board(tmp_path)
    link = root / "policies" / "zero.json"
    link.symlink_to("/dev/zero")
    refused(link, f"{link}: a symbolic link, not a regular file")
    with pytest.raises(SubmissionError, match="zero.json: a symbolic link"):
        build_leaderboards(root)
    assert not (root / "README.md").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_in_the_policies_folder_is_refused_without_blocking(tmp_path):
    root = board(tmp_path)
    fifo = root / "policies" / "pipe.json"
    os.mkfifo(fifo)  # nobody writes to it: a blocking open or read would wait forever
    result = cli("leaderboard", "build", "--dir", str(root), timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip() == f"dexbench leaderboard: error: {fifo}: a FIFO, not a regular file. Give the "
        "submission itself as a plain JSON file (links and special files are not read)."
    )
    assert not (root / "README.md").exists()
    result = cli("leaderboard", "validate", str(fifo), timeout=60)
    assert result.returncode == 2 and "a FIFO, not a regular file" in result.stderr


def test_a_symlink_pointing_outside_the_folder_is_refused_without_echoing_its_content(tmp_path):
    root = board(tmp_path)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"format": SECRET, SECRET: SECRET}))
    (root / "policies" / "leak.json").symlink_to(secret)
    with pytest.raises(SubmissionError) as err:
        build_leaderboards(root)
    assert "leak.json: a symbolic link" in str(err.value) and SECRET not in str(err.value)
    # Read directly, a file that is no submission still never shows up in the message.
    assert SECRET not in refused(secret, "format: missing or not a submission format")
    for text in [f"password={SECRET}\n", f'{{"{SECRET}": 1, "{SECRET}": 2}}', f'{{"format": "{SECRET}"']:
        secret.write_text(text)
        assert SECRET not in refused(secret, str(secret))


def test_a_symlinked_board_folder_is_refused(tmp_path):
    root = board(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "generators").rmdir()
    (root / "generators").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(SubmissionError, match="generators: a symbolic link, not a folder"):
        build_leaderboards(root)


def test_an_oversize_file_is_refused_and_one_at_the_limit_is_read(tmp_path):
    text = json.dumps(policy_submission(results=[eval_result(NATIVE, episodes(45))]))
    path = tmp_path / "padded.json"
    path.write_text(text + " " * (MAX_BYTES - len(text)))  # JSON allows trailing whitespace
    assert validate_submission(path) == "policy"
    with open(path, "a") as f:
        f.write(" ")
    refused(path, f"{path}: over the 5 MB limit of a submission")


# ----------------------------------------------------------------------------- names that become paths
def compare_workdir(root: Path, generator: str) -> Path:
    """What `dexbench compare` leaves in its work directory for the source row and `generator`
    (files named after the generator, as compare names them), with consistent numbers."""
    work = root / "runs" / "compare"
    write(work / "eval_source.json", eval_result(NATIVE, episodes(1)))
    write(work / f"eval_{generator}.json", eval_result(NATIVE, episodes(45)))
    write(
        work / f"{generator}.report.json", {"generator": generator, "successes": 200, "attempts": 215, "cpu_s": 230.0}
    )
    rows = [
        {
            "data": "source",
            "num_demos": 10,
            "attempts": None,
            "generation_success_rate": None,
            "demos_per_cpu_min": None,
        },
        {
            "data": generator,
            "num_demos": 200,
            "attempts": 215,
            "generation_success_rate": 200 / 215,
            "demos_per_cpu_min": 200 / (230.0 / 60),
        },
    ]
    write(
        work / "compare.json",
        {
            "format": "dexbench-compare",
            "format_version": 1,
            "env_id": NATIVE,
            "source_env_id": NATIVE,
            "num_source_demos": 10,
            "seed": 0,
            "policy": "bc-mlp",
            "bc_config": {"steps": 5000},
            "rows": rows,
        },
    )
    return work / "compare.json"


def test_submit_generators_names_files_safely_inside_the_out_dir(tmp_path, capsys):
    out = tmp_path / "leaderboards" / "generators"
    summary = compare_workdir(tmp_path, "fast/gen v2")  # compare kept its files in compare/fast/
    assert main(["leaderboard", "submit-generators", str(summary), "--authors", "Me", "--out-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fast_gen_v2.json", "source-only.json"]
    for path in out.iterdir():
        assert validate_submission(path) == "generator"
    row = json.loads((out / "fast_gen_v2.json").read_text())["results"][0]
    assert row["cpu_s"] == 230.0 and row["attempts"] == 215  # CPU time from the generation report


def test_a_dot_dot_slash_name_never_makes_submit_generators_write_outside_the_out_dir(tmp_path, capsys):
    out = tmp_path / "leaderboards" / "generators"
    summary = compare_workdir(tmp_path, "../../escaped")
    before = sorted(tmp_path.rglob("*"))
    assert main(["leaderboard", "submit-generators", str(summary), "--authors", "Me", "--out-dir", str(out)]) == 2
    error = capsys.readouterr().err
    assert "escaped.report.json: outside" in error and error.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, in --out-dir or elsewhere
    assert submission_path(out, "../../escaped") == out / "escaped.json"
    assert safe_file_name("..") == "submission.json" and safe_file_name("a/../b c") == "a_.._b_c.json"


# ----------------------------------------------------------------------------- ranking
def test_a_one_episode_submission_is_not_ranked_above_the_fifty_episode_oracle(tmp_path):
    root = board(tmp_path)
    write(root / "policies" / "lucky.json", policy_submission("Lucky", [eval_result(NATIVE, (True,))]))
    custom = eval_result(OTHER, episodes(50))
    custom["seeds"] = {"source": "custom", "values": list(range(50))}
    for episode, seed in zip(custom["episodes"], range(50)):
        episode["seed"] = seed
    write(root / "policies" / "custom.json", policy_submission("Own seeds", [custom]))
    readme, page = (p.read_text() for p in build_leaderboards(root))
    summary = readme[readme.index("## Summary") : readme.index("## TrayLift")]
    assert "Scripted oracle" in summary and "Lucky" not in summary and "Own seeds" not in summary
    start = readme.index("## TrayLift")
    traylift = readme[start : readme.index("### Generators", start)]
    assert traylift.index("Scripted oracle") < traylift.index("Not ranked") < traylift.index("Lucky")
    assert "| 1 episode, under 50 |" in traylift and "| not the published seeds |" in traylift
    assert page.index("Scripted oracle</a></td><td>DexMG/TrayLift") < page.index("Not ranked") < page.index(">Lucky<")


# ----------------------------------------------------------------------------- numbers and text
def test_a_made_up_ci_method_is_refused():
    sub = policy_submission()
    sub["results"][0]["ci_method"] = "bayes-optimal"
    refused(sub, "results[0].ci_method: 'wilson' was expected", "Wilson")


def test_a_ci95_that_disagrees_with_the_recomputed_wilson_interval_is_refused():
    sub = policy_submission(results=[eval_result(NATIVE, episodes(45))])
    lo, hi = wilson_interval(45, 50)
    sub["results"][0]["ci95"] = [round(lo - 0.01, 4), hi]
    refused(sub, "results[0].ci95:", "is not the Wilson interval of 45/50")


@pytest.mark.parametrize("literal", ["1e999", "-1e999"])
def test_a_number_that_overflows_to_infinity_is_refused(tmp_path, literal):
    text = json.dumps(policy_submission()).replace('"wall_time_s": 12.3', f'"wall_time_s": {literal}', 1)
    path = tmp_path / "inf.json"
    path.write_text(text)
    refused(path, f"{path}: results[0].wall_time_s: not a finite number")
    sub = policy_submission()
    sub["results"][1]["wall_time_s"] = float("inf")
    refused(sub, "results[1].wall_time_s: not a finite number")


def test_a_400_digit_integer_is_refused(tmp_path):
    text = json.dumps(policy_submission()).replace('"horizon": 750', '"horizon": 7' + "5" * 399, 1)
    path = tmp_path / "big.json"
    path.write_text(text)
    assert "5" * 30 not in refused(path, f"{path}: an integer of 400 digits, out of range. Give at most 1e+09.")
    path.write_text(text.replace("7" + "5" * 399, "75000000000"))  # 11 digits: parsed, then out of range
    refused(path, "results[0].horizon: an integer of 11 digits, out of range. Give at most 1e+09.")
    sub = generator_submission()
    sub["results"][0]["num_demos"] = 10**400
    refused(sub, "results[0].num_demos: an integer of 401 digits, out of range")


@pytest.mark.parametrize(
    "field, value, char",
    [
        (("url",), "https://example.org/bc\n", "U+000A"),
        (("name",), "BC\u202eLM-CB", "U+202E"),
        (("description",), "line one\r\nline two", "U+000D"),
        (("results", 0, "policy", "name"), "bc\x1b[31m", "U+001B"),
    ],
)
def test_a_control_character_in_any_string_is_refused(tmp_path, field, value, char):
    sub = policy_submission()
    target = sub
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    path = write(tmp_path / "policies" / "ctrl.json", sub)
    refused(path, ".".join(map(str, field)).replace(".0.", "[0].") + f": holds the control character {char}")
    with pytest.raises(SubmissionError):
        build_leaderboards(tmp_path)
    assert not (tmp_path / "README.md").exists()


def test_duplicate_keys_are_refused(tmp_path):
    path = tmp_path / "dup.json"
    text = json.dumps(policy_submission())
    path.write_text(text.replace('"name": "BC-MLP (mimicgen 200)"', '"name": "Honest", "name": "Other"', 1))
    refused(path, f'{path}: key "name" appears twice in one object')


GENERATOR_FAULTS = {
    "more demos than attempts": (
        {"attempts": 150, "generation_success_rate": 1.0},
        "results[0].num_demos: 200 demos from 150 attempts",
    ),
    "rate is not demos / attempts": (
        {"generation_success_rate": 0.95},
        "results[0].generation_success_rate: 0.95 but num_demos / attempts = 200/215",
    ),
    "speed is not demos / CPU minutes": (
        {"demos_per_cpu_min": 60.0},
        "results[0].demos_per_cpu_min: 60.0 but num_demos / CPU minutes",
    ),
    "CPU time disagrees with the speed": ({"cpu_s": 300.0}, "results[0].demos_per_cpu_min: 52.2 but"),
    "CPU time left out": ({"cpu_s": None}, "results[0].cpu_s: null while attempts is given"),
    "CPU time of zero": ({"cpu_s": 0}, "results[0].cpu_s: 0 is less than or equal to the minimum of 0"),
    "zero attempts": ({"attempts": 0}, "results[0].attempts: 0 is less than the minimum of 1"),
}


@pytest.mark.parametrize("fault", list(GENERATOR_FAULTS))
def test_generator_rows_whose_numbers_disagree_are_refused(fault):
    change, expected = GENERATOR_FAULTS[fault]
    sub = generator_submission()
    sub["results"][0].update(change)
    refused(sub, expected)


def test_generator_rows_without_cpu_seconds_are_refused():
    sub = generator_submission()
    del sub["results"][0]["cpu_s"]
    refused(sub, "results[0].cpu_s: missing. Add this required field.")


# ----------------------------------------------------------------------------- what to do instead
def test_validate_on_a_raw_eval_result_says_how_to_wrap_it(tmp_path, capsys):
    path = write(tmp_path / "result.json", eval_result(NATIVE, episodes(45)))
    refused(
        path,
        f"{path}: this is an evaluation result, not a submission: wrap it with "
        f"`dexbench leaderboard submit-policy {path} --name NAME --authors AUTHORS --description TEXT "
        "--out leaderboards/policies/NAME.json`",
    )
    assert main(["leaderboard", "validate", path]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "submit-policy" in error and "Set it to" not in error


def test_every_rejection_is_one_line_and_the_cli_exits_2_without_a_traceback(tmp_path, capsys):
    root = board(tmp_path)
    bad = policy_submission()
    bad["results"][0]["success_rate"] = 7  # several schema problems at once
    bad["results"][0]["ci95"] = [2, 3]
    del bad["authors"]
    path = write(root / "policies" / "bad.json", bad)
    assert main(["leaderboard", "validate", path, str(root / "policies" / "oracle.json")]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "more field(s) to fix" in captured.err
    assert "oracle.json: valid policy submission" in captured.out
    assert main(["leaderboard", "build", "--dir", str(root)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"dexbench leaderboard: error: {path}: ") and error.count("\n") == 1


# ----------------------------------------------------------------------------- files the tools write
def test_submit_generators_never_replaces_an_existing_submission_without_overwrite(tmp_path, capsys):
    out = tmp_path / "leaderboards" / "generators"
    summary = compare_workdir(tmp_path, "mimicgen")
    assert main(["leaderboard", "submit-generators", str(summary), "--authors", "Me", "--out-dir", str(out)]) == 0
    existing = write(out / "mimicgen.json", generator_submission())  # all the published rows of mimicgen
    before = (out / "mimicgen.json").read_bytes()
    capsys.readouterr()
    assert main(["leaderboard", "submit-generators", str(summary), "--authors", "Me", "--out-dir", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--overwrite" in error and f"Also taken: {existing}." in error
    assert "already holds the generator submission 'source-only'" in error  # the first one, explained
    assert (out / "mimicgen.json").read_bytes() == before
    # --out-dir naming an existing file: refused, the file kept.
    assert main(["leaderboard", "submit-generators", str(summary), "--authors", "Me", "--out-dir", existing]) == 2
    assert f"--out-dir {existing}: a file, not a folder" in capsys.readouterr().err
    assert (out / "mimicgen.json").read_bytes() == before
    assert (
        main(
            ["leaderboard", "submit-generators", str(summary), "--authors", "Me", "--out-dir", str(out), "--overwrite"]
        )
        == 0
    )
    assert len(json.loads((out / "mimicgen.json").read_text())["results"]) == 1


def test_submit_policy_never_writes_over_its_input_and_needs_overwrite_for_an_existing_out(tmp_path, capsys):
    result = write(tmp_path / "r.json", eval_result(NATIVE, episodes(45)))
    before = Path(result).read_bytes()
    args = ["leaderboard", "submit-policy", result, "--name", "X", "--authors", "A", "--description", "D"]
    for extra in ([], ["--overwrite"]):  # its own input: never, not even with --overwrite
        assert main([*args, "--out", result, *extra]) == 2
        error = capsys.readouterr().err
        assert (
            error == f"dexbench leaderboard: error: {result}: the output is one of the input files, and writing "
            "it would destroy that input. Give another --out.\n"
        )
        assert Path(result).read_bytes() == before
    out = str(tmp_path / "p.json")
    assert main([*args, "--out", out]) == 0
    assert main([*args, "--name", "Y", "--out", out]) == 2
    error = capsys.readouterr().err
    assert f"{out}: already holds the policy submission 'X' with 1 result(s)" in error and "--overwrite" in error
    assert json.loads(Path(out).read_text())["name"] == "X"
    assert main([*args, "--name", "Y", "--out", out, "--overwrite"]) == 0
    assert json.loads(Path(out).read_text())["name"] == "Y"
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert f"{tmp_path}: a folder, not a file. Give a file path as --out" in capsys.readouterr().err


def test_build_keeps_the_mode_of_the_pages_it_replaces_and_gives_new_ones_the_umask_mode(tmp_path):
    root = board(tmp_path)
    old_umask = os.umask(0o027)
    try:
        readme, page = build_leaderboards(root)
        assert (readme.stat().st_mode & 0o777, page.stat().st_mode & 0o777) == (0o640, 0o640)
        readme.chmod(0o644)
        page.chmod(0o604)
        build_leaderboards(root)
        assert (readme.stat().st_mode & 0o777, page.stat().st_mode & 0o777) == (0o644, 0o604)
    finally:
        os.umask(old_umask)
    for path in (REPO / "leaderboards" / "README.md", REPO / "leaderboards" / "index.html"):
        assert path.stat().st_mode & 0o044 == 0o044, f"{path} is not readable by everyone"


def test_folders_that_cannot_be_used_are_one_line_errors_without_a_traceback(tmp_path, capsys):
    root = board(tmp_path)
    a_file = write(tmp_path / "a.json", {})
    (root / "README.md").mkdir()
    cases = [
        (["build", "--dir", str(root)], f"{root / 'README.md'}: a folder where the page goes. Remove or rename it"),
        (["build", "--dir", "/proc/self"], "/proc/self/README.md: cannot write it ("),
        (["build", "--dir", a_file], f"{a_file}: a file, not a folder. Give the leaderboards folder"),
        (
            ["submit-generators", str(compare_workdir(tmp_path, "mimicgen")), "--authors", "Me", "--out-dir", a_file],
            f"--out-dir {a_file}: a file, not a folder. Give a folder",
        ),
        (
            [
                "submit-generators",
                str(compare_workdir(tmp_path, "mimicgen")),
                "--authors",
                "Me",
                "--out-dir",
                f"{a_file}/sub",
            ],
            f"{a_file}/sub/source-only.json: cannot write it (",
        ),
    ]
    for args, expected in cases:
        assert main(["leaderboard", *args]) == 2, args
        error = capsys.readouterr().err
        assert error.startswith(f"dexbench leaderboard: error: {expected}") and error.count("\n") == 1, error
        assert "Traceback" not in error
    assert not list(root.glob(".*.tmp"))


def test_a_too_long_text_is_refused_naming_the_field_its_length_and_the_limit():
    sub = policy_submission()
    sub["description"] = "x" * 5_000_000
    message = refused(sub, "submission: description is too long: 5000000 characters, at most 5000. Shorten it")
    assert "xxx" not in message and len(message) < 300
    sub = policy_submission()
    sub["results"][0]["policy"]["name"] = "p" * 201
    refused(sub, "results[0].policy.name is too long: 201 characters, at most 200")


def test_an_empty_comparison_and_a_demo_count_without_training_data_are_refused(tmp_path, capsys):
    summary = compare_workdir(tmp_path, "mimicgen")
    data = json.loads(summary.read_text())
    write(summary, {**data, "rows": []})
    out = tmp_path / "out"
    assert main(["leaderboard", "submit-generators", str(summary), "--authors", "Me", "--out-dir", str(out)]) == 2
    assert f"{summary}: the comparison has no rows" in capsys.readouterr().err and not out.exists()
    result = write(tmp_path / "r.json", eval_result(NATIVE, episodes(45)))
    args = [
        "leaderboard",
        "submit-policy",
        result,
        "--name",
        "X",
        "--authors",
        "A",
        "--description",
        "D",
        "--out",
        str(tmp_path / "p.json"),
    ]
    for count in (["--train-demos", "5"], ["--source-demos", "10"]):
        assert main([*args, *count]) == 2
        assert f"{count[0]} needs --train-data" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
    assert main([*args, "--train-data", "mimicgen", "--train-demos", "5"]) == 0
    assert json.loads((tmp_path / "p.json").read_text())["training_data"] == {"generator": "mimicgen", "num_demos": 5}


@pytest.mark.parametrize("char", ["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u3164"])
def test_a_name_with_an_invisible_character_is_refused(char):
    refused(policy_submission(f"BC{char}-MLP"), f"name: holds the invisible character U+{ord(char):04X}")


@pytest.mark.parametrize(
    "name, lookalike",
    [
        ("BC-MLP", "ＢＣ-ＭＬＰ"),
        ("BC-MLP", "bc-mlp"),
        ("BC-MLP", " BC-MLP "),
        ("BC-MLP", "ᴮC-MLP"),
        ("Straße", "STRASSE"),
        ("BC MLP", "BC  MLP"),
    ],
)
def test_a_name_that_looks_like_another_after_nfkc_and_casefold_is_refused(tmp_path, name, lookalike):
    root = board(tmp_path)
    write(root / "policies" / "a.json", policy_submission(name))
    path = write(root / "policies" / "b.json", policy_submission(lookalike))
    refused(path, "name:", "is already the name of")
    with pytest.raises(SubmissionError, match="is already the name of"):
        build_leaderboards(root)


def test_an_episode_longer_than_the_horizon_or_of_no_steps_is_refused():
    sub = policy_submission()
    sub["results"][0]["episodes"][2]["length"] = 100_000
    refused(sub, "results[0].episodes[2].length: 100000 steps, over the horizon of 750")
    sub["results"][0]["episodes"][2]["length"] = 0
    refused(sub, "results[0].episodes[2].length:", ">= 1")


@pytest.mark.parametrize("version", ["9.9.9", "0.1.1", "0.2.0", "1" * 5000 + ".0.0"])
def test_a_result_from_a_newer_dexbench_than_the_installed_one_is_refused(version):
    sub = policy_submission()
    sub["results"][1]["suite_version"] = version
    message = refused(sub, "results[1].suite_version:", "is newer than the installed DexBench 0.1.0")
    assert len(message) < 400
    sub["results"][1]["suite_version"] = "0.0.9+local"  # older, or the same: accepted
    assert validate_submission(sub) == "policy"
