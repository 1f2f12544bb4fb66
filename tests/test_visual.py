"""Visual randomisation (`visual_factors`): the same seed gives the same images bit for bit, each
factor changes the look and only its own part of it, physics never changes, the published env is
untouched, bad names are refused, and `dexbench eval --perturb` scores a policy per factor."""

from __future__ import annotations

import json

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from dexbench.cli import main
from dexbench.envs.appearance import DISTRACTOR_CLEARANCE_M, FACTORS, check_factors
from dexbench.envs.registry import build_env
from dexbench.envs.scene import build_scene
from dexbench.envs.tasks.can_sort import RGBA

ENV_ID = "DexMG/TrayLift-Panda-D0"
RANDOM = "dexbench.policies:RandomPolicy"
IMAGES = dict(obs_mode="state+rgb", camera_names=("agentview", "right_wrist"), image_size=48)
# What each factor writes; everything else in the model stays the published value.
FIELDS = {
    "lighting": ("light_dir", "light_pos", "light_diffuse", "light_ambient"),
    "textures": ("mat_texid", "mat_rgba", "mat_texrepeat"),
    "object_colors": ("geom_rgba",),
    "camera": ("cam_pos", "cam_quat", "cam_fovy"),
    "distractors": ("geom_pos", "geom_quat", "geom_size", "geom_rgba"),
}


def _images(obs: dict) -> list[np.ndarray]:
    return [v for k, v in sorted(obs.items()) if k.endswith("_image")]


def _state_obs(obs: dict) -> dict:
    return {k: v for k, v in obs.items() if not k.endswith("_image")}


def _model_bytes(model: mujoco.MjModel) -> bytes:
    buffer = np.zeros(mujoco.mj_sizeModel(model), dtype=np.uint8)
    mujoco.mj_saveModel(model, None, buffer)
    return buffer.tobytes()


def test_the_published_env_is_untouched():
    env = gym.make(ENV_ID, **IMAGES).unwrapped
    # the model is what the scene and the task build, nothing added
    mj_spec = build_scene(env.embodiment, env.task.table_size_m, f"{env.task.name}-{env.embodiment.name}")
    env.task.add_to(mj_spec, env.embodiment.table_height_m)
    assert env.appearance is None and _model_bytes(env.model) == _model_bytes(mj_spec.compile())
    off = build_env(ENV_ID, visual_factors=(), **IMAGES)
    for seed in (0, 7):
        a, b = env.reset(seed=seed)[0], off.reset(seed=seed)[0]
        assert all(np.array_equal(x, y) for x, y in zip(_images(a), _images(b)))


def test_same_seed_same_images_bitwise_whatever_came_before():
    rng = np.random.default_rng(0)
    first = build_env(ENV_ID, visual_factors="all", **IMAGES)
    second = build_env(ENV_ID, visual_factors="all", **IMAGES)
    second.reset(seed=1)  # another episode before: the look depends on the reset seed alone
    actions = rng.uniform(-0.3, 0.3, (5, *first.action_space.shape))
    for env_obs in zip(*[[env.reset(seed=5)[0]] + [env.step(a)[0] for a in actions] for env in (first, second)]):
        assert all(np.array_equal(x, y) for x, y in zip(_images(env_obs[0]), _images(env_obs[1])))
    # unseeded resets continue the seeded stream: reproducible too
    after = [_images(env.reset()[0]) for env in (first, second)]
    assert all(np.array_equal(x, y) for x, y in zip(*after))


def test_same_seed_same_images_in_another_process():
    """No draw leans on per-process state (string hashing is salted per process)."""
    import hashlib
    import os
    import subprocess
    import sys

    script = (
        "import hashlib; from dexbench.envs.registry import build_env; "
        f"env = build_env({ENV_ID!r}, visual_factors='all', obs_mode='rgb', image_size=48); "
        "print(hashlib.sha256(env.reset(seed=9)[0]['agentview_image'].tobytes()).hexdigest())"
    )
    there = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout.strip()
    env = build_env(ENV_ID, visual_factors="all", obs_mode="rgb", image_size=48)
    assert there == hashlib.sha256(env.reset(seed=9)[0]["agentview_image"].tobytes()).hexdigest()


