"""Randomised looks in rendered datasets: `dexbench dataset render-obs --visual-factors`."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from dexbench.cli import main
from dexbench.datasets import DatasetError
from dexbench.envs.registry import build_env
from dexbench.pipelines import render_obs as render_obs_module
from dexbench.pipelines.render_obs import render_obs, workdir_of

TRAY = "DexMG/TrayLift-Panda-D0"
SIZE = 32  # px: small images keep the dataset tests fast


def _arrays(path, suffix: str = "") -> dict[str, np.ndarray]:
    """Every array of a dataset whose name ends with `suffix`, by its path in the file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) and name.endswith(suffix) else None
            )
        )
    return arrays


def _env_kwargs(path) -> dict:
    with h5py.File(path, "r") as f:
        return json.loads(f["data"].attrs["env_args"])["env_kwargs"]


@pytest.fixture(scope="module")
def looks(panda_tray_demos, tmp_path_factory):
    """The scripted demos with agentview images in randomised looks, added by the CLI (one worker)."""
    out = tmp_path_factory.mktemp("render_looks") / "looks.hdf5"
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
                "--visual-factors",
                "all",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    return out


@pytest.fixture(scope="module")
def published(panda_tray_demos, tmp_path_factory):
    out = tmp_path_factory.mktemp("render_published") / "published.hdf5"
    render_obs(panda_tray_demos, ["agentview"], SIZE, out=out)
    return out


def test_an_env_made_from_the_output_and_reset_with_a_demos_seed_observes_its_images(looks):
    env_kwargs = _env_kwargs(looks)
    assert env_kwargs["visual_factors"] == ["lighting", "textures", "object_colors", "camera", "distractors"]
    env = build_env(TRAY, **env_kwargs)
    with h5py.File(looks, "r") as f:
        for key in ("demo_1", "demo_0"):  # whatever episode the env was in before
            demo = f[f"data/{key}"]
            images, next_images = demo["obs/agentview_image"][()], demo["next_obs/agentview_image"][()]
            states, actions = demo["states"][()], demo["actions"][()]
            obs, _ = env.reset(seed=int(demo.attrs["seed"]))  # the look this demo had when it was recorded
            assert np.array_equal(obs["agentview_image"], images[0])
            for t in (len(states) // 2, len(states) - 1):
                assert np.array_equal(env.reset_to(states[t])["agentview_image"], images[t])
            env.reset_to(states[-1])
            assert np.array_equal(env.step(actions[-1])[0]["agentview_image"], next_images[-1])
    env.close()


def test_randomised_looks_change_the_images_and_nothing_else(panda_tray_demos, looks, published):
    randomised, plain = _arrays(looks, "_image"), _arrays(published, "_image")
    assert randomised.keys() == plain.keys()
    for key in randomised:
        assert randomised[key].shape == plain[key].shape and not np.array_equal(randomised[key], plain[key])
    # the two demos were drawn different looks: their first frames differ far more than the published ones'
    first = {k: v[0].astype(int) for k, v in randomised.items() if k.startswith("data/demo_") and "/obs/" in k}
    plain_first = {k: v[0].astype(int) for k, v in plain.items() if k in first}
    a, b = sorted(first)
    assert np.abs(first[a] - first[b]).mean() > 5 * np.abs(plain_first[a] - plain_first[b]).mean()
    source, rendered = _arrays(panda_tray_demos), _arrays(looks)
    assert all(np.array_equal(source[k], rendered[k]) for k in source)  # states, actions, state obs, datagen
    assert _env_kwargs(published).get("visual_factors") is None  # the published look records none


def test_randomised_looks_are_the_same_bits_with_one_or_two_workers(panda_tray_demos, looks, tmp_path):
    two = tmp_path / "two_workers.hdf5"
    render_obs(panda_tray_demos, ["agentview"], SIZE, out=two, workers=2, visual_factors="all")
    ours, theirs = _arrays(looks, "_image"), _arrays(two, "_image")
    assert ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)


def test_a_demo_rendered_alone_looks_as_it_does_in_a_batch(panda_tray_demos, looks, tmp_path):
    alone = tmp_path / "demo_1_alone.hdf5"
    shutil.copyfile(panda_tray_demos, alone)
    with h5py.File(alone, "r+") as f:
        del f["data/demo_0"], f["mask"]  # demo_1 is now the first (and only) demo rendered
    render_obs(alone, ["agentview"], SIZE, out=tmp_path / "alone_images.hdf5", visual_factors="all")
    batch, single = _arrays(looks, "_image"), _arrays(tmp_path / "alone_images.hdf5", "_image")
    assert single.keys() == {"data/demo_1/obs/agentview_image", "data/demo_1/next_obs/agentview_image"}
    assert all(np.array_equal(single[k], batch[k]) for k in single)


