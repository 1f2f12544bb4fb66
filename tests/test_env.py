"""The env API (docs/design.md) on every id: spaces, determinism, errors, rendering, physics faults."""

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dexbench
from dexbench.envs.registry import ENV_TABLE, make_env
from dexbench.envs.tasks import TASKS

ALL_IDS = sorted(ENV_TABLE)
EMBODIMENTS = ("Panda", "PandaDex", "GR1")


def test_every_task_layout_and_embodiment_is_registered_with_gymnasium():
    expected = {
        f"DexMG/{task}-{emb}-{v}" for task, cls in TASKS.items() for emb in cls.embodiments for v in cls.layouts
    }
    assert {"TrayLift", "Pouring"} <= set(TASKS) and set(ALL_IDS) == expected
    assert all(set(cls.layouts) == {"D0", "D1", "D2"} for cls in TASKS.values())
    for env_id in ALL_IDS:
        assert env_id in gym.registry


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_passes_gymnasium_env_checker(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    env.close()


def test_unknown_id_lists_close_ids():
    with pytest.raises(gym.error.UnregisteredEnv) as err:
        dexbench.make("DexMG/TrayLft-PandaDex-D0")
    assert "DexMG/TrayLift-PandaDex-D0" in str(err.value)


def test_module_prefix_registers_without_import():
    code = (
        "import gymnasium as gym; env = gym.make('dexbench:DexMG/Pouring-GR1-D1'); "
        "obs, info = env.reset(seed=0); print(env.unwrapped.env_id, sorted(info['subtask_signals']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, "MUJOCO_GL": "egl"}
    )
    assert "DexMG/Pouring-GR1-D1" in out.stdout and "ball_in_bowl" in out.stdout


@pytest.mark.parametrize("env_id", ["DexMG/TrayLift-Panda-D1", "DexMG/Pouring-GR1-D2"])
def test_same_seed_same_initial_state_and_trajectory(env_id):
    env = gym.make(env_id).unwrapped
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.3, 0.3, size=(15, *env.action_space.shape)).astype(np.float32)
    if env.action_mode == "absolute":  # small moves around the start pose
        env.reset(seed=0)
        base = env.target_pose_to_action(
            env.eef_poses(), {a: env.embodiment.hand.open_command for a in ("right", "left")}
        )
        actions = base + 0.05 * actions
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=7)
        states = [env.get_state()]
        for action in actions:
            env.step(action)
            states.append(env.get_state())
        runs.append(np.array(states))
    np.testing.assert_array_equal(runs[0], runs[1])
    other, _ = env.reset(seed=8)
    assert not np.allclose(other[f"{env.task.objects[0]}_pose"], obs[f"{env.task.objects[0]}_pose"])


def test_bad_actions_raise_clear_errors():
    env = make_env("TrayLift", "PandaDex")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(14))
    bad = np.zeros(24)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="non-finite.*3"):
        env.step(bad)
    # named by the action layout, not by flat index
    layout = env.unwrapped.action_layout
    bad = np.zeros(24)
    bad[layout["right_pose"].start + 2] = np.nan
    bad[layout["left_hand"].start] = np.inf
    with pytest.raises(ValueError) as err:
        env.step(bad)
    message = str(err.value)
    assert "in right_pose[2], left_hand[0];" in message and "right_hand" not in message.split(";")[0]
    with pytest.raises(ValueError) as err:  # all NaN: one entry per component, not 24 indices
        env.step(np.full(24, np.nan))
    assert "in right_pose (all 6), left_pose (all 6), right_hand (all 6), left_hand (all 6);" in str(err.value)


def test_physics_blowup_truncates_with_error():
    env = make_env("Pouring", "Panda")
    env.reset(seed=0)
    env.data.qvel[:] = 1e7  # an exploding simulation
    _, _, terminated, truncated, info = env.step(np.zeros(env.action_space.shape))
    assert truncated and not terminated
    assert "physics_error" in info


@pytest.mark.parametrize("embodiment", EMBODIMENTS)
@pytest.mark.parametrize("mode", ["delta", "absolute"])
def test_both_action_modes_reach_a_target(embodiment, mode):
    env = make_env("TrayLift", embodiment, action_mode=mode)
    env.reset(seed=0)
    hand = {arm: np.asarray(env.embodiment.hand.open_command) for arm in ("right", "left")}
    targets = env.eef_poses()
    targets["right"][:3, 3] += [0.06, 0.03, -0.05]
    targets["left"][:3, 3] += [0.0, -0.03, 0.05]
    for _ in range(30):
        env.step(env.target_pose_to_action(targets, hand))
    reached = env.eef_poses()
    for arm in ("right", "left"):
        assert np.linalg.norm(reached[arm][:3, 3] - targets[arm][:3, 3]) < 0.01, arm


@pytest.mark.parametrize("mode", ["delta", "absolute"])
def test_action_and_target_pose_are_inverse(mode):
    env = make_env("Pouring", "PandaDex", action_mode=mode)
    env.reset(seed=1)
    targets = env.eef_poses()
    targets["left"][:3, 3] += [0.02, -0.01, 0.03]
    hand = {"right": np.full(6, 0.5), "left": np.full(6, -0.5)}
    action = env.target_pose_to_action(targets, hand)
    back, back_hand = env.action_to_target_pose(action)
    for arm in ("right", "left"):
        np.testing.assert_allclose(back[arm], targets[arm], atol=1e-5)
        np.testing.assert_allclose(back_hand[arm], hand[arm], atol=1e-6)