@pytest.mark.parametrize("factor", FACTORS)
def test_each_factor_changes_the_images_and_only_its_own_fields(factor):
    plain = build_env(ENV_ID, **IMAGES)
    env = build_env(ENV_ID, visual_factors=(factor,), **IMAGES)
    published = {f: getattr(plain.model, f).copy() for fields in FIELDS.values() for f in fields}
    draws = []
    for seed in (0, 1):
        looks, base = env.reset(seed=seed)[0], plain.reset(seed=seed)[0]
        assert not np.array_equal(_images(looks)[0], _images(base)[0]), f"{factor} left the image unchanged"
        draws.append({f: getattr(env.model, f).copy() for f in FIELDS[factor]})
        for field, value in published.items():  # the other factors' fields keep the published values
            if field not in FIELDS[factor]:
                n = len(value)  # rows the published model has (distractors and textures add rows after them)
                assert np.array_equal(getattr(env.model, field)[:n], value), (factor, field)
    assert any(not np.array_equal(draws[0][f], draws[1][f]) for f in FIELDS[factor]), "seeds draw the same look"


def test_one_factors_draw_does_not_depend_on_the_others():
    alone = build_env(ENV_ID, visual_factors=("camera",))
    together = build_env(ENV_ID, visual_factors="all")
    alone.reset(seed=3), together.reset(seed=3)
    for field in FIELDS["camera"]:
        assert np.array_equal(getattr(alone.model, field), getattr(together.model, field))


@pytest.mark.parametrize("env_id, kwargs", [(ENV_ID, {"object_variants": "random"}), ("DexMG/CanSort-PandaDex-D0", {})])
def test_physics_and_state_observations_are_bitwise_unchanged(env_id, kwargs):
    plain = build_env(env_id, **kwargs)
    looks = build_env(env_id, visual_factors="all", **IMAGES, **kwargs)
    rng = np.random.default_rng(1)
    for seed in (2, 11):
        a, b = plain.reset(seed=seed)[0], looks.reset(seed=seed)[0]
        assert np.array_equal(plain.get_state(), looks.get_state())
        for _ in range(25):
            action = rng.uniform(-1, 1, plain.action_space.shape)
            a, ra, ta, ua, ia = plain.step(action)
            b, rb, tb, ub, ib = looks.step(action)
            assert np.array_equal(plain.get_state(), looks.get_state())
            assert (ra, ta, ua, ia) == (rb, tb, ub, ib)
        assert _state_obs(b).keys() == a.keys()
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_restored_state_keeps_the_episodes_look():
    env = build_env(ENV_ID, visual_factors="all", object_variants="random", **IMAGES)
    start = env.reset(seed=4)[0]
    state = env.get_state()
    for _ in range(3):
        env.step(np.zeros(env.action_space.shape))
    restored = env.reset_to(state)  # re-applies the object variants, which rewrite geom rows
    assert all(np.array_equal(x, y) for x, y in zip(_images(start), _images(restored)))


def test_colour_coded_objects_keep_their_colours():
    env = build_env("DexMG/CanSort-Panda-D0", visual_factors=("object_colors",))
    plain = build_env("DexMG/CanSort-Panda-D0")
    for seed in range(4):
        env.reset(seed=seed), plain.reset(seed=seed)
        assert np.array_equal(env.model.geom_rgba, plain.model.geom_rgba)  # the can and its bins: the goal
        assert tuple(env.model.geom_rgba[env.model.geom("can").id]) == pytest.approx(
            RGBA[env.episode_choices()["colour"]]
        )
    tray = build_env(ENV_ID, visual_factors=("object_colors",))
    tray.reset(seed=0)
    assert not np.array_equal(tray.model.geom_rgba, build_env(ENV_ID).model.geom_rgba)  # other tasks' objects change