def test_robomimic_loads_the_randomised_images(looks):
    dataset_mod = pytest.importorskip("robomimic.utils.dataset", reason="robomimic is installed by .ci/run")
    obs_utils = pytest.importorskip("robomimic.utils.obs_utils")
    obs_utils.initialize_obs_modality_mapping_from_dict({"low_dim": ["right_eef_pos"], "rgb": ["agentview_image"]})
    dataset = dataset_mod.SequenceDataset(
        hdf5_path=str(looks), obs_keys=("right_eef_pos", "agentview_image"), dataset_keys=("actions",)
    )
    image = dataset[0]["obs"]["agentview_image"]
    assert dataset.n_demos == 2 and image.shape[-3:] in ((3, SIZE, SIZE), (SIZE, SIZE, 3))


def test_a_demo_without_a_recorded_seed_is_refused_by_name(panda_tray_demos, tmp_path):
    unseeded = tmp_path / "unseeded.hdf5"
    shutil.copyfile(panda_tray_demos, unseeded)
    with h5py.File(unseeded, "r+") as f:
        f["data/demo_1"].attrs["seed"] = -1
    with pytest.raises(DatasetError, match=r"demo_1 has no recorded reset seed .* drawn from the demo's reset seed"):
        render_obs(unseeded, ["agentview"], SIZE, out=tmp_path / "x.hdf5", visual_factors=("lighting",))
    assert not workdir_of(tmp_path / "x.hdf5").exists()  # refused before any work


def test_a_resumed_run_refuses_a_work_folder_made_with_other_factors(panda_tray_demos, tmp_path, monkeypatch):
    out = tmp_path / "resumed.hdf5"

    def killed(self, key):
        raise KeyboardInterrupt  # stands in for a kill before the first demo is done

    monkeypatch.setattr(render_obs_module._DemoRenderer, "render_demo", killed)
    with pytest.raises(KeyboardInterrupt):
        render_obs(panda_tray_demos, ["agentview"], SIZE, out=out, visual_factors=("lighting",))
    assert json.loads((workdir_of(out) / "settings.json").read_text())["visual_factors"] == ["lighting"]
    for other in (("lighting", "camera"), ()):
        with pytest.raises(FileExistsError, match="unfinished render-obs run with other settings"):
            render_obs(panda_tray_demos, ["agentview"], SIZE, out=out, visual_factors=other)


def test_one_look_per_dataset_and_an_added_camera_keeps_it_by_default(looks, tmp_path):
    # looks has randomised agentview images: head images in the published look would not match them
    with pytest.raises(
        ValueError,
        match="already has images of agentview with visual factors lighting,textures,"
        r"object_colors,camera,distractors; render with --visual-factors ",
    ):
        render_obs(looks, ["head"], SIZE, out=tmp_path / "x.hdf5", visual_factors=())
    # without the flag, the dataset's own factors: head is rendered in each demo's look too
    both = render_obs(looks, ["head"], SIZE, out=tmp_path / "both.hdf5")
    env_kwargs = _env_kwargs(both)
    assert (
        env_kwargs["camera_names"] == ["agentview", "head"]
        and env_kwargs["visual_factors"] == _env_kwargs(looks)["visual_factors"]
    )
    env = build_env(TRAY, **env_kwargs)
    with h5py.File(both, "r") as f:
        obs, _ = env.reset(seed=int(f["data/demo_1"].attrs["seed"]))
        assert np.array_equal(obs["head_image"], f["data/demo_1/obs/head_image"][0])
        assert np.array_equal(obs["agentview_image"], f["data/demo_1/obs/agentview_image"][0])
    env.close()


def test_the_cli_refuses_bad_factor_names(panda_tray_demos, tmp_path, capsys):
    for bad, message in (
        ("lightning", "unknown visual factor(s) ['lightning'] (did you mean 'lighting'?)"),
        (",", "--visual-factors is empty"),
    ):
        assert (
            main(
                [
                    "dataset",
                    "render-obs",
                    str(panda_tray_demos),
                    "--cameras",
                    "agentview",
                    "--visual-factors",
                    bad,
                    "--out",
                    str(tmp_path / "x.hdf5"),
                    "-q",
                ]
            )
            == 2
        )
        assert message in capsys.readouterr().err
    assert not workdir_of(tmp_path / "x.hdf5").exists()
