"""Generator plug-ins and the generation runner: entry points, a third-party generator end to
end, demo_noise, determinism with workers, resume, report, and the generate/dataset CLI."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import dataclasses
import json

import h5py
import imageio.v2 as imageio
import numpy as np
import pytest

from dexbench.cli import main
from dexbench.datasets import load_dataset
from dexbench.datasets.replay import replay_demo
from dexbench.generators import available_generators, get_generator, runner, worker
from dexbench.generators.base import AttemptInfo, Generator
from dexbench.generators.demo_noise import DemoNoiseGenerator
from dexbench.generators.runner import GenerationReport, OutputPaths, run_generation

ENV_ID = "DexMG/TrayLift-Panda-D0"
TOY = "toy_replay"


# ----------------------------------------------------------------------------- a third-party generator
@dataclasses.dataclass
class ToyConfig:
    fail_prob: float = 0.4  # share of attempts that give up at once (cheap failures)


class ToyPolicy:
    """Replays a source demo exactly from its initial state, or gives up after 2 steps."""

    def __init__(self, env, actions, state0, index, fail) -> None:
        self.env, self.actions, self.state0, self.index, self.fail = env, actions, state0, index, fail
        self.done = False

    def reset(self, seed=None) -> None:
        self.env.reset_to(self.state0)
        self.t, self.done = 0, False

    def act(self, obs) -> np.ndarray:
        T = 2 if self.fail else len(self.actions)
        action = self.actions[min(self.t, T - 1)] if not self.fail else np.zeros(self.env.action_space.shape)
        self.t += 1
        self.done = self.t >= T
        return action

    def attempt_info(self) -> AttemptInfo:
        return AttemptInfo(
            source_demos={"right": [self.index], "left": [self.index]},
            subtask_index={"right": np.zeros(self.t, dtype=int)},
            failure_subtask="right:toy_fail" if self.fail else None,
        )


class ToyReplayGenerator(Generator):
    name = TOY
    Config = ToyConfig

    def policy(self, env, rng):
        keys = self.sources.keys
        index = int(rng.integers(len(keys)))
        fail = bool(rng.random() < self.config.fail_prob)
        actions = self.sources.array(keys[index], "actions")
        return ToyPolicy(env.unwrapped, actions, self.sources.array(keys[index], "states")[0], index, fail)


@pytest.fixture
def toy_plugin(tmp_path, monkeypatch):
    """Register ToyReplayGenerator as a third party would: a dist-info with an entry point."""
    site = tmp_path / "site"
    dist = site / "toy_dexbench_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-dexbench-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[dexbench.generators]\n{TOY} = {__name__}:ToyReplayGenerator\n")
    monkeypatch.syspath_prepend(str(site))
    return TOY


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "sources.hdf5"
    report = runner.run_generation("scripted", ENV_ID, None, 2, path, progress=False)
    assert report.successes == 2
    return path


def demos(path) -> list[tuple[int, np.ndarray, np.ndarray]]:
    with load_dataset(path) as ds:
        return [(int(ds.demo_attrs(k)["attempt"]), ds.array(k, "actions"), ds.array(k, "states")) for k in ds]


def same(a, b) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and np.array_equal(x[1], y[1]) and np.array_equal(x[2], y[2]) for x, y in zip(a, b)
    )


# ----------------------------------------------------------------------------- discovery
def test_builtin_generators_are_entry_points():
    names = available_generators()
    assert {"demo_noise", "mimicgen"} <= set(names)
    assert get_generator("demo_noise") is DemoNoiseGenerator
    with pytest.raises(KeyError, match="available: .*demo_noise"):
        get_generator("no_such_generator")


def test_config_parsing():
    assert DemoNoiseGenerator.parse_config({"noise_scale": "0.1", "noise_hands": "true"}) == DemoNoiseGenerator.Config(
        noise_scale=0.1, noise_hands=True
    )
    with pytest.raises(ValueError, match="no config key"):
        DemoNoiseGenerator.parse_config({"noise": "0.1"})
    with pytest.raises(ValueError, match="source_selection"):
        DemoNoiseGenerator.Config(source_selection="nearest")


# ----------------------------------------------------------------------------- end to end
def test_third_party_generator_end_to_end(toy_plugin, sources, tmp_path):
    assert TOY in available_generators() and get_generator(TOY) is ToyReplayGenerator
    out = tmp_path / "toy.hdf5"
    report = run_generation(TOY, ENV_ID, sources, 2, out, seed=2, keep_failed=True, progress=False)
    assert report.successes == 2 and report.attempts == 2 + sum(report.failure_reasons.values())
    assert set(report.failure_reasons) <= {"right:toy_fail"} and report.failure_reasons, "seed 2 has failures"
    assert report.success_rate == pytest.approx(2 / report.attempts)
    assert report.demos_per_cpu_minute > 0 and report.cpu_s > 0 and report.mean_length > 100

    paths = OutputPaths(out)
    saved = json.loads(paths.report.read_text())
    assert set(saved) == {f.name for f in dataclasses.fields(GenerationReport)}
    for name in (
        "generator",
        "env_id",
        "seed",
        "workers",
        "config",
        "attempts",
        "successes",
        "success_rate",
        "demos_per_cpu_minute",
        "mean_length",
        "failure_reasons",
        "wall_s",
        "cpu_s",
    ):
        assert saved[name] == getattr(report, name) or name in ("config",), name
    assert saved["config"] == {"fail_prob": 0.4} and saved["generator"] == TOY
    assert not paths.leftovers()

    with load_dataset(out) as ds, load_dataset(sources) as src:
        assert len(ds) == 2 and ds.attempts == report.attempts and ds.complete
        for key in ds:
            attrs = ds.demo_attrs(key)
            assert attrs["generator"] == TOY and attrs["success"]
            k = attrs["source_demo"]
            assert json.loads(attrs["source_demos"]) == {"right": [k], "left": [k]}
            # an exact replay of the source, from the source's own initial state
            assert np.array_equal(ds.array(key, "actions"), src.array(f"demo_{k}", "actions"))
            assert np.array_equal(ds.array(key, "states"), src.array(f"demo_{k}", "states"))
            assert np.array_equal(ds.array(key, "obs/tray_pose"), src.array(f"demo_{k}", "obs/tray_pose"))
            assert ds.array(key, "datagen_info/subtask_index/right").shape == (ds.num_samples(key),)
    with load_dataset(paths.failed) as failed:
        assert len(failed) == sum(report.failure_reasons.values())
        assert {failed.demo_attrs(k)["failure_subtask"] for k in failed} == {"right:toy_fail"}


def test_demo_noise_makes_d0_demos(sources, tmp_path):
    out = tmp_path / "noisy.hdf5"
    report = run_generation(
        "demo_noise", ENV_ID, sources, 2, out, seed=0, config={"noise_scale": "0.01"}, progress=False
    )
    assert report.successes == 2 and report.config["noise_scale"] == 0.01
    with load_dataset(out) as ds, load_dataset(sources) as src:
        for key in ds:
            k = ds.demo_attrs(key)["source_demo"]
            mine, theirs = ds.array(key, "actions"), src.array(f"demo_{k}", "actions")
            assert ds.demo_attrs(key)["variant"] == "D0"
            np.testing.assert_array_equal(ds.array(key, "states")[0], src.array(f"demo_{k}", "states")[0])
            np.testing.assert_array_equal(
                ds.array(key, "obs/cube_right_pose")[0], src.array(f"demo_{k}", "obs/cube_right_pose")[0]
            )
            T = min(len(mine), len(theirs))
            pose = np.r_[0:12]
            diff = mine[:T, pose] - theirs[:T, pose]
            assert 0 < np.abs(diff).max() < 0.1 and 0.003 < diff.std() < 0.02  # noise of std 0.01 (clipped)
            np.testing.assert_array_equal(mine[:T, 12:], theirs[:T, 12:])  # hands: no noise by default
            index = ds.array(key, "datagen_info/subtask_index/right")
            assert index[0] == 0 and index[-1] == 4 and np.all(np.diff(index) >= 0)
        steps = ds.num_samples("demo_1")
    result = replay_demo(out, 1)
    assert result.success and result.max_state_error == 0.0 and result.steps == steps


def test_demo_noise_refuses_d1(sources, tmp_path, capsys):
    out = tmp_path / "d1.hdf5"
    with pytest.raises(ValueError, match=r"(?s)own recorded initial state.*D0.*mimicgen"):
        run_generation("demo_noise", "DexMG/TrayLift-Panda-D1", sources, 1, out, progress=False)
    assert (
        main(
            [
                "generate",
                "--generator",
                "demo_noise",
                "--env",
                "DexMG/TrayLift-Panda-D2",
                "--source",
                str(sources),
                "-n",
                "1",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "cannot generate D2" in err and "mimicgen" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_any_number_of_workers_makes_the_one_worker_dataset(toy_plugin, sources, tmp_path):
    a, c = tmp_path / "a.hdf5", tmp_path / "c.hdf5"
    report = run_generation(TOY, ENV_ID, sources, 3, a, seed=1, workers=2, progress=False)
    assert report.successes == 3 and report.workers == 2
    first = demos(a)
    attempts = [d[0] for d in first]
    assert attempts == sorted(attempts) and {i % 2 for i in attempts} == {0, 1}
    for workers in (1, 3):
        other = tmp_path / f"w{workers}.hdf5"
        again = run_generation(TOY, ENV_ID, sources, 3, other, seed=1, workers=workers, progress=False)
        assert same(first, demos(other)), f"{workers} workers made another dataset"
        assert (again.attempts, again.failure_reasons) == (report.attempts, report.failure_reasons)
    assert report.attempts == attempts[-1] + 1  # nothing past the third success counts
    with load_dataset(a) as ds:
        assert ds.attempts == report.attempts
    # a finished run extended to a larger n is the run made to that n directly
    run_generation(TOY, ENV_ID, sources, 2, c, seed=1, workers=2, progress=False)
    assert len(demos(c)) == 2
    with pytest.raises(FileExistsError, match="resume"):
        run_generation(TOY, ENV_ID, sources, 3, c, seed=1, workers=2, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        run_generation(TOY, ENV_ID, sources, 3, c, seed=2, workers=2, progress=False, resume=True)
    extended = run_generation(TOY, ENV_ID, sources, 3, c, seed=1, workers=2, progress=False, resume=True)
    assert same(first, demos(c)) and extended.attempts == report.attempts
    assert not OutputPaths(c).leftovers()
    # ... and extended again on another number of workers, the one-worker run to that n
    direct = tmp_path / "direct5.hdf5"
    five = run_generation(TOY, ENV_ID, sources, 5, direct, seed=1, workers=1, progress=False)
    again = run_generation(TOY, ENV_ID, sources, 5, c, seed=1, workers=3, progress=False, resume=True)
    assert same(demos(direct), demos(c)) and (again.attempts, again.failure_reasons) == (
        five.attempts,
        five.failure_reasons,
    )


def test_resume_after_interrupt(toy_plugin, sources, tmp_path, monkeypatch):
    direct = tmp_path / "direct.hdf5"
    full = run_generation(TOY, ENV_ID, sources, 3, direct, seed=4, progress=False, keep_failed=True)

    out = tmp_path / "out.hdf5"
    real, calls = worker.rollout, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == full.attempts - 1:  # the last-but-one attempt is in flight
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "rollout", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_generation(TOY, ENV_ID, sources, 3, out, seed=4, progress=False, keep_failed=True)
    monkeypatch.setattr(worker, "rollout", real)
    assert not out.exists()
    kept = OutputPaths(out).leftovers()
    assert any(p.name.endswith(".partial") for p in kept), kept
    with pytest.raises(FileExistsError, match="--resume"):
        run_generation(TOY, ENV_ID, sources, 3, out, seed=4, progress=False)
    resumed = run_generation(TOY, ENV_ID, sources, 3, out, seed=4, progress=False, keep_failed=True, resume=True)
    assert same(demos(direct), demos(out))
    assert resumed.attempts == full.attempts and resumed.failure_reasons == full.failure_reasons
    assert not OutputPaths(out).leftovers()
    with load_dataset(OutputPaths(out).failed) as f1, load_dataset(OutputPaths(direct).failed) as f2:
        assert [f1.demo_attrs(k)["attempt"] for k in f1] == [f2.demo_attrs(k)["attempt"] for k in f2]


# ----------------------------------------------------------------------------- CLI
def test_dataset_info_says_1_worker_and_leaves_out_empty_config(sources, monkeypatch, capsys):
    from dexbench.datasets import info as info_module

    real = info_module.dataset_info

    def with_generation(path):
        info = real(path)
        info["generation"] = {
            "generator": "mimicgen",
            "seed": 0,
            "workers": 1,
            "requested": 3,
            "source": None,
            "config": {"coordination_scheme": "", "select_src_per_subtask": True},
        }
        return info

    monkeypatch.setattr(info_module, "dataset_info", with_generation)
    assert main(["dataset", "info", str(sources)]) == 0
    text = capsys.readouterr().out
    assert "(seed 0, 1 worker, 3 requested)" in text and "1 workers" not in text
    assert "select_src_per_subtask=True" in text and "coordination_scheme" not in text


def test_cli_generate_info_replay(sources, tmp_path, capsys):
    out = tmp_path / "gen.hdf5"
    assert (
        main(
            [
                "generate",
                "--generator",
                "demo_noise",
                "--env",
                ENV_ID,
                "--source",
                str(sources),
                "-n",
                "1",
                "--out",
                str(out),
                "--config",
                "noise_scale=0.01",
                "-q",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    for label in ("attempts", "successes", "success rate", "demos / CPU-minute", "mean length", "failures", "report:"):
        assert label in text, label
    assert (tmp_path / "gen.report.json").exists()

    assert main(["dataset", "info", str(out)]) == 0
    text = capsys.readouterr().out
    for label in ("demos", "lengths", "layouts", "D0 1", "demo_noise", "sources", "noise_scale=0.01", str(sources)):
        assert label in text, label

    with load_dataset(out) as ds:
        steps = ds.num_samples("demo_0")
    assert main(["dataset", "replay", str(out), "--demo", "0"]) == 0
    text = capsys.readouterr().out
    assert f"{steps} steps, success" in text and "max state deviation from the stored states 0" in text
    video = tmp_path / "replay.mp4"  # rendering is slow without a GPU: a short preview
    assert (
        main(
            ["dataset", "replay", str(out), "--demo", "demo_0", "--out", str(video), "--size", "64", "--max-steps", "5"]
        )
        == 0
    )
    printed = capsys.readouterr()
    assert f"the first 5 of {steps} steps" in printed.out
    assert "replay demo_0" in printed.err and "6/6" in printed.err  # the progress bar over the frames
    frames = imageio.mimread(video, memtest=False)
    assert len(frames) == 6 and frames[0].shape == (64, 64, 3)

    assert (
        main(
            [
                "generate",
                "--generator",
                "nope",
                "--env",
                ENV_ID,
                "--source",
                str(sources),
                "-n",
                "1",
                "--out",
                str(tmp_path / "x.hdf5"),
            ]
        )
        == 2
    )
    assert "available: " in capsys.readouterr().err
    assert (
        main(
            [
                "generate",
                "--generator",
                "demo_noise",
                "--env",
                ENV_ID,
                "--source",
                str(sources),
                "-n",
                "1",
                "--out",
                str(out),
                "--config",
                "bogus=1",
                "-q",
            ]
        )
        == 2
    )
    assert "no config key 'bogus'" in capsys.readouterr().err


def test_writer_keeps_extra_groups_and_attrs(sources, tmp_path):
    with load_dataset(sources) as src:
        episode = src.episode("demo_0")
    episode.datagen_info["subtask_index"] = {"right": np.arange(episode.num_samples)}
    episode.info = {"attempt": 7, "source_demos": {"right": [0]}, "ignored": 1}
    from dexbench.datasets import DatasetWriter
    from dexbench.envs.registry import make_env

    env = make_env("TrayLift", "Panda", "D0")
    try:
        with DatasetWriter(tmp_path / "x.hdf5", env, info_attrs=("attempt", "source_demos")) as writer:
            writer.add_episode(episode, attrs={"note": "hi"})
    finally:
        env.close()
    with h5py.File(tmp_path / "x.hdf5", "r") as f:
        grp = f["data/demo_0"]
        assert grp.attrs["attempt"] == 7 and json.loads(grp.attrs["source_demos"]) == {"right": [0]}
        assert grp.attrs["note"] == "hi" and "ignored" not in grp.attrs
        assert np.array_equal(grp["datagen_info/subtask_index/right"][()], np.arange(episode.num_samples))
        for name in ("eef_pose", "target_pose", "hand_action", "object_pose", "subtask_signals"):
            assert name in grp["datagen_info"]


def test_a_full_disk_ends_with_a_clear_error_and_the_run_resumes(sources, tmp_path, monkeypatch, capsys):
    from dexbench.datasets.writer import DatasetWriter

    direct = tmp_path / "direct.hdf5"
    run_generation("demo_noise", ENV_ID, sources, 2, direct, progress=False)
    real, calls = DatasetWriter.add_episode, []

    def full_disk(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # HDF5's words for ENOSPC, as h5py raises them
            raise RuntimeError(
                "Unable to flush file (file write failed: errno = 28, error message = 'No space left on device')"
            )
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DatasetWriter, "add_episode", full_disk)
    out = tmp_path / "out.hdf5"
    assert (
        main(
            [
                "generate",
                "--generator",
                "demo_noise",
                "--env",
                ENV_ID,
                "--source",
                str(sources),
                "-n",
                "2",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "the disk is full" in err and "--resume" in err and "Traceback" not in err
    monkeypatch.setattr(DatasetWriter, "add_episode", real)
    run_generation("demo_noise", ENV_ID, sources, 2, out, progress=False, resume=True)
    assert same(demos(direct), demos(out))


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(toy_plugin, sources, tmp_path):
    out = tmp_path / "busy.hdf5"
    with runner._output_lock(OutputPaths(out)):  # what a run that is still handing back its shards holds
        with pytest.raises(FileExistsError, match="another run is writing .*busy.hdf5"):
            run_generation(TOY, ENV_ID, sources, 1, out, seed=1, progress=False, resume=True)
    assert not (tmp_path / "busy.hdf5.lock").exists()
    assert run_generation(TOY, ENV_ID, sources, 1, out, seed=1, progress=False).successes == 1
    assert not (tmp_path / "busy.hdf5.lock").exists()
