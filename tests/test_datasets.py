"""Recording episodes and the HDF5 dataset layout: round trip, atomic writes, clear errors."""

from __future__ import annotations

import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import h5py
import mujoco
import numpy as np
import pytest

from dexbench.datasets import (
    DatasetError,
    DatasetWriter,
    load_dataset,
    write_dataset,
)
from dexbench.datasets.hdf5 import default_masks
from dexbench.envs.registry import make_env
from dexbench.episode import Episode
from dexbench.rollout import DONE_EXTRA_STEPS, rollout

ENV_ID = "DexMG/TrayLift-Panda-D0"


class ZeroDemonstrator:
    """Zero (hold-still) actions; done after `n` actions."""

    def __init__(self, env, n: int = 3) -> None:
        self.env, self.n = env, n

    def reset(self, seed=None) -> None:
        self.k, self.done = 0, False

    def act(self, obs) -> np.ndarray:
        self.k += 1
        self.done = self.k >= self.n
        return np.zeros(self.env.action_space.shape, dtype=np.float32)


@pytest.fixture(scope="module")
def env():
    env = make_env("TrayLift", "Panda", "D0")
    yield env
    env.close()


@pytest.fixture(scope="module")
def episode(env) -> Episode:
    return rollout(env, ZeroDemonstrator(env, n=4), seed=7, max_steps=12)


def test_record_episode_shapes_and_content(env, episode):
    T = episode.num_samples
    assert T == 12 and episode.end_reason == "max_steps"
    assert episode.env_id == ENV_ID and episode.layout == "D0" and episode.seed == 7
    assert episode.actions.shape == (T, 14)
    assert episode.states.shape == (T, env.get_state().shape[0])
    assert np.array_equal(episode.states[0], episode.initial_state)
    assert episode.rewards.shape == (T,) and episode.dones.shape == (T,) and episode.dones[-1] == 1
    for key, space in env.observation_space.spaces.items():
        assert episode.obs[key].shape == (T, *space.shape)
    assert set(episode.final_obs) == set(episode.obs)
    info = episode.datagen_info
    for group in ("eef_pose", "target_pose"):
        assert set(info[group]) == {"right", "left"}
        assert info[group]["right"].shape == (T, 4, 4)
    assert info["hand_action"]["right"].shape == (T, 1)
    assert set(info["object_pose"]) == set(env.task.objects)
    assert set(info["subtask_signals"]) == set(env.subtask_signals())
    assert all(v.shape == (T,) and v.dtype == bool for v in info["subtask_signals"].values())
    # obs[t] is before action t: the eef position observed equals the eef pose recorded
    assert np.allclose(episode.obs["right_eef_pos"], info["eef_pose"]["right"][:, :3, 3])
    assert not episode.success


def test_record_episode_stops_after_demonstrator(env):
    ep = rollout(env, ZeroDemonstrator(env, n=3), seed=0)
    assert ep.end_reason == "policy_done"
    assert ep.num_samples == 3 + DONE_EXTRA_STEPS


def test_record_episode_is_seeded(env):
    a = rollout(env, ZeroDemonstrator(env, n=1), seed=3, max_steps=2)
    b = rollout(env, ZeroDemonstrator(env, n=1), seed=3, max_steps=2)
    c = rollout(env, ZeroDemonstrator(env, n=1), seed=4, max_steps=2)
    assert np.array_equal(a.states, b.states)
    assert not np.array_equal(a.states[0], c.states[0])