def test_distractors_stand_on_the_table_clear_of_the_objects_and_touch_nothing():
    env = build_env("DexMG/Pouring-Panda-D0", visual_factors=("distractors",))
    m, d = env.model, env.data
    ids = [i for i in range(m.ngeom) if m.geom(i).name.startswith("distractor_")]
    assert ids and not m.geom_contype[ids].any() and not m.geom_conaffinity[ids].any()
    assert (m.geom_bodyid[ids] == 0).all()  # fixed to the world: no joint, no state
    objects = np.flatnonzero(np.isin(m.geom_bodyid, list(env.task.body_ids.values())))
    shown_counts = set()
    for seed in range(6):
        env.reset(seed=seed)
        shown = [g for g in ids if m.geom_rgba[g, 3] > 0]
        shown_counts.add(len(shown))
        for g in shown:
            assert d.geom_xpos[g, 2] > env.embodiment.table_height_m
            assert (np.abs(d.geom_xpos[g, :2]) < np.asarray(env.task.table_size_m) / 2).all()
            gaps = np.linalg.norm(d.geom_xpos[objects, :2] - d.geom_xpos[g, :2], axis=1) - m.geom_rbound[objects]
            assert gaps.min() > DISTRACTOR_CLEARANCE_M
    assert len(shown_counts) > 1


def test_bad_factor_names_are_refused_with_the_valid_ones():
    assert check_factors("all") == FACTORS and check_factors(["camera", "lighting"]) == ("lighting", "camera")
    with pytest.raises(ValueError, match="did you mean 'camera'.*lighting, textures"):
        build_env(ENV_ID, visual_factors=("camra",))
    with pytest.raises(ValueError, match="twice"):
        check_factors(["camera", "camera"])
    with pytest.raises(ValueError, match="list of factor names"):
        check_factors(3)


@pytest.mark.parametrize(
    "perturb, message", [("colour", "unknown visual factor"), ("each,camera", "not a mix"), (",", "needs a factor")]
)
def test_eval_perturb_refuses_bad_names_before_any_episode(perturb, message, capsys):
    assert main(["eval", "--policy", RANDOM, "--env", ENV_ID, "--perturb", perturb, "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_eval_perturb_each_scores_the_policy_per_factor(tmp_path, capsys, monkeypatch):
    import dexbench.evaluation.perturbations as perturbations

    monkeypatch.setattr(perturbations, "FACTORS", ("camera", "distractors"))  # rows are made here, not in workers
    out = tmp_path / "per_factor"
    assert (
        main(
            [
                "eval",
                "--policy",
                RANDOM,
                "--env",
                "DexMG/Pouring-Panda-D0",
                "--seeds",
                "3",
                "--perturb",
                "each",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    rows = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(rows) == {"none", "camera", "distractors", "all"}
    assert rows["none"]["env_kwargs"] == {} and rows["camera"]["env_kwargs"] == {"visual_factors": ["camera"]}
    assert rows["all"]["env_kwargs"] == {"visual_factors": ["camera", "distractors"]}
    # a state policy sees no pixels: every row plays the same episode
    assert len({json.dumps(r["episodes"]) for r in rows.values()}) == 1
    table = (out / "perturbations.md").read_text()
    assert "| camera | 0/1 = 0.0 %" in table and table in capsys.readouterr().out
    # the same folder again is refused, not overwritten
    assert (
        main(
            [
                "eval",
                "--policy",
                RANDOM,
                "--env",
                "DexMG/Pouring-Panda-D0",
                "--seeds",
                "3",
                "--perturb",
                "each",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 2
    )


def test_datasets_record_the_factors_only_when_on():
    from dexbench.datasets.writer import env_kwargs_of

    assert "visual_factors" not in env_kwargs_of(build_env(ENV_ID))
    kwargs = env_kwargs_of(build_env(ENV_ID, visual_factors=("textures", "lighting")))
    assert kwargs["visual_factors"] == ["lighting", "textures"]
    assert gym.make(ENV_ID, **kwargs).unwrapped.visual_factors == ("lighting", "textures")
