"""`dexbench compare`: every generator and the sources get a row (generation numbers, a trained
BC policy, its evaluation); a re-run reuses finished stages; the rows become valid generator
submissions."""

from __future__ import annotations

import json
import time

import pytest

from dexbench.cli import main
from dexbench.leaderboards import validate_submission
from dexbench.pipelines.compare import compare_generators, compare_table
from dexbench.policies.bc.train import BCConfig

ENV_ID = "DexMG/TrayLift-Panda-D0"


@pytest.fixture(scope="module")
def sources(panda_tray_demos):
    return panda_tray_demos


def test_compare_rows_resume_and_submissions(sources, tmp_path, capsys):
    config = BCConfig(steps=30, hidden=32, layers=1, batch_size=32)
    work = tmp_path / "work"
    summary = compare_generators(
        ENV_ID, sources, ["mimicgen", "demo_noise"], 2, work, episodes=1, train_config=config, progress=False
    )
    assert [r["data"] for r in summary["rows"]] == ["source", "mimicgen", "demo_noise"]
    source, mimicgen, noise = summary["rows"]
    assert source["num_demos"] == 2 and source["generation_success_rate"] is None
    for row in (mimicgen, noise):
        assert row["num_demos"] == 2 and 0 < row["generation_success_rate"] <= 1 and row["demos_per_cpu_min"] > 0
        assert (work / f"{row['data']}.hdf5").is_file() and (work / f"bc_{row['data']}" / "model.pt").is_file()
    assert "| mimicgen | 2 |" in compare_table(summary)

    # Finished stages are found and reused: same rows, no new generation, training or evaluation.
    stamps = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file() and p.name != "compare.json"}
    time.sleep(0.01)
    again = compare_generators(
        ENV_ID, sources, ["mimicgen", "demo_noise"], 2, work, episodes=1, train_config=config, progress=False
    )
    assert again["rows"] == summary["rows"]
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())

    out = tmp_path / "boards"
    assert (
        main(
            [
                "leaderboard",
                "submit-generators",
                str(work / "compare.json"),
                "--authors",
                "tests",
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )
    files = sorted(p.name for p in out.glob("*.json"))
    assert files == ["demo_noise.json", "mimicgen.json", "source-only.json"]
    assert all(validate_submission(out / f) == "generator" for f in files)
    result = json.loads((work / "eval_mimicgen.json").read_text())
    assert (
        main(
            [
                "leaderboard",
                "submit-policy",
                str(work / "eval_mimicgen.json"),
                "--name",
                "bc (tests)",
                "--authors",
                "tests",
                "--description",
                "tiny",
                "--train-data",
                "mimicgen",
                "--train-demos",
                "2",
                "--out",
                str(tmp_path / "p.json"),
            ]
        )
        == 0
    )
    assert validate_submission(tmp_path / "p.json") == "policy" and result["num_episodes"] == 1


def test_the_papers_seed_protocol_reports_best_checkpoint_mean_and_std(sources, tmp_path, capsys):
    config = BCConfig(steps=20, hidden=16, layers=1, batch_size=16)
    work = tmp_path / "work"
    summary = compare_generators(
        ENV_ID,
        sources,
        ["mimicgen"],
        2,
        work,
        episodes=1,
        train_config=config,
        include_source=False,
        progress=False,
        train_seeds=2,
        checkpoints=2,
    )
    (row,) = summary["rows"]
    assert [s["train_seed"] for s in row["seeds"]] == [0, 1]
    for s in row["seeds"]:
        assert len(s["checkpoint_success"]) == 2 and s["best"] == max(s["checkpoint_success"])
    best = [s["best"] for s in row["seeds"]]
    assert row["best_mean"] == pytest.approx(sum(best) / 2)
    for seed in (0, 1):  # two policies, each with two kept checkpoints (the last is the final one)
        assert sorted(p.name for p in (work / f"bc_mimicgen_seed{seed}").glob("step_*")) == ["step_10", "step_20"]
    assert (work / "eval_mimicgen.json").is_file()  # the headline result, as submit-generators reads it
    assert "best of 2 checkpoints, mean +- std over 2 training seeds" in compare_table(summary)


def test_a_row_with_a_changed_config_runs_beside_the_default(sources, tmp_path):
    # The papers' scheme comparison: the same generator with the coordination scheme swapped.
    config = BCConfig(steps=10, hidden=16, layers=1, batch_size=16)
    work = tmp_path / "work"
    with pytest.raises(ValueError, match="coordination_scheme must be one of"):
        compare_generators(
            ENV_ID,
            sources,
            ["mimicgen:coordination_scheme=sideways"],
            2,
            work,
            episodes=1,
            train_config=config,
            include_source=False,
            progress=False,
        )
    assert not any(work.glob("*.hdf5"))  # refused before any generation
    with pytest.raises(ValueError, match="is not KEY=VALUE"):
        compare_generators(
            ENV_ID,
            sources,
            ["mimicgen:replay"],
            2,
            work,
            episodes=1,
            train_config=config,
            include_source=False,
            progress=False,
        )
    summary = compare_generators(
        ENV_ID,
        sources,
        ["mimicgen", "mimicgen:coordination_scheme=replay"],
        2,
        work,
        episodes=1,
        train_config=config,
        include_source=False,
        progress=False,
    )
    default, replay = summary["rows"]
    assert replay["data"] == "mimicgen-coordination_scheme-replay" and replay["config"] == {
        "coordination_scheme": "replay"
    }
    reports = [json.loads((work / f"{r['data']}.report.json").read_text()) for r in (default, replay)]
    assert [r["config"]["coordination_scheme"] for r in reports] == ["", "replay"]
    assert (work / "bc_mimicgen-coordination_scheme-replay" / "model.pt").is_file()


@pytest.fixture(scope="module")
def generator_boards(sources, tmp_path_factory):
    """The generator submissions `submit-generators` makes of a finished compare (mimicgen and demo_noise)."""
    root = tmp_path_factory.mktemp("verify")
    config = BCConfig(steps=10, hidden=16, layers=1, batch_size=16)
    compare_generators(
        ENV_ID,
        sources,
        ["mimicgen", "demo_noise"],
        2,
        root / "work",
        episodes=1,
        train_config=config,
        include_source=False,
        progress=False,
    )
    out = root / "boards"
    args = ["leaderboard", "submit-generators", str(root / "work" / "compare.json"), "--authors", "tests"]
    assert main([*args, "--out-dir", str(out)]) == 0
    return out


def test_a_generator_row_is_verified_attempt_by_attempt_and_a_tampered_demo_is_named(
    generator_boards, tmp_path, capsys
):
    from dexbench.leaderboards.verify import verify_submission

    # Every attempt (failures too) re-run alone from sources the scripted demonstrator remakes.
    for name in ("mimicgen", "demo_noise"):
        record = verify_submission(generator_boards / f"{name}.json", sample=None)
        (row,) = record["rows"]
        sub = json.loads((generator_boards / f"{name}.json").read_text())["results"][0]
        assert record["kind"] == "generator" and row["status"] == "verified", row
        assert (
            row["attempts"] == [a[0] for a in sub["generation"]["attempts"]] and len(row["attempts"]) == sub["attempts"]
        )

    # One demo swapped for another (its counts untouched, so the file still validates): verify names the attempt.
    sub = json.loads((generator_boards / "mimicgen.json").read_text())
    attempt = sub["results"][0]["generation"]["attempts"][-1]
    attempt[1] = "0" * 64
    tampered = tmp_path / "mimicgen.json"
    tampered.write_text(json.dumps(sub))
    assert validate_submission(tampered) == "generator"
    assert main(["leaderboard", "verify", str(tampered), "--all", "-q"]) == 1
    assert f"attempt {attempt[0]}: claimed a demo with digest 000000000000..., found a demo" in capsys.readouterr().out

    # A success turned into a failure without the row's counts following is refused before anything runs.
    sub["results"][0]["generation"]["attempts"][0][1] = None
    tampered.write_text(json.dumps(sub))
    with pytest.raises(ValueError, match="1 successful attempts recorded, the row has 2 demos"):
        validate_submission(tampered)

    # Rows that cannot be re-run say why: no record, or a generator that trains policies first.
    sub = json.loads((generator_boards / "mimicgen.json").read_text())
    old = {**sub, "results": [{k: v for k, v in sub["results"][0].items() if k != "generation"}]}
    tampered.write_text(json.dumps(old))
    (row,) = verify_submission(tampered)["rows"]
    assert row["status"] == "unverifiable" and "records no generation" in row["reason"]
    from dexbench.generators import registered_entry_point

    gen = sub["results"][0]["generation"]
    gen.update(generator="flywheel", entry_point=registered_entry_point("flywheel").value)
    tampered.write_text(json.dumps(sub))
    (row,) = verify_submission(tampered)["rows"]
    assert row["status"] == "unverifiable" and "would re-train them" in row["reason"]


def test_the_diffusion_policy_is_a_row_learner_with_the_papers_seed_protocol(sources, tmp_path):
    from dexbench.policies.diffusion.train import DiffusionConfig

    config = DiffusionConfig(steps=20, batch_size=16, channels=(16, 32), horizon=8, n_action=4, ddim_steps=2, warmup=2)
    work = tmp_path / "work"
    run = dict(episodes=1, train_config=config, include_source=False, progress=False, train_seeds=2, checkpoints=2)
    summary = compare_generators(ENV_ID, sources, ["demo_noise"], 2, work, **run)
    (row,) = summary["rows"]
    assert summary["policy"] == "diffusion" and summary["learner"] == "diffusion"
    assert summary["train_config"]["channels"] == [16, 32] and summary["train_config"]["keep_checkpoints"] == 2
    assert [s["train_seed"] for s in row["seeds"]] == [0, 1] and all(
        len(s["checkpoint_success"]) == 2 for s in row["seeds"]
    )
    assert sorted(p.name for p in (work / "diffusion_demo_noise_seed0").glob("step_*")) == ["step_10", "step_20"]
    result = json.loads((work / "eval_demo_noise.json").read_text())
    assert result["policy"]["spec"] == "dexbench.policies:DiffusionPolicy"

    # A rerun reuses every stage; the same workdir with BC trains BC beside it, not over it.
    stamps = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file() and p.name != "compare.json"}
    assert compare_generators(ENV_ID, sources, ["demo_noise"], 2, work, **run)["rows"] == summary["rows"]
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    bc = compare_generators(
        ENV_ID, sources, ["demo_noise"], 2, work, **{**run, "train_config": BCConfig(steps=10, hidden=16, layers=1)}
    )
    assert bc["policy"] == "bc-mlp" and (work / "bc_demo_noise_seed1" / "model.pt").is_file()
    assert (work / "diffusion_demo_noise_seed1" / "model.pt").stat().st_mtime_ns == stamps[
        work / "diffusion_demo_noise_seed1" / "model.pt"
    ]
