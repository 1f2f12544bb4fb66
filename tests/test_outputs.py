"""The outputs rule, the same for every command that writes an --out (`generate`/`demo`,
`video`, `dataset export`, `dataset render-obs`): checked before any work; an existing output is
replaced only with --overwrite, and only when it is what the command writes; never the current
folder. And a relative --out works for every exporter (Minari's storage doubled it)."""

from __future__ import annotations

import os
import time

import pytest

from dexbench.cli import main

ENV_ID = "DexMG/TrayLift-Panda-D0"  # its scripted demo takes about a second
NOTES = "my notes, not a dataset"


@pytest.fixture
def dataset(tmp_path):
    out = tmp_path / "demos.hdf5"
    assert main(["demo", "--env", ENV_ID, "-n", "1", "--out", str(out), "-q"]) == 0
    return out


def refused(capsys, args, *expected):
    start = time.monotonic()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err
    return time.monotonic() - start


# ----------------------------------------------------------------------------- generate / demo
def test_generate_overwrite_replaces_only_a_dexbench_dataset(tmp_path, capsys, dataset):
    foreign = tmp_path / "notes.hdf5"
    foreign.write_text(NOTES)
    demo = ["demo", "--env", ENV_ID, "-n", "1", "-q"]
    refused(capsys, [*demo, "--out", str(foreign)], "already exists", "--overwrite")
    refused(capsys, [*demo, "--out", str(foreign), "--overwrite"], "is a file that is not a DexBench dataset")
    assert foreign.read_text() == NOTES
    assert main([*demo, "--out", str(dataset), "--overwrite"]) == 0  # our own dataset: replaced


def test_generate_never_replaces_a_foreign_file_at_the_reports_path(tmp_path, capsys):
    report = tmp_path / "run.report.json"
    report.write_text(NOTES)
    refused(
        capsys,
        ["demo", "--env", ENV_ID, "-n", "1", "-q", "--out", str(tmp_path / "run.hdf5"), "--overwrite"],
        "is not a generation report",
    )
    assert report.read_text() == NOTES and not (tmp_path / "run.hdf5").exists()


def test_generate_refuses_the_current_folder_and_an_unwritable_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["demo", "--env", ENV_ID, "-n", "1", "-q", "--out", ".", "--overwrite"], "current folder")
    blocker = tmp_path / "file"
    blocker.write_text("")
    refused(capsys, ["demo", "--env", ENV_ID, "-n", "1", "-q", "--out", str(blocker / "x.hdf5")], "cannot")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# ----------------------------------------------------------------------------- video
def test_video_checks_its_out_before_rendering(tmp_path, capsys):
    video = tmp_path / "v.mp4"
    args = ["video", ENV_ID, "--size", "32", "--max-steps", "2", "-q", "--out", str(video)]
    assert main(args) == 0
    first = video.read_bytes()
    assert refused(capsys, args, "already exists", "--overwrite") < 10
    assert main([*args, "--overwrite"]) == 0  # a video: replaced
    fake = tmp_path / "notes.mp4"
    fake.write_text(NOTES)
    refused(capsys, [*args[:-1], str(fake), "--overwrite"], "is a file that is not a video")
    assert fake.read_text() == NOTES and first
    blocker = tmp_path / "file"
    blocker.write_text("")
    refused(capsys, [*args[:-1], str(blocker / "v.mp4")], f"cannot write {blocker / 'v.mp4'}")
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


# ----------------------------------------------------------------------------- dataset export
def test_a_relative_out_works_for_the_minari_export(dataset, capsys, monkeypatch):
    pytest.importorskip("minari")
    monkeypatch.chdir(dataset.parent)
    assert main(["dataset", "export", dataset.name, "--format", "minari", "--out", "exports/rel", "-q"]) == 0
    assert (dataset.parent / "exports" / "rel" / "data" / "metadata.json").is_file()
    assert main(["dataset", "export", dataset.name, "--format", "minari", "--out", "rel2", "-q"]) == 0
    import minari

    assert minari.MinariDataset(str(dataset.parent / "rel2" / "data")).total_episodes == 1
    assert not [p for p in dataset.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_export_overwrite_refuses_a_foreign_folder_a_file_and_the_current_folder(
    dataset, tmp_path, capsys, monkeypatch
):
    pytest.importorskip("minari")
    export = ["dataset", "export", str(dataset), "--format", "minari", "-q", "--overwrite", "--out"]
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES)
    refused(capsys, [*export, str(notes)], "is a file that is not a minari export")
    assert notes.read_text() == NOTES
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mine.txt").write_text(NOTES)
    monkeypatch.chdir(tmp_path / "sub")
    refused(capsys, [*export, "."], "current folder")
    refused(capsys, [*export, ".."], "is (or holds) the source dataset")
    assert (tmp_path / "sub" / "mine.txt").read_text() == NOTES and dataset.exists()


