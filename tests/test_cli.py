"""Smoke tests of the `dexbench` command line (in-process, plus one real console-script run)."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import shutil
import subprocess
import sys

import imageio.v2 as imageio
import numpy as np
import pytest

from dexbench.cli import main
from dexbench.cli.common import CLIError
from dexbench.datasets import load_dataset
from dexbench.envs.registry import ENV_TABLE
from dexbench.generators import worker
from dexbench.generators.scripted import DEMONSTRATORS

ENV_ID = "DexMG/TrayLift-Panda-D0"


class ZeroDemonstrator:
    def __init__(self, env) -> None:
        self.env = env

    def reset(self, seed=None) -> None:
        self.k, self.done = 0, False

    def act(self, obs) -> np.ndarray:
        self.k += 1
        self.done = self.k >= 2
        return np.zeros(self.env.action_space.shape, dtype=np.float32)


@pytest.fixture
def zero_demonstrator(monkeypatch):
    """Stand-in for the scripted demonstrators, so these tests test the CLI, not the scripts."""
    monkeypatch.setitem(DEMONSTRATORS, "TrayLift", ZeroDemonstrator)


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for env_id, entry in ENV_TABLE.items():
        assert env_id in out
        marked = f"* {env_id}" in out
        assert marked == entry.native, env_id
    assert "TrayLift:" in out and "Pouring:" in out


def test_info(capsys):
    assert main(["info", ENV_ID]) == 0
    out = capsys.readouterr().out
    for text in (
        "observation space",
        "right_eef_pos",
        "action space",
        "right_pose",
        "left_hand",
        "task spec",
        "grasp_cube",
        "layouts of TrayLift",
        "D0",
        "D1",
        "D2",
        "horizon 750",
    ):
        assert text in out, text


@pytest.mark.parametrize(
    "command",
    [
        ["info", "DexMG/TrayLift-Pnda-D0"],
        ["render", "DexMG/TrayLift-Pnda-D0", "--out", "x.png"],
        ["demo", "--env", "DexMG/TrayLift-Pnda-D0", "-n", "1", "--out", "x.hdf5"],
    ],
)
def test_unknown_id_is_an_error_not_a_traceback(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(command) != 0
    err = capsys.readouterr().err
    assert "No DexBench env 'DexMG/TrayLift-Pnda-D0'" in err and "DexMG/TrayLift-Panda-D0" in err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_render_png(tmp_path, capsys):
    out = tmp_path / "scene.png"
    assert main(["render", ENV_ID, "--out", str(out), "--size", "128", "--seed", "1"]) == 0
    image = imageio.imread(out)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert image.std() > 10 and len(np.unique(image.reshape(-1, 3), axis=0)) > 50, "blank render"


def test_render_unknown_camera(tmp_path, capsys):
    assert main(["render", ENV_ID, "--out", str(tmp_path / "x.png"), "--camera", "nope"]) != 0
    assert "unknown camera 'nope'" in capsys.readouterr().err


def test_video(tmp_path, capsys, zero_demonstrator):
    out = tmp_path / "rollout.mp4"
    assert main(["video", ENV_ID, "--out", str(out), "--size", "64", "--max-steps", "6"]) == 0
    frames = imageio.mimread(out)
    assert len(frames) == 7 and frames[0].shape == (64, 64, 3)  # reset + 6 steps
    assert "7/7" in capsys.readouterr().err  # the progress bar, one tick a frame
    assert main(["video", ENV_ID, "--out", str(out), "--size", "64", "--max-steps", "2", "-q", "--overwrite"]) == 0
    assert "frame" not in capsys.readouterr().err


def test_demo_records_only_successes(tmp_path, capsys, zero_demonstrator, monkeypatch):
    real = worker.rollout
    calls = []

    def every_other_succeeds(*args, **kwargs):
        episode = real(*args, **kwargs)
        calls.append(episode.seed)
        episode.success = len(calls) % 2 == 0
        return episode

    monkeypatch.setattr(worker, "rollout", every_other_succeeds)
    out = tmp_path / "demos.hdf5"
    assert main(["demo", "--env", ENV_ID, "-n", "2", "--out", str(out), "--seed", "10", "-q"]) == 0
    assert calls == [worker.attempt_seed(10, i) for i in range(4)]
    summary = capsys.readouterr().out
    for text in ("attempts", "successes", "success rate", "50.0 %", "mean length", "wall time"):
        assert text in summary, text
    with load_dataset(out) as ds:
        assert ds.keys == ["demo_0", "demo_1"] and ds.attempts == 4 and ds.total == 2
        assert [ds.demo_attrs(k)["seed"] for k in ds] == [calls[1], calls[3]]
    # a second run does not silently replace the file
    assert main(["demo", "--env", ENV_ID, "-n", "1", "--out", str(out), "-q"]) != 0
    assert "--overwrite" in capsys.readouterr().err


def test_demo_reports_shortfall(tmp_path, capsys, zero_demonstrator):
    out = tmp_path / "demos.hdf5"
    assert main(["demo", "--env", ENV_ID, "-n", "1", "--out", str(out), "--max-attempts", "2", "-q"]) == 1
    captured = capsys.readouterr()
    assert "only 0 of 1" in captured.err and "0.0 %" in captured.out
    with load_dataset(out) as ds:
        assert len(ds) == 0 and ds.attempts == 2


def test_console_script_unknown_id():
    exe = shutil.which("dexbench", path=os.path.dirname(sys.executable)) or shutil.which("dexbench")
    command = [exe] if exe else [sys.executable, "-m", "dexbench.cli"]
    result = subprocess.run([*command, "info", "DexMG/Nope-GR1-D0"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "No DexBench env" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command,message",
    [
        (["render", ENV_ID, "--out", "x.png", "--size", "0"], "frame size 0 px"),
        (["render", ENV_ID, "--out", "x.png", "--seed", "-1"], "--seed must be >= 0"),
        (["video", ENV_ID, "--out", "v.mp4", "--max-steps", "0"], "--max-steps must be >= 1"),
        (["demo", "--env", ENV_ID, "-n", "0", "--out", "d.hdf5"], "n must be >= 1"),
        (["demo", "--env", ENV_ID, "-n", "1", "--out", "d.hdf5", "--workers", "1000"], "workers must be in 1..64"),
        (["demo", "--env", ENV_ID, "-n", "1", "--out", "d.hdf5", "--seed", "-2"], "seed must be >= 0"),
        (
            ["eval", "--policy", "dexbench.policies:RandomPolicy", "--env", ENV_ID, "--seeds=-1,2"],
            "--seeds must be >= 0",
        ),
        (
            ["eval", "--policy", "dexbench.policies:RandomPolicy", "--env", ENV_ID, "--episodes", "0"],
            "episodes must be in",
        ),
        (
            ["eval", "--policy", "dexbench.policies:RandomPolicy", "--env", ENV_ID, "--step-timeout", "0"],
            "timeouts must be",
        ),
    ],
)
def test_bad_sizes_counts_and_seeds_are_refused_with_a_message(command, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    "args,message",
    [
        (["--generator", "scripted", "--env", ENV_ID, "--source", "{src}"], "needs no source demos"),
        (
            ["--generator", "mimicgen", "--env", "DexMG/TrayLift-GR1-D1", "--source", "{src}"],
            "not to another task or robot",
        ),
        (
            [
                "--generator",
                "mimicgen",
                "--env",
                "DexMG/TrayLift-Panda-D1",
                "--source",
                "{src}",
                "--config",
                "nearest_k=0",
            ],
            "nearest_k must be >= 1",
        ),
        (
            [
                "--generator",
                "mimicgen",
                "--env",
                "DexMG/TrayLift-Panda-D1",
                "--source",
                "{src}",
                "--config",
                "nearest_k=2",
                "nearest_k=3",
            ],
            "sets 'nearest_k' twice",
        ),
        (
            [
                "--generator",
                "mimicgen",
                "--env",
                "DexMG/TrayLift-Panda-D1",
                "--source",
                "{src}",
                "--resume",
                "--overwrite",
            ],
            "contradict",
        ),
        (
            [
                "--generator",
                "mimicgen",
                "--env",
                "DexMG/TrayLift-Panda-D1",
                "--source",
                "{src}",
                "--out",
                "/proc/x.hdf5",
            ],
            "cannot write /proc/x.hdf5",
        ),
    ],
)
def test_generation_refuses_contradictory_or_impossible_requests_up_front(
    args, message, panda_tray_demos, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{src}", str(panda_tray_demos)) for a in args]
    out = [] if "--out" in args else ["--out", "g.hdf5"]
    assert main(["generate", *args, "-n", "1", *out, "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_eval_never_overwrites_an_existing_out_unless_asked(tmp_path, capsys):
    precious = tmp_path / "precious.json"
    precious.write_text("my notes")
    assert (
        main(["eval", "--policy", "dexbench.policies:RandomPolicy", "--env", ENV_ID, "--out", str(precious), "-q"]) == 2
    )
    assert "--overwrite" in capsys.readouterr().err and precious.read_text() == "my notes"


def test_cameras_are_comma_separated_and_the_space_separated_form_is_refused(tmp_path, capsys):
    from dexbench.cli import build_parser

    parser = build_parser()
    for command in (["generate", "--generator", "scripted"], ["demo"]):
        args = parser.parse_args([*command, "--env", ENV_ID, "-n", "1", "--out", "x.hdf5", "--cameras", "a,b"])
        assert args.cameras == "a,b"
        assert parser.parse_args([*command, "--env", ENV_ID, "-n", "1", "--out", "x.hdf5"]).cameras == "agentview"
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--env", ENV_ID, "-n", "1", "--out", str(tmp_path / "x.hdf5"), "--cameras", "a", "b"])
        assert exit_info.value.code == 2
        assert "--cameras takes comma-separated cameras, e.g. --cameras a,b" in capsys.readouterr().err
    args = parser.parse_args(["compare", "--env", ENV_ID, "--source", "s.hdf5", "-n", "1", "--cameras", "a,b"])
    assert args.cameras == "a,b"
    args = parser.parse_args(["dataset", "render-obs", "--cameras", "a,b", "f.hdf5"])  # FILE after it still parses
    assert (args.cameras, args.file) == ("a,b", "f.hdf5")


def test_every_command_with_workers_has_a_backend():
    from dexbench.cli import build_parser

    def parsers(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield name, sub
                    yield from parsers(sub)

    with_workers = {name: sub for name, sub in parsers(build_parser()) if "--workers" in sub._option_string_actions}
    assert {"generate", "demo", "eval", "compare", "flywheel", "render-obs"} <= set(with_workers)
    for name, sub in with_workers.items():
        assert "--backend" in sub._option_string_actions, name


def test_library_errors_become_one_line_user_errors():
    from dexbench.cli.common import CLIError, error_message, user_errors

    assert error_message(KeyError("no generator 'x'")) == "no generator 'x'"  # not its repr, quoted
    assert error_message(ValueError("bad")) == "bad"
    with pytest.raises(CLIError, match="^no generator 'x'$"), user_errors(KeyError):
        raise KeyError("no generator 'x'")
    with pytest.raises(TypeError), user_errors(KeyError):  # other errors pass through
        raise TypeError("a bug")


def test_generator_descriptions_come_from_the_generator_classes():
    from dexbench.cli.leaderboard import SOURCE_DESCRIPTION, generator_description
    from dexbench.generators import get_generator

    for name in ("mimicgen", "demo_noise"):
        assert generator_description(name) == get_generator(name).description != ""
    assert generator_description("source") == SOURCE_DESCRIPTION
    assert generator_description("scripted") == "scripted"  # no description: the name stands in
    assert generator_description("not-installed") == "not-installed"


def test_training_defaults_live_in_the_library_configs():
    """An option left out on the command line is the library config's default (one layer of
    defaults): `train bc --arch rnn` trains what `BCConfig(arch="rnn")` trains."""
    from dexbench.cli import build_parser
    from dexbench.cli.train import bc_config, diffusion_config
    from dexbench.policies.bc.train import BCConfig
    from dexbench.policies.diffusion.train import DiffusionConfig

    parser = build_parser()
    base = ["--data", "d.hdf5", "--out", "o"]
    assert bc_config(parser.parse_args(["train", "bc", *base])) == BCConfig()
    rnn = bc_config(parser.parse_args(["train", "bc", *base, "--arch", "rnn"]))
    assert rnn == BCConfig(arch="rnn") and (rnn.layers, rnn.batch_size) == (2, 64)
    assert bc_config(parser.parse_args(["train", "bc", *base, "--obs", "rgb"])).batch_size == 128
    assert bc_config(parser.parse_args(["train", "bc", *base, "--layers", "5"])) == BCConfig(layers=5)
    assert diffusion_config(parser.parse_args(["train", "diffusion", *base])) == DiffusionConfig()
    assert diffusion_config(parser.parse_args(["train", "diffusion", *base, "--channels", "32,64"])).channels == (
        32,
        64,
    )
    with pytest.raises(CLIError, match="--batch-size"):
        bc_config(parser.parse_args(["train", "bc", *base, "--batch-size", "0"]))