def test_round_trip(env, episode, tmp_path):
    path = tmp_path / "demos.hdf5"
    write_dataset(path, env, [episode, episode], attempts=5, masks={"train": ["demo_0"], "valid": ["demo_1"]})
    assert path.exists() and not (tmp_path / "demos.hdf5.tmp").exists()
    with load_dataset(path) as ds:
        assert ds.keys == ["demo_0", "demo_1"] and len(ds) == 2
        assert ds.env_id == ENV_ID and ds.total == 2 and ds.attempts == 5 and ds.complete
        assert ds.masks == {"train": ["demo_0"], "valid": ["demo_1"]}
        attrs = ds.attrs
        for name in ("env_args", "total", "attempts", "mujoco_version", "dexbench_version", "model_xml"):
            assert name in attrs
        assert attrs["mujoco_version"] == mujoco.__version__
        env_args = json.loads(attrs["env_args"])
        assert env_args["env_name"] == ENV_ID and env_args["type"] == 2
        assert env_args["env_kwargs"]["obs_mode"] == "state" and "dexbench_version" in env_args
        demo = ds.demo_attrs("demo_1")
        assert demo["num_samples"] == episode.num_samples and demo["variant"] == "D0"
        assert demo["seed"] == 7 and demo["generator"] == "scripted" and demo["source_demo"] == -1
        back = ds.episode("demo_1")
        for name in ("actions", "states", "rewards", "dones"):
            assert np.array_equal(getattr(back, name), getattr(episode, name)), name
        for key in episode.obs:
            assert np.array_equal(back.obs[key], episode.obs[key]), key
            assert np.array_equal(back.final_obs[key], episode.final_obs[key]), key
        for group, arrays in episode.datagen_info.items():
            for key, value in arrays.items():
                assert np.array_equal(back.datagen_info[group][key], value), (group, key)
        assert np.array_equal(ds.array("demo_0", "obs/right_eef_pos"), episode.obs["right_eef_pos"])
        model = ds.load_model()
        assert (model.nq, model.nu, model.nbody) == (env.model.nq, env.model.nu, env.model.nbody)

    with h5py.File(path, "r") as f:  # the robomimic layout, read with plain h5py
        grp = f["data/demo_0"]
        assert grp["actions"].shape == episode.actions.shape
        assert "obs" in grp and "next_obs" in grp and "datagen_info/subtask_signals" in grp
        assert int(f["data"].attrs["total"]) == 2
        assert [k.decode() for k in f["mask/train"][()]] == ["demo_0"]


def test_a_small_complete_file_has_a_valid_split(env, episode, tmp_path):
    path = write_dataset(tmp_path / "three.hdf5", env, [episode] * 3)
    with load_dataset(path) as ds:
        train, valid = ds.masks["train"], ds.masks["valid"]
    assert len(valid) == 1 and len(train) == 2 and sorted(train + valid) == ["demo_0", "demo_1", "demo_2"]
    for n in range(2, 10):
        masks = default_masks(n)
        assert len(masks["valid"]) == 1 and len(masks["train"]) == n - 1, n
    assert default_masks(1) == {"train": ["demo_0"], "valid": []}  # nothing to hold out
    # from 10 demos on the split is the one published datasets already carry
    assert default_masks(10)["valid"] == ["demo_4"]
    assert default_masks(20)["valid"] == ["demo_4", "demo_19"]
    assert default_masks(100)["valid"] == [
        "demo_5",
        "demo_16",
        "demo_20",
        "demo_36",
        "demo_52",
        "demo_72",
        "demo_82",
        "demo_90",
        "demo_93",
        "demo_94",
    ]


def test_replay_from_file_is_exact(env, episode, tmp_path):
    path = tmp_path / "demos.hdf5"
    write_dataset(path, env, [episode])
    with load_dataset(path) as ds:
        ep = ds.episode("demo_0")
    env.reset(seed=123)
    env.reset_to(ep.states[0])
    for t in range(ep.num_samples):
        assert np.array_equal(env.get_state(), ep.states[t]), f"replay diverged at step {t}"
        env.step(ep.actions[t])


def test_images_are_chunked_and_compressed(tmp_path):
    env = make_env("TrayLift", "Panda", "D0", obs_mode="state+rgb", image_size=32)
    try:
        ep = rollout(env, ZeroDemonstrator(env, n=1), seed=0, max_steps=3)
        path = write_dataset(tmp_path / "rgb.hdf5", env, [ep])
    finally:
        env.close()
    with h5py.File(path, "r") as f:
        images = f["data/demo_0/obs/agentview_image"]
        assert images.dtype == np.uint8 and images.shape == (3, 32, 32, 3)
        assert images.chunks == (1, 32, 32, 3) and images.compression == "gzip"
        assert np.array_equal(images[()], ep.obs["agentview_image"])


def test_writer_crash_keeps_completed_demos_only_in_partial(env, episode, tmp_path):
    path = tmp_path / "demos.hdf5"
    with pytest.raises(RuntimeError, match="boom"):
        with DatasetWriter(path, env) as writer:
            writer.add_episode(episode)
            writer.add_episode(episode)
            raise RuntimeError("boom")
    assert not path.exists(), "a crashed write must not leave a file that looks complete"
    assert not (tmp_path / "demos.hdf5.tmp").exists()
    partial = tmp_path / "demos.hdf5.partial"
    with load_dataset(partial) as ds:
        assert len(ds) == 2 and ds.total == 2 and not ds.complete
        assert np.array_equal(ds.episode("demo_1").actions, episode.actions)
    with pytest.raises(DatasetError, match="partial"):  # the error points at the partial file
        load_dataset(path)


