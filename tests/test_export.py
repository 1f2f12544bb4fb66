"""`dexbench dataset export`: each format is loaded back with its own library (episode counts,
lengths, actions, observations, images, ends, provenance); bad input fails clearly and leaves
nothing behind."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")

import h5py
import numpy as np
import pytest

from dexbench.cli import main
from dexbench.datasets import DatasetError, DatasetWriter, load_dataset
from dexbench.datasets.export import MissingExportPackage, export_dataset
from dexbench.envs.registry import make_env
from dexbench.jsonio import file_sha256
from dexbench.rollout import rollout

ENV_ID = "DexMG/TrayLift-Panda-D0"
CAMERAS = ("agentview", "right_wrist")
IMAGE_SIZE = 32  # px: small, so rendering stays cheap
LENGTHS = (5, 8)  # steps of the two demos: different, so a mixed-up episode boundary shows


class SmallRandomPolicy:
    """Seeded small random actions: the arms move, so observations and images change."""

    def __init__(self, env) -> None:
        self.env = env

    def reset(self, seed=None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs) -> np.ndarray:
        return (0.3 * self.rng.uniform(-1, 1, self.env.action_space.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def pixel_datasets(tmp_path_factory):
    """The same two demos (state + two 32-px cameras) with and without next_obs; the first demo
    is marked as ended in success (its end is a termination, the second's a truncation)."""
    root = tmp_path_factory.mktemp("export")
    env = make_env("TrayLift", "Panda", "D0", obs_mode="state+rgb", camera_names=CAMERAS, image_size=IMAGE_SIZE)
    try:
        episodes = [rollout(env, SmallRandomPolicy(env), seed=seed, max_steps=n) for seed, n in zip((1, 2), LENGTHS)]
        episodes[0].end_reason, episodes[0].success = "success", True
        paths = {}
        for next_obs in (True, False):
            path = root / f"pixels_{'next_obs' if next_obs else 'no_next_obs'}.hdf5"
            with DatasetWriter(path, env, next_obs=next_obs) as writer:
                for episode in episodes:
                    writer.add_episode(episode)
            paths[next_obs] = path
    finally:
        env.close()
    return paths


def _stored(path):
    """Per demo: observations with the final one appended (T + 1), actions, rewards."""
    out = []
    with load_dataset(path) as ds:
        for key in ds.keys:
            episode = ds.episode(key)
            obs = {k: np.concatenate([v, episode.final_obs[k][None]]) for k, v in episode.obs.items()}
            out.append((obs, episode.actions, episode.rewards))
    return out


# ============================================================================ minari


def test_minari_export_loads_back_with_minari(pixel_datasets, tmp_path):
    minari = pytest.importorskip("minari")
    source = pixel_datasets[True]
    result = export_dataset(source, "minari", tmp_path / "traylift-v0")
    assert (result.episodes, result.steps, result.final_obs) == (2, sum(LENGTHS), "next_obs")

    ds = minari.MinariDataset(tmp_path / "traylift-v0" / "data")
    assert ds.total_episodes == 2 and ds.total_steps == sum(LENGTHS)
    assert ds.id == "traylift-v0"
    for episode, (obs, actions, rewards), n in zip(ds.iterate_episodes(), _stored(source), LENGTHS):
        assert len(episode) == n
        np.testing.assert_array_equal(episode.actions, actions)
        np.testing.assert_array_equal(episode.rewards, rewards)
        assert set(episode.observations) == set(obs)
        for key, value in obs.items():  # T + 1 rows; images bit for bit (stored without JPEG)
            assert episode.observations[key].shape == (n + 1, *value.shape[1:])
            np.testing.assert_array_equal(episode.observations[key], value)
    first, second = ds[0], ds[1]
    assert first.terminations[-1] and not first.truncations.any() and not first.terminations[:-1].any()
    assert second.truncations[-1] and not second.terminations.any()
    assert ds.observation_space["agentview_image"].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    env = make_env("TrayLift", "Panda", "D0")
    env_space = env.action_space  # the env's space (float32), as minari loads it back
    env.close()
    assert ds.action_space == env_space and ds.action_space.dtype == np.float32
    assert first.actions.dtype == np.float32 and ds.action_space.contains(first.actions[0])
    assert ds.observation_space.contains({k: v[0] for k, v in first.observations.items()})

    meta = ds.storage.metadata["dexbench"]
    assert meta["env_id"] == ENV_ID and meta["env_kwargs"]["camera_names"] == list(CAMERAS)
    assert meta["source_sha256"] == file_sha256(source) and meta["source_path"] == str(source.resolve())
    assert meta["suite_version"] and meta["demo_keys"] == ["demo_0", "demo_1"]
    episode_meta = list(ds.storage.get_episode_metadata([0, 1]))
    assert [m["dexbench_demo"] for m in episode_meta] == ["demo_0", "demo_1"] and episode_meta[1]["seed"] == 2
    env = ds.recover_environment()  # the registered id with the dataset's kwargs
    try:
        assert env.unwrapped.env_id == ENV_ID and env.unwrapped.camera_names == CAMERAS
    finally:
        env.close()


def test_minari_load_dataset_finds_an_export_under_its_datasets_path(pixel_datasets, tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    export_dataset(pixel_datasets[True], "minari", tmp_path / "traylift-pixels-v2")
    assert minari.load_dataset("traylift-pixels-v2").total_episodes == 2


def test_final_observation_without_next_obs_is_replayed_exactly(pixel_datasets, tmp_path):
    minari = pytest.importorskip("minari")
    stored = export_dataset(pixel_datasets[True], "minari", tmp_path / "stored")
    replayed = export_dataset(pixel_datasets[False], "minari", tmp_path / "replayed")
    assert (stored.final_obs, replayed.final_obs) == ("next_obs", "replay")
    a, b = minari.MinariDataset(stored.out / "data"), minari.MinariDataset(replayed.out / "data")
    for ea, eb in zip(a.iterate_episodes(), b.iterate_episodes()):
        for key in ea.observations:
            np.testing.assert_array_equal(ea.observations[key], eb.observations[key], err_msg=key)


# ============================================================================ lerobot


def test_lerobot_export_loads_back_with_lerobot(pixel_datasets, tmp_path):
    pytest.importorskip("lerobot")
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    source = pixel_datasets[True]
    result = export_dataset(source, "lerobot", tmp_path / "traylift")
    assert (result.episodes, result.steps) == (2, sum(LENGTHS))

    ds = LeRobotDataset(result.details["repo_id"], root=result.out)
    assert ds.num_episodes == 2 and ds.num_frames == sum(LENGTHS)
    assert ds.fps == 20
    frame = 0
    for index, ((obs, actions, rewards), n) in enumerate(zip(_stored(source), LENGTHS)):
        for t in range(n):
            item = ds[frame]
            assert int(item["episode_index"]) == index and int(item["frame_index"]) == t
            np.testing.assert_allclose(item["action"].numpy(), actions[t].astype(np.float32))
            np.testing.assert_allclose(item["next.reward"].numpy(), np.float32(rewards[t]))
            assert bool(item["next.done"]) == (t == n - 1)
            np.testing.assert_allclose(
                item["observation.state"].numpy(),
                np.concatenate([obs[k][t].astype(np.float32).ravel() for k in result.details["state_keys"]]),
            )
            for camera in CAMERAS:  # channel-first floats in [0, 1], stored losslessly (PNG)
                image = (item[f"observation.images.{camera}"].numpy() * 255).round().astype(np.uint8)
                np.testing.assert_array_equal(image.transpose(1, 2, 0), obs[f"{camera}_image"][t])
            frame += 1
    info = ds.meta.info
    assert info["dexbench"]["env_id"] == ENV_ID and info["dexbench"]["source_sha256"] == file_sha256(source)


# ============================================================================ bad input


def test_an_unknown_format_lists_the_valid_ones(pixel_datasets, tmp_path):
    with pytest.raises(ValueError, match="valid formats: minari, lerobot"):
        export_dataset(pixel_datasets[True], "rlds", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_missing_package_names_the_pip_extra(pixel_datasets, tmp_path, monkeypatch):
    for fmt in ("minari", "lerobot"):
        monkeypatch.setitem(sys.modules, fmt, None)  # `import minari` now raises ImportError
        with pytest.raises(MissingExportPackage, match=rf"pip install (-e )?'(dexbench|\.)\[{fmt}\]'"):
            export_dataset(pixel_datasets[True], fmt, tmp_path / fmt)


def test_a_missing_lerobot_says_to_use_a_venv_of_its_own(pixel_datasets, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lerobot", None)  # lerobot would replace this venv's torch
    with pytest.raises(MissingExportPackage, match="venv of its own") as err:
        export_dataset(pixel_datasets[True], "lerobot", tmp_path / "out")
    assert "python -m venv" in str(err.value) and "torch" in str(err.value)


def test_an_existing_output_is_kept_unless_overwrite(pixel_datasets, tmp_path):
    pytest.importorskip("minari")
    out = tmp_path / "export"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_dataset(pixel_datasets[True], "minari", out)
    assert (out / "keep.txt").read_text() == "mine"
    # a folder of other files is not an export: --overwrite does not replace it either
    with pytest.raises(ValueError, match="is a folder that is not a minari export"):
        export_dataset(pixel_datasets[True], "minari", out, overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    export_dataset(pixel_datasets[True], "minari", out)  # an empty folder holds nothing to lose
    export_dataset(pixel_datasets[True], "minari", out, overwrite=True)  # an earlier export is replaced
    assert (out / "data" / "metadata.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no staging left


@pytest.mark.parametrize("fmt", ["minari", "lerobot"])
def test_the_source_dataset_is_never_the_output(pixel_datasets, fmt):
    pytest.importorskip(fmt)  # each exporter's tests need only its own package
    with pytest.raises(FileExistsError, match="source dataset"):
        export_dataset(pixel_datasets[True], fmt, pixel_datasets[True], overwrite=True)


def test_a_failed_export_leaves_no_output(pixel_datasets, tmp_path, monkeypatch):
    pytest.importorskip("minari")
    from dexbench.datasets.export import to_minari

    def fail_midway(source, out, final, progress=False):
        out.mkdir()
        (out / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(to_minari, "export", fail_midway)
    with pytest.raises(RuntimeError, match="disk full"):
        export_dataset(pixel_datasets[True], "minari", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_dataset_that_is_not_ours_is_refused(tmp_path):
    pytest.importorskip("minari")
    foreign = tmp_path / "robomimic_lift.hdf5"
    with h5py.File(foreign, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {}})
        data.create_group("demo_0").create_dataset("actions", data=np.zeros((3, 7)))
    with pytest.raises(DatasetError, match="not a DexBench dataset"):
        export_dataset(foreign, "minari", tmp_path / "out")
    text = tmp_path / "notes.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        export_dataset(text, "minari", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ============================================================================ CLI


def test_cli_exports_and_reports_errors_without_traceback(pixel_datasets, tmp_path, capsys):
    pytest.importorskip("minari")
    out = tmp_path / "cli-v0"
    assert main(["dataset", "export", str(pixel_datasets[True]), "--format", "minari", "--out", str(out), "-q"]) == 0
    assert "2 episodes, 13 steps" in capsys.readouterr().out
    assert main(["dataset", "export", str(pixel_datasets[True]), "--format", "minari", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["dataset", "export", str(pixel_datasets[True]), "--format", "csv", "--out", str(out)]) == 2
    assert "valid formats: minari, lerobot" in capsys.readouterr().err
