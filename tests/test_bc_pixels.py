"""Pixel BC: a conv encoder on camera images (random crops in training, the centre crop when
acting) plus proprioception. It learns from a rendered dataset, its checkpoint reloads to the same
actions and asks the evaluation for its cameras, and a dataset without images is refused naming
`dexbench dataset render-obs`."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from dexbench.cli import main
from dexbench.envs.registry import build_env
from dexbench.evaluation import evaluate
from dexbench.pipelines.render_obs import render_obs
from dexbench.policies.base import PolicyLoadError, observation_kwargs
from dexbench.policies.bc.data import PROPRIOCEPTION, FileFrames, load_demo_arrays
from dexbench.policies.bc.policy import BCPolicy, load_checkpoint
from dexbench.policies.bc.train import BCConfig, train_bc
from dexbench.policies.bc.vision import ImageEncoder, center_crop, crop_size, random_crop

ENV_ID = "DexMG/TrayLift-Panda-D0"
BC = "dexbench.policies:BCPolicy"
SIZE = 32  # px: small images keep training and evaluation fast
CONFIG = BCConfig(obs="rgb", steps=80, batch_size=32, hidden=64, layers=2, log_every=10, threads=1)


@pytest.fixture(scope="module")
def rendered(panda_tray_demos, tmp_path_factory):
    return render_obs(
        panda_tray_demos, ["agentview", "right_wrist"], SIZE, out=tmp_path_factory.mktemp("pixels") / "images.hdf5"
    )


@pytest.fixture(scope="module")
def checkpoint(rendered, tmp_path_factory):
    out = tmp_path_factory.mktemp("pixel_bc") / "ckpt"
    train_bc(rendered, out, CONFIG, progress=False)
    return out


def _env(checkpoint, **extra):
    return build_env(ENV_ID, **BCPolicy.observation_kwargs(checkpoint), **extra)


# ----------------------------------------------------------------------------- encoder
def test_random_crops_differ_per_sample_and_the_centre_crop_is_the_middle():
    images = torch.arange(4 * 10 * 10, dtype=torch.int32).reshape(4, 10, 10, 1).repeat(8, 1, 1, 1)
    crops = random_crop(images, 6, torch.Generator().manual_seed(0))
    assert crops.shape == (32, 6, 6, 1)
    corners = {int(c[0, 0, 0]) for c in crops}
    assert len(corners) > 3  # each sample its own crop
    for crop, image in zip(crops, images):  # every crop is a window of its own image
        top, left = divmod(int(crop[0, 0, 0]) - int(image[0, 0, 0]), 10)
        assert torch.equal(crop, image[top : top + 6, left : left + 6])
    assert torch.equal(center_crop(images, 6), images[:, 2:8, 2:8])
    assert crop_size(84) == 76  # robomimic's crop of 84 px images


def test_the_encoder_gives_keypoint_features_per_camera_and_the_same_features_when_acting():
    encoder = ImageEncoder(cameras=2, image_size=84).eval()
    images = torch.randint(0, 256, (3, 2, 84, 84, 3), dtype=torch.uint8)
    features = encoder(images)
    assert features.shape == (3, encoder.out_dim) and encoder.out_dim == 2 * 2 * 32
    assert torch.all(features.abs() <= 1)  # keypoints are image coordinates in [-1, 1]
    assert torch.equal(features, encoder(images))  # no generator: the centre crop, deterministic
    augmented = encoder(images, torch.Generator().manual_seed(1))
    assert not torch.equal(features, augmented)
    with pytest.raises(ValueError, match="render images of 19 px or more"):
        ImageEncoder(cameras=1, image_size=16)


# ----------------------------------------------------------------------------- training
def test_pixel_bc_learns_on_a_rendered_dataset_from_images_and_proprioception(checkpoint):
    log = json.loads((checkpoint / "train_log.json").read_text())
    assert log["train_loss"][-1] < 0.75 * log["train_loss"][0]
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["obs"] == "rgb" and config["cameras"] == ["agentview", "right_wrist"]
    # The robot's own state only: the tray's pose has to come from the pixels.
    assert config["obs_keys"] and set(config["obs_keys"]) <= set(PROPRIOCEPTION)
    assert config["observation_kwargs"] == {
        "obs_mode": "state+rgb",
        "camera_names": ["agentview", "right_wrist"],
        "image_size": [SIZE, SIZE],
        "render_preset": "fast",
    }


def test_the_same_seed_trains_the_same_pixel_weights(rendered, tmp_path):
    config = BCConfig(obs="rgb", steps=5, batch_size=8, hidden=32, layers=1, threads=1)
    states = []
    for name in ("a", "b"):
        train_bc(rendered, tmp_path / name, config, progress=False)
        states.append(torch.load(tmp_path / name / "model.pt", weights_only=True))
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_images_too_large_for_memory_are_read_from_the_file_and_train_the_same_weights(rendered, tmp_path):
    config = BCConfig(obs="rgb", steps=5, batch_size=8, hidden=32, layers=1, val_fraction=0.0, threads=1)
    in_memory = load_demo_arrays(rendered, obs="rgb")
    in_file = load_demo_arrays(rendered, obs="rgb", images_in_memory_bytes=0)
    assert isinstance(in_file.images[0], FileFrames) and in_memory.reader is None
    np.testing.assert_array_equal(in_file.images[1][7], in_memory.images[1][7])
    assert in_file.images[1].shape == in_memory.images[1].shape
    states = []
    for name, data in (("memory", in_memory), ("file", in_file)):
        train_bc(data, tmp_path / name, config, progress=False)
        states.append(torch.load(tmp_path / name / "model.pt", weights_only=True))
    in_file.close()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_held_out_demos_give_a_validation_loss_on_images(rendered, tmp_path):
    data = load_demo_arrays(rendered, obs="rgb")
    assert data.cameras == ["agentview", "right_wrist"] and data.images[0].dtype == np.uint8
    ten = dataclasses.replace(data, obs=data.obs * 5, actions=data.actions * 5, images=data.images * 5, demo_keys=None)
    report = train_bc(
        ten,
        tmp_path / "val",
        BCConfig(obs="rgb", steps=3, batch_size=8, hidden=32, layers=1, log_every=1, threads=1),
        progress=False,
    )
    assert report.val_demos == 1 and np.isfinite(report.val_loss)


def test_a_checkpoint_reloads_as_tensors_to_the_same_actions(checkpoint):
    state = torch.load(checkpoint / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert any(k.startswith("encoder.") for k in state)
    env = _env(checkpoint)
    try:
        actions = []
        for _ in range(2):  # two loads of the same checkpoint
            policy = BCPolicy(env.observation_space, env.action_space, checkpoint=checkpoint)
            obs, _ = env.reset(seed=3)
            policy.reset(seed=3)
            run = []
            for _ in range(12):
                action = policy.act(obs)
                assert action.shape == env.action_space.shape and np.all(np.isfinite(action))
                run.append(action)
                obs, *_ = env.step(action)
            actions.append(np.array(run))
        assert np.array_equal(actions[0], actions[1])
        assert policy.name == "bc-mlp-rgb" and load_checkpoint(checkpoint)[2] == policy.checkpoint_sha256
    finally:
        env.close()


def test_a_pixel_policy_in_an_env_without_its_images_says_how_to_get_them(checkpoint):
    env = build_env(ENV_ID)
    try:
        with pytest.raises(ValueError, match="dexbench eval` makes the env with them"):
            BCPolicy(env.observation_space, env.action_space, checkpoint=checkpoint)
    finally:
        env.close()


def test_a_dataset_without_images_is_refused_naming_render_obs(panda_tray_demos, tmp_path, capsys):
    assert (
        main(["train", "bc", "--data", str(panda_tray_demos), "--out", str(tmp_path / "x"), "--obs", "rgb", "-q"]) == 2
    )
    err = capsys.readouterr().err
    assert "no camera images" in err and "dexbench dataset render-obs" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- evaluation
def test_eval_builds_the_env_with_the_checkpoints_cameras_and_keeps_the_test_set(checkpoint, tmp_path):
    out = tmp_path / "result.json"
    assert (
        main(
            [
                "eval",
                "--policy",
                BC,
                "--checkpoint",
                str(checkpoint),
                "--env",
                ENV_ID,
                "--episodes",
                "1",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["policy"]["name"] == "bc-mlp-rgb" and result["num_episodes"] == 1
    assert result["policy"]["observation_kwargs"]["camera_names"] == ["agentview", "right_wrist"]
    assert result["env_kwargs"] == {}  # observations are not the task: still the benchmark's test set
    from dexbench.leaderboards.submit import policy_submission

    policy_submission("pixel-bc", "DexBench tests", "pixel BC", [result])  # the published schema takes it


def test_pixel_evaluation_is_the_same_for_any_number_of_workers(checkpoint):
    kwargs = dict(episodes=2, policy_kwargs={"checkpoint": str(checkpoint)}, env_kwargs={"horizon": 30}, progress=False)
    assert evaluate(BC, ENV_ID, **kwargs)["episodes"] == evaluate(BC, ENV_ID, workers=2, **kwargs)["episodes"]


class _AsksForATask:
    """A policy asking for more than observations."""

    @staticmethod
    def observation_kwargs(**_):
        return {"horizon": 10}


def test_a_policy_may_ask_only_for_observations_that_do_not_contradict_the_env_kwargs(checkpoint):
    with pytest.raises(PolicyLoadError, match="may ask only for obs_mode"):
        observation_kwargs(f"{__name__}:_AsksForATask", {})
    with pytest.raises(PolicyLoadError, match="image_size=.*the policy needs"):
        observation_kwargs(BC, {"checkpoint": str(checkpoint)}, {"image_size": 84})
    assert observation_kwargs("dexbench.policies:RandomPolicy", {}) == {}


# ----------------------------------------------------------------------------- compare
def test_compare_with_pixels_renders_each_dataset_trains_and_evaluates_on_images(panda_tray_demos, tmp_path):
    workdir = tmp_path / "cmp"
    args = [
        "compare",
        "--env",
        ENV_ID,
        "--source",
        str(panda_tray_demos),
        "--generators",
        "demo_noise",
        "-n",
        "1",
        "--episodes",
        "1",
        "--workdir",
        str(workdir),
        "--obs",
        "rgb",
        "--image-size",
        str(SIZE),
        "--steps",
        "10",
        "--batch-size",
        "8",
        "--hidden",
        "32",
        "--threads",
        "1",
        "-q",
    ]
    assert main(args) == 0
    summary = json.loads((workdir / "compare.json").read_text())
    assert summary["policy"] == "bc-mlp-rgb" and summary["images"] == {"cameras": ["agentview"], "image_size": SIZE}
    for row in summary["rows"]:
        assert row["images"] == str(workdir / f"{row['data']}_rgb.hdf5")
        result = json.loads((workdir / f"eval_{row['data']}.json").read_text())
        assert result["policy"]["observation_kwargs"]["image_size"] == [SIZE, SIZE]
        assert json.loads((workdir / f"bc_{row['data']}" / "config.json").read_text())["dataset"] == row["images"]
    stamps = {p: p.stat().st_mtime_ns for p in workdir.glob("*_rgb.hdf5")}
    assert len(stamps) == 2
    assert main(args) == 0  # a second run reuses every stage, the renderings too
    assert stamps == {p: p.stat().st_mtime_ns for p in workdir.glob("*_rgb.hdf5")}