# ----------------------------------------------------------------------------- render-obs
def test_render_obs_overwrite_replaces_only_a_dexbench_dataset(dataset, tmp_path, capsys):
    foreign = tmp_path / "notes.hdf5"
    foreign.write_text(NOTES)
    render = ["dataset", "render-obs", str(dataset), "--cameras", "agentview", "--size", "16", "-q", "--out"]
    refused(capsys, [*render, str(foreign)], "already exists")
    refused(capsys, [*render, str(foreign), "--overwrite"], "is a file that is not a DexBench dataset")
    assert foreign.read_text() == NOTES
    assert not (tmp_path / "notes.hdf5.render-obs").exists()  # refused before its work folder was made
    out = tmp_path / "images.hdf5"
    assert main([*render, str(out)]) == 0
    assert main([*render, str(out), "--overwrite"]) == 0  # our own dataset: replaced
    assert os.path.getsize(out) > 0


def test_dataset_replay_out_follows_the_video_rule(dataset, tmp_path, capsys):
    fake = tmp_path / "notes.gif"
    fake.write_text(NOTES)
    replay = ["dataset", "replay", str(dataset), "--max-steps", "2", "--size", "32", "-q", "--out", str(fake)]
    refused(capsys, replay, "already exists", "--overwrite")
    refused(capsys, [*replay, "--overwrite"], "is a file that is not a video")
    assert fake.read_text() == NOTES
    video = tmp_path / "replay.gif"
    assert main([*replay[:-1], str(video)]) == 0
    assert main([*replay[:-1], str(video), "--overwrite"]) == 0


def test_flywheel_refuses_no_demos_and_a_task_without_object_variants_before_making_its_folder(
    tmp_path, capsys, dataset
):
    workdir = tmp_path / "fw"
    fly = ["flywheel", "--source", str(dataset), "--scale", "0.01", "-q", "--workdir", str(workdir)]
    refused(capsys, [*fly, "--env", ENV_ID, "-n", "0"], "-n must be >= 1")
    refused(capsys, [*fly, "--env", "DexMG/Threading-Panda-D0"], "Threading declares no object variants", "TrayLift")
    assert not workdir.exists()


def test_eval_overwrite_replaces_only_eval_results_and_their_table(tmp_path, capsys):
    notes = tmp_path / "notes.json"
    notes.write_text(NOTES)
    evaluate = ["eval", "--policy", "dexbench.policies:RandomPolicy", "--env", ENV_ID, "--episodes", "1", "-q"]
    assert refused(capsys, [*evaluate, "--out", str(notes), "--overwrite"], "is not an eval result") < 10
    refused(capsys, [*evaluate, "--perturb", "each", "--out", str(tmp_path / "rows.json")], "writes a folder")
    folder = tmp_path / "perturbed"
    folder.mkdir()
    (folder / "perturbations.md").write_text(NOTES)
    refused(capsys, [*evaluate, "--perturb", "each", "--out", str(folder)], "perturbations.md already exists")
    refused(
        capsys, [*evaluate, "--perturb", "each", "--out", str(folder), "--overwrite"], "is not a perturbation table"
    )
    assert notes.read_text() == NOTES and (folder / "perturbations.md").read_text() == NOTES
    result = tmp_path / "r.json"
    assert main([*evaluate, "--out", str(result)]) == 0
    assert main([*evaluate, "--out", str(result), "--overwrite"]) == 0  # a result: replaced


def test_an_export_removes_the_staging_left_by_a_killed_one_and_keeps_a_running_ones(dataset, tmp_path):
    pytest.importorskip("minari")
    from dexbench.datasets.export import export_dataset

    dead = tmp_path / ".out.999999999.abc.tmp"  # a pid above any pid_max: its run is gone
    live = tmp_path / f".out.{os.getpid()}.def.tmp"
    for staging in (dead, live):
        (staging / "out").mkdir(parents=True)
    export_dataset(dataset, "minari", tmp_path / "out")
    assert not dead.exists() and live.exists()
