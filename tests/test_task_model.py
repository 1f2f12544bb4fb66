"""The task model for the remaining tasks, on a small task defined here: scenery with a pose range,
an articulated joint with an initial range, a per-episode choice, supported embodiments — all
drawn from the seed, observed, and restored exactly by `reset_to`."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dexbench.envs.core import DexEnv
from dexbench.envs.embodiments import Panda
from dexbench.envs.registry import ENV_TABLE
from dexbench.envs.tasks.base import Layout, Placement, Subtask, Task, TaskSpec, TaskStatus
from dexbench.evaluation.seeds import _stored, derived_seeds, eval_seeds

BOX = mujoco.mjtGeom.mjGEOM_BOX


class Lidded(Task):
    """A block on the table, a hinged flap on a box that moves per episode, and a colour goal."""

    name = "Lidded"
    horizon = 20
    native_embodiment = "Panda"
    embodiments = ("Panda",)
    objects = ("block", "box")
    articulations = ("flap",)
    choices = {"colour": ("red", "green", "blue")}
    layouts = {
        "D0": Layout(
            "test",
            {"block": Placement(x=(-0.1, 0.1), y=(0.1, 0.2))},
            scenery={"box": Placement(x=(0.05, 0.15), y=(-0.2, -0.1), yaw=(-0.5, 0.5))},
            joints={"flap": (0.2, 1.2)},
        )
    }
    task_spec = TaskSpec(subtasks={"right": (Subtask("open", "box", "flap_open"),), "left": ()})

    def build(self, mj_spec, table_top_z):
        block = mj_spec.worldbody.add_body(name="block", pos=[0, 0, table_top_z + 0.02])
        block.add_freejoint()
        block.add_geom(type=BOX, size=[0.02] * 3, mass=0.1)
        box = mj_spec.worldbody.add_body(name="box", mocap=True)
        box.add_geom(type=BOX, size=[0.05, 0.05, 0.03], pos=[0, 0, 0.03])
        flap = box.add_body(name="flap_body", pos=[0, 0.05, 0.06])
        flap.add_joint(name="flap", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[1, 0, 0], range=[0, 2], damping=1)
        flap.add_geom(type=BOX, size=[0.05, 0.05, 0.003], pos=[0, -0.05, 0], mass=0.05)

    def rest_height(self, name):
        return 0.02 if name == "block" else 0.0

    def evaluate(self):
        return TaskStatus(success=False, signals={"flap_open": self.joint_position("flap") > 1.5})

    def dense_reward(self, status):
        return 0.0


@pytest.fixture(scope="module")
def env():
    env = DexEnv(Lidded, Panda(), "D0")
    yield env
    env.close()


def test_scenery_joints_and_choices_are_drawn_from_the_seed_and_observed(env):
    draws = []
    for seed in (0, 1, 2, 3, 0):
        obs, _ = env.reset(seed=seed)
        box = env.object_poses()["box"]
        yaw = np.arctan2(box[1, 0], box[0, 0])
        assert 0.05 <= box[0, 3] <= 0.15 and -0.2 <= box[1, 3] <= -0.1 and -0.5 <= yaw <= 0.5
        assert 0.2 <= obs["flap_pos"][0] <= 1.2 and obs["flap_pos"][0] == env.task.joint_position("flap")
        colour = env.episode_choices()["colour"]
        assert obs["colour_onehot"].tolist() == [float(c == colour) for c in ("red", "green", "blue")]
        np.testing.assert_array_equal(obs["box_pose"][:3], box[:3, 3])
        draws.append((tuple(box[:2, 3]), obs["flap_pos"][0], colour))
    assert draws[0] == draws[-1] and len(set(draws[:4])) == 4
    assert len({d[2] for d in draws}) > 1


def test_reset_to_restores_scenery_joint_and_choice(env):
    env.reset(seed=5)
    state, before = env.get_state(), env.observation()
    env.reset(seed=6)
    after = env.reset_to(state)
    for key in ("box_pose", "flap_pos", "colour_onehot", "block_pose"):
        np.testing.assert_array_equal(before[key], after[key])


def test_a_task_with_scenery_joints_and_choices_passes_the_gymnasium_checker(env):
    check_env(env, skip_render_check=True)


def test_evaluate_gives_success_apart_from_the_signals_and_info_shows_both(env):
    _, info = env.reset(seed=0)
    status = env.task.evaluate()
    assert isinstance(status, TaskStatus) and "success" not in status.signals
    assert info == {"is_success": status.success, "subtask_signals": {"flap_open": False}}
    assert env.subtask_signals() == status.signals and env.is_success() is False


@pytest.mark.parametrize("old, new", [("spec", "task_spec"), ("variants", "layouts")])
def test_a_task_declaring_an_old_name_is_refused_with_the_new_one(old, new):
    with pytest.raises(TypeError, match=f"{old!r} is now {new!r}"):
        type("Old", (Lidded,), {old: getattr(Lidded, new)})


def test_scenery_that_is_not_a_mocap_body_is_refused():
    class Bad(Lidded):
        def build(self, mj_spec, table_top_z):
            block = mj_spec.worldbody.add_body(name="block")
            block.add_freejoint()
            block.add_geom(type=BOX, size=[0.02] * 3)
            box = mj_spec.worldbody.add_body(name="box")  # not mocap
            box.add_geom(type=BOX, size=[0.05] * 3)
            flap = box.add_body(name="flap_body")
            flap.add_joint(name="flap", type=mujoco.mjtJoint.mjJNT_HINGE)
            flap.add_geom(type=BOX, size=[0.01] * 3)

    with pytest.raises(ValueError, match="mocap=True"):
        DexEnv(Bad, Panda(), "D0")


def test_new_ids_get_published_seeds_from_code_and_the_stored_ones_never_change():
    stored = _stored()
    assert len(stored) == 18
    for env_id, values in stored.items():
        assert eval_seeds(env_id, 200) == values
    for env_id in ENV_TABLE:
        seeds = eval_seeds(env_id, 200)
        assert len(set(seeds)) == 200 and all(1_000_000 <= s < 2_000_000 for s in seeds)
    derived = derived_seeds("DexMG/SomeTask-GR1-D1")
    assert derived == derived_seeds("DexMG/SomeTask-GR1-D1") != derived_seeds("DexMG/SomeTask-GR1-D2")


def test_a_can_knocked_into_its_bin_is_no_success_until_the_placing_hand_held_it():
    # CanSort's latch: in the state, cleared at reset, restored by reset_to.
    import gymnasium as gym

    import dexbench  # noqa: F401

    env = gym.make("DexMG/CanSort-Panda-D0").unwrapped
    env.reset(seed=0)
    task, data = env.task, env.data
    goal = data.xpos[task.body_ids["goal_bin"]]
    adr = task._free_qpos["can"]
    data.qpos[adr : adr + 3] = (goal[0], goal[1], task.table_top_z + 0.01 + 0.03)  # lying on the floor
    data.qpos[adr + 3 : adr + 7] = (np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0)
    mujoco.mj_forward(env.model, data)
    assert not task.evaluate().success  # knocked in: never held by the left hand
    task.latch("held_by_left", True)
    assert task.evaluate().success
    state = env.get_state()
    env.reset(seed=1)
    assert not task.latch("held_by_left", False)
    env.reset_to(state)
    assert task.latch("held_by_left", False) and task.evaluate().success
