"""Render presets and deferred image observations (`dexbench dataset render-obs`)."""

from __future__ import annotations

import json
import shutil

import h5py
import mujoco
import numpy as np
import pytest

from dexbench.cli import main
from dexbench.datasets import DatasetError
from dexbench.envs.registry import build_env
from dexbench.envs.rendering import CameraRenderer
from dexbench.pipelines import render_obs as render_obs_module
from dexbench.pipelines.render_obs import render_obs, workdir_of

TRAY = "DexMG/TrayLift-Panda-D0"
SIZE = 32  # px: small images keep the dataset tests fast


def _images(path) -> dict[str, np.ndarray]:
    """Every image array of a dataset, by its path in the file."""
    images = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                images.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) and name.endswith("_image") else None
            )
        )
    return images


# ----------------------------------------------------------------------------- presets
@pytest.mark.parametrize("preset", ["fast", "default"])
def test_presets_render_observations_of_the_asked_shape(preset):
    env = build_env(
        TRAY, obs_mode="rgb", camera_names=("agentview", "right_wrist"), image_size=(48, 64), render_preset=preset
    )
    obs, _ = env.reset(seed=0)
    for cam in ("agentview", "right_wrist"):
        image = obs[f"{cam}_image"]
        assert image.shape == (48, 64, 3) and image.dtype == np.uint8
        assert image.std() > 10  # a scene, not a blank frame
        assert env.observation_space[f"{cam}_image"].contains(image)
    env.close()


def test_the_default_look_is_mujocos_own_renderer_pixel_for_pixel():
    """`dexbench render`, videos and task cards keep their look."""
    env = build_env(TRAY)
    env.reset(seed=1)
    reference = mujoco.Renderer(env.model, 96, 128)
    for cam in ("agentview", "head"):
        reference.update_scene(env.data, camera=cam)
        assert np.array_equal(env.render_camera_image(cam, (96, 128)), reference.render())
    reference.close()
    env.close()


def test_fast_differs_from_default_only_in_look():
    env = build_env(TRAY)
    env.reset(seed=2)
    default = env.render_camera_image("agentview", (84, 84), preset="default")
    fast = env.render_camera_image("agentview", (84, 84), preset="fast")
    assert fast.shape == default.shape and not np.array_equal(fast, default)
    scene = fast.sum(axis=-1) > 0  # all but the background, black without the skybox
    assert 0.3 < scene.mean() < 0.9
    assert np.abs(fast.astype(int) - default)[scene].mean() < 20  # the same scene, without shadows and reflections
    env.close()


def test_image_observations_leave_state_observations_and_dynamics_bitwise_unchanged():
    envs = [
        build_env(TRAY),
        build_env(TRAY, obs_mode="state+rgb", camera_names=("agentview", "head"), image_size=84),
        build_env(TRAY, obs_mode="state+rgb", render_preset="default"),
    ]
    actions = np.random.default_rng(0).uniform(-0.3, 0.3, size=(15, envs[0].action_space.shape[0]))
    trajectories = []
    for env in envs:
        obs, _ = env.reset(seed=3)
        steps = [({k: v for k, v in obs.items() if not k.endswith("_image")}, env.get_state())]
        for action in actions:
            obs, *_ = env.step(action)
            steps.append(({k: v for k, v in obs.items() if not k.endswith("_image")}, env.get_state()))
        trajectories.append(steps)
        env.close()
    for other in trajectories[1:]:
        for (obs_a, state_a), (obs_b, state_b) in zip(trajectories[0], other):
            assert np.array_equal(state_a, state_b)
            assert obs_a.keys() == obs_b.keys() and all(np.array_equal(obs_a[k], obs_b[k]) for k in obs_a)


def test_one_scene_update_per_step_gives_the_same_images_as_one_per_camera():
    env = build_env(TRAY)
    env.reset(seed=4)
    cameras = env.available_cameras()
    renderer = CameraRenderer(env.model, 64, 64, "fast")
    together = renderer.render(env.data, cameras)
    for cam, image in zip(cameras, together):
        assert np.array_equal(renderer.render(env.data, [cam])[0], image)  # a full scene update for this camera
    renderer.close()
    env.close()