@pytest.mark.parametrize("embodiment", EMBODIMENTS)
def test_named_cameras_render_the_scene(embodiment):
    env = make_env("Pouring", embodiment, obs_mode="state+rgb", camera_names=("agentview", "head"), image_size=64)
    obs, _ = env.reset(seed=0)
    for cam in ("agentview", "head"):
        image = obs[f"{cam}_image"]
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert image.std() > 10  # not a blank frame
    for arm in ("right", "left"):
        assert env.render_camera_image(f"{arm}_wrist", (48, 64)).shape == (48, 64, 3)
    with pytest.raises(ValueError, match="unknown camera"):
        make_env("Pouring", embodiment, camera_names=("nope",))


def test_layouts_change_where_things_start():
    d0, d2 = make_env("Pouring", "GR1", "D0"), make_env("Pouring", "GR1", "D2")
    d0.reset(seed=0), d2.reset(seed=0)
    # D2 swaps the bowl and the green pad.
    assert d0.object_poses()["pad"][1, 3] < d0.object_poses()["bowl"][1, 3]
    assert d2.object_poses()["pad"][1, 3] > d2.object_poses()["bowl"][1, 3]
    tray = make_env("TrayLift", "Panda", "D2")
    tray.reset(seed=0)
    poses = tray.object_poses()
    assert poses["tray"][0, 3] > poses["cube_right"][0, 3]  # D2: the tray is beyond the cubes


def test_task_spec_names_real_signals_and_objects():
    for task in TASKS.values():
        env = gym.make(f"DexMG/{task.name}-{task.native_embodiment}-D0").unwrapped
        _, info = env.reset(seed=0)
        task_spec = env.task_spec
        assert set(task_spec.subtasks) == {"right", "left"}
        for subtasks in task_spec.subtasks.values():
            for sub in subtasks:
                assert sub.term_signal in info["subtask_signals"]
                assert sub.object_ref is None or sub.object_ref in env.object_poses()
                assert sub.held is None or sub.held in env.object_poses()
        assert not any(info["subtask_signals"].values()) and not info["is_success"]


def test_vector_env_steps_in_lockstep():
    envs = gym.make_vec("DexMG/TrayLift-Panda-D0", num_envs=2, vectorization_mode="sync")
    obs, info = envs.reset(seed=[3, 4])
    assert obs["tray_pose"].shape == (2, 7)
    assert not np.allclose(obs["tray_pose"][0], obs["tray_pose"][1])
    obs, reward, terminated, truncated, info = envs.step(np.zeros((2, 14), dtype=np.float32))
    assert reward.shape == (2,) and not info["is_success"].any()
    envs.close()


def test_a_bad_restored_state_ends_its_episode_and_not_the_next_ones():
    env = make_env("TrayLift", "Panda", "D0")
    env.reset(seed=0)
    bad = env.get_state()
    bad[1 + env.model.nq + 3] = 1e12  # a huge velocity (state = time, qpos, qvel, ...)
    env.reset_to(bad)
    hold = np.zeros(env.action_space.shape, dtype=np.float32)
    *_, truncated, info = env.step(hold)
    assert truncated and "physics_error" in info
    for restart in (lambda: env.reset(seed=1), lambda: env.reset_to(env.reset(seed=2) and env.get_state())):
        restart()
        for _ in range(3):
            *_, truncated, info = env.step(hold)
            assert not truncated and "physics_error" not in info, info.get("physics_error")


@pytest.mark.parametrize("where", ["qpos", "qvel"])
def test_mujoco_silent_resets_are_physics_errors(where):
    env = make_env("Pouring", "Panda", "D0")
    env.reset(seed=0)
    getattr(env.data, where)[-1] = np.nan  # MuJoCo resets the scene and only warns
    *_, truncated, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert truncated and "unstable" in info["physics_error"]


def test_the_recorded_options_rebuild_the_same_env_and_bad_options_fail_before_a_model_is_built():
    import dataclasses

    from dexbench.datasets.writer import env_kwargs_of

    env = gym.make("DexMG/TrayLift-PandaDex-D1", object_variants="random", horizon=123, camera_names="agentview")
    options = env.unwrapped.options
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.horizon = 5  # what an env was made with does not change under it
    assert env.unwrapped.horizon == 123
    with pytest.raises(AttributeError):
        env.unwrapped.horizon = 5  # the env's attributes read its options; they are not copies
    recorded = env_kwargs_of(env)
    assert recorded["object_variants"] == "random" and recorded["horizon"] == 123  # the object axis is recorded
    assert recorded["action_mode"] == "delta"  # the robot's default, resolved
    again = gym.make("DexMG/TrayLift-PandaDex-D1", **recorded)
    assert again.unwrapped.options == options
    first, second = env.reset(seed=7)[0], again.reset(seed=7)[0]
    assert all(np.array_equal(first[k], second[k]) for k in first)
    env.close()
    again.close()
    for bad, message in [
        ({"control_freq": 1e6}, "above the physics rate"),
        ({"terminate_on_success": "yes"}, "terminate_on_success must be True or False"),
        ({"camera_names": ["agentview", 3]}, "camera_names must be camera names"),
        ({"reward_type": "shaped"}, "reward_type must be 'sparse' or 'dense'"),
    ]:
        with pytest.raises(ValueError, match=message):
            gym.make("DexMG/TrayLift-PandaDex-D0", **bad)