def test_writer_crash_inside_a_demo_drops_only_that_demo(env, episode, tmp_path):
    path = tmp_path / "demos.hdf5"
    bad = Episode(**{**episode.__dict__, "states": episode.states[:-1]})  # inconsistent lengths
    with pytest.raises(ValueError, match="states"):
        with DatasetWriter(path, env) as writer:
            writer.add_episode(episode)
            writer.add_episode(bad)
    with load_dataset(tmp_path / "demos.hdf5.partial") as ds:
        assert ds.keys == ["demo_0"]


def test_writer_refuses_to_clobber(env, episode, tmp_path):
    path = tmp_path / "demos.hdf5"
    write_dataset(path, env, [episode])
    with pytest.raises(FileExistsError, match="overwrite"):
        DatasetWriter(path, env)
    write_dataset(path, env, [episode, episode], overwrite=True)
    with load_dataset(path) as ds:
        assert len(ds) == 2


def test_corrupt_file_raises_dataset_error(env, episode, tmp_path):
    garbage = tmp_path / "garbage.hdf5"
    garbage.write_bytes(b"this is not an hdf5 file" * 100)
    with pytest.raises(DatasetError, match="garbage.hdf5.*not a readable HDF5 file.*regenerate"):
        load_dataset(garbage)

    good = write_dataset(tmp_path / "good.hdf5", env, [episode])
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(DatasetError, match="truncated.hdf5"):
        with load_dataset(truncated) as ds:  # either opening or reading must fail loudly
            for key in ds:
                ds.episode(key)

    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(DatasetError, match="other.hdf5.*no /data group"):
        load_dataset(other)

    with pytest.raises(DatasetError, match="missing.hdf5.*no such file"):
        load_dataset(tmp_path / "missing.hdf5")


NOT_REGULAR_SCRIPT = """
import json, sys
from dexbench.cli import main
path, out = sys.argv[1], sys.argv[2]
runs = {
    "info": ["dataset", "info", path],
    "train": ["train", "bc", "--data", path, "--out", out + "/bc", "-q"],
    "generate": ["generate", "--generator", "mimicgen", "--env", "DexMG/TrayLift-Panda-D0", "--source", path,
                 "-n", "1", "--out", out + "/gen.hdf5", "-q"],
    "export": ["dataset", "export", path, "--format", "minari", "--out", out + "/export"],
}
print(json.dumps({name: main(argv) for name, argv in runs.items()}))
"""


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero"])
def test_an_input_that_is_not_a_regular_file_is_refused_before_it_is_opened(tmp_path, kind):
    import subprocess
    import sys

    path = tmp_path / "demos.hdf5"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading blocks until a writer comes: a hang, not an error
    else:
        path.symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match="not a dataset file"):
        load_dataset(path)
    # every command reading a dataset, in its own process: a regression fails here instead of hanging
    result = subprocess.run(
        [sys.executable, "-c", NOT_REGULAR_SCRIPT, str(path), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "MUJOCO_GL": "egl"},
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {"info": 2, "train": 2, "generate": 2, "export": 2}
    what = ": a named pipe (FIFO)" if kind == "fifo" else " (a link to /dev/zero): a character device"
    assert result.stderr.count(f"{path}{what}, not a dataset file") == 4, result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demos.hdf5"]  # no output left behind


def test_a_mask_naming_a_missing_demo_is_refused(env, episode, tmp_path):
    path = write_dataset(tmp_path / "m.hdf5", env, [episode], masks={"train": ["demo_0"]})
    with h5py.File(path, "a") as f:
        del f["mask/train"]
        f["mask/train"] = np.array([b"demo_0", b"demo_99"])
    with load_dataset(path) as ds, pytest.raises(DatasetError, match="demo_99"):
        _ = ds.masks


def test_reading_a_closed_dataset_says_so(env, episode, tmp_path):
    path = write_dataset(tmp_path / "c.hdf5", env, [episode])
    ds = load_dataset(path)
    ds.close()
    with pytest.raises(DatasetError, match="is closed"):
        ds.episode("demo_0")