def test_unknown_presets_and_cameras_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown render preset 'pretty'.*fast, default"):
        build_env(TRAY, obs_mode="rgb", render_preset="pretty")
    env = build_env(TRAY)
    with pytest.raises(ValueError, match="unknown camera 'nope'; this model has agentview"):
        env.render_camera_image("nope", (32, 32))
    env.close()


# ----------------------------------------------------------------------------- render-obs
@pytest.fixture(scope="module")
def rendered(panda_tray_demos, tmp_path_factory):
    """The scripted demos with agentview images added by the CLI (one worker)."""
    out = tmp_path_factory.mktemp("render_obs") / "images.hdf5"
    assert (
        main(
            [
                "dataset",
                "render-obs",
                str(panda_tray_demos),
                "--cameras",
                "agentview",
                "--size",
                str(SIZE),
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    return out


def test_render_obs_adds_chunked_compressed_images_of_the_stored_states(panda_tray_demos, rendered):
    with h5py.File(rendered, "r") as f:
        env_kwargs = json.loads(f["data"].attrs["env_args"])["env_kwargs"]
        demo = f["data/demo_1"]
        images, next_images, states = (
            demo["obs/agentview_image"],
            demo["next_obs/agentview_image"],
            demo["states"][()],
        )
        assert images.shape == (len(states), SIZE, SIZE, 3) and images.dtype == np.uint8
        assert images.chunks == (1, SIZE, SIZE, 3) and images.compression == "gzip"
        images, next_images, actions = images[()], next_images[()], demo["actions"][()]
    assert np.array_equal(next_images[:-1], images[1:])
    assert env_kwargs["obs_mode"] == "state+rgb" and env_kwargs["camera_names"] == ["agentview"]
    assert env_kwargs["image_size"] == [SIZE, SIZE] and env_kwargs["render_preset"] == "fast"
    # An env made from the recorded kwargs observes exactly these images.
    env = build_env(TRAY, **env_kwargs)
    for t in (0, len(states) // 2, len(states) - 1):
        assert np.array_equal(env.reset_to(states[t])["agentview_image"], images[t])
    env.reset_to(states[-1])
    assert np.array_equal(env.step(actions[-1])[0]["agentview_image"], next_images[-1])
    env.close()
    # Everything else is the source's, untouched.
    with h5py.File(panda_tray_demos, "r") as src, h5py.File(rendered, "r") as out:
        for key in ("actions", "states", "obs/right_eef_pos", "next_obs/tray_pose"):
            assert np.array_equal(src[f"data/demo_0/{key}"][()], out[f"data/demo_0/{key}"][()])
        assert list(out["mask"]) == list(src["mask"])
    assert not workdir_of(rendered).exists()


def test_robomimic_loads_the_rendered_images(rendered):
    dataset_mod = pytest.importorskip("robomimic.utils.dataset", reason="robomimic is installed by .ci/run")
    obs_utils = pytest.importorskip("robomimic.utils.obs_utils")
    obs_utils.initialize_obs_modality_mapping_from_dict({"low_dim": ["right_eef_pos"], "rgb": ["agentview_image"]})
    dataset = dataset_mod.SequenceDataset(
        hdf5_path=str(rendered), obs_keys=("right_eef_pos", "agentview_image"), dataset_keys=("actions",)
    )
    image = dataset[0]["obs"]["agentview_image"]
    assert dataset.n_demos == 2 and image.shape[-3:] in ((3, SIZE, SIZE), (SIZE, SIZE, 3))


def test_render_obs_gives_the_same_bits_with_one_or_two_workers(panda_tray_demos, rendered, tmp_path):
    two = tmp_path / "two_workers.hdf5"
    render_obs(panda_tray_demos, ["agentview"], SIZE, out=two, workers=2)
    ours, theirs = _images(rendered), _images(two)
    assert ours.keys() == theirs.keys() and len(ours) == 4
    assert all(np.array_equal(ours[k], theirs[k]) for k in ours)


def test_an_interrupted_render_obs_leaves_no_output_and_resumes_where_it_stopped(
    panda_tray_demos, rendered, tmp_path, monkeypatch
):
    out = tmp_path / "resumed.hdf5"
    original = render_obs_module._DemoRenderer.render_demo
    calls: list[str] = []

    def killed_after_one_demo(self, key):
        if calls:
            raise KeyboardInterrupt  # stands in for a kill between two demos
        calls.append(key)
        return original(self, key)

    monkeypatch.setattr(render_obs_module._DemoRenderer, "render_demo", killed_after_one_demo)
    with pytest.raises(KeyboardInterrupt):
        render_obs(panda_tray_demos, ["agentview"], SIZE, out=out)
    workdir = workdir_of(out)
    assert not out.exists() and sorted(p.name for p in workdir.glob("demo_*.hdf5")) == ["demo_0.hdf5"]
    (workdir / "demo_1.hdf5.tmp").write_bytes(b"half a demo")  # killed while writing the second demo

    monkeypatch.setattr(
        render_obs_module._DemoRenderer, "render_demo", lambda self, key: (calls.append(key), original(self, key))[1]
    )
    render_obs(panda_tray_demos, ["agentview"], SIZE, out=out)
    assert calls == ["demo_0", "demo_1"]  # the second run rendered only the demo not yet done
    ours, resumed = _images(rendered), _images(out)
    assert ours.keys() == resumed.keys() and all(np.array_equal(ours[k], resumed[k]) for k in ours)
    assert not workdir.exists()


def test_render_obs_in_place_replaces_the_file_only_when_complete(panda_tray_demos, tmp_path):
    path = tmp_path / "demos.hdf5"
    shutil.copyfile(panda_tray_demos, path)
    render_obs(path, ["head"], 16)
    with h5py.File(path, "r") as f:
        assert f["data/demo_0/obs/head_image"].shape[1:] == (16, 16, 3)
    with pytest.raises(FileExistsError, match="already has head_image; pass --overwrite"):
        render_obs(path, ["head"], 16)


def test_render_obs_errors_name_the_problem_and_the_fix(panda_tray_demos, rendered, tmp_path, capsys):
    with pytest.raises(DatasetError, match="no such file"):
        render_obs(tmp_path / "missing.hdf5", ["agentview"], SIZE)
    with pytest.raises(ValueError, match="unknown camera nope; DexMG/TrayLift-Panda-D0 has agentview, head"):
        render_obs(panda_tray_demos, ["nope"], SIZE, out=tmp_path / "x.hdf5")
    for size in (0, 4096):
        with pytest.raises(ValueError, match="out of range: give a side from 1 to 1024 px"):
            render_obs(panda_tray_demos, ["agentview"], size, out=tmp_path / "x.hdf5")
    with pytest.raises(FileExistsError, match="already exists; choose another --out, or pass --overwrite"):
        render_obs(panda_tray_demos, ["agentview"], SIZE, out=rendered)
    stateless = tmp_path / "stateless.hdf5"
    shutil.copyfile(panda_tray_demos, stateless)
    with h5py.File(stateless, "r+") as f:
        del f["data/demo_1/states"]
    with pytest.raises(DatasetError, match="demo_1 has no stored states"):
        render_obs(stateless, ["agentview"], SIZE, out=tmp_path / "x.hdf5")
    # a work folder of another run is not mixed into this one
    workdir_of(tmp_path / "y.hdf5").mkdir()
    with pytest.raises(FileExistsError, match="unfinished render-obs run with other settings"):
        render_obs(panda_tray_demos, ["agentview"], SIZE, out=tmp_path / "y.hdf5")
    # the CLI turns each into one line, exit code 2
    assert (
        main(
            [
                "dataset",
                "render-obs",
                str(panda_tray_demos),
                "--cameras",
                "agentview,nope",
                "--out",
                str(tmp_path / "z.hdf5"),
                "-q",
            ]
        )
        == 2
    )
    assert "unknown camera nope" in capsys.readouterr().err
