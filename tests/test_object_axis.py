"""The object axis (O) on TrayLift's cubes: off by default, drawn from the seed, restored by
`reset_to`, sized, shaped, weighed and rubbed as declared, and refused clearly when misnamed; and
the tasks that size their checks and demonstrators by it (Pouring, CanSort)."""

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dexbench  # noqa: F401  (registers the ids)
from dexbench.envs.objects import ObjectVariant

ID = "DexMG/TrayLift-Panda-D0"


def cube(env, arm="right"):
    m = env.model
    body = m.body(f"cube_{arm}").id
    geom = m.body_geomadr[body]
    return dict(
        type=int(m.geom_type[geom]),
        size=m.geom_size[geom].copy(),
        mass=float(m.body_mass[body]),
        friction=float(m.geom_friction[geom, 0]),
        z=float(env.data.xpos[body, 2]),
        xy=env.data.xpos[body, :2].copy(),
    )


def test_published_ids_keep_the_reference_objects_and_state_size():
    ref = gym.make(ID).unwrapped
    rand = gym.make(ID, object_variants="random").unwrapped
    assert ref.model.nuserdata == 0 and rand.model.nuserdata == 2  # only the O-axis env stores variants
    ref.reset(seed=0)
    assert ref.task.object_variant_indices() == (0, 0) and cube(ref)["mass"] == pytest.approx(0.12)


def test_random_variants_come_from_the_seed_and_keep_the_layout():
    env = gym.make(ID, object_variants="random").unwrapped
    ref = gym.make(ID).unwrapped
    drawn = set()
    for seed in range(12):
        env.reset(seed=seed)
        ref.reset(seed=seed)
        indices = env.task.object_variant_indices()
        drawn.add(indices)
        np.testing.assert_allclose(cube(env)["xy"], cube(ref)["xy"])  # same placement as the published draw
        scale_z = env.task.object_variant("cube_right").scale_z
        assert cube(env)["z"] == pytest.approx(env.task.table_top_z + 0.03 * scale_z)  # resting, at its height
        env.reset(seed=seed)
        assert env.task.object_variant_indices() == indices  # the same seed, the same objects
    assert len(drawn) > 6


def test_variants_change_size_shape_mass_and_friction_as_declared():
    expect = {
        "large": dict(size=0.0375),
        "cylinder": dict(type=int(mujoco.mjtGeom.mjGEOM_CYLINDER)),
        "heavy": dict(mass=0.36),
        "slippery": dict(friction=0.5),
    }
    for name, fields in expect.items():
        env = gym.make(ID, object_variants={"cube_right": name}).unwrapped
        env.reset(seed=0)
        got = cube(env)
        for key, value in fields.items():
            assert np.max(got[key]) == pytest.approx(value), (name, key)
        assert cube(env, "left")["size"][0] == pytest.approx(0.03)  # the other cube stays the reference
        if name == "large":  # resting on the table, not sunk into it or dropped onto it
            assert got["z"] == pytest.approx(env.task.table_top_z + 0.0375)


def test_reset_to_restores_the_objects_of_the_state():
    a = gym.make(ID, object_variants="random").unwrapped
    b = gym.make(ID, object_variants="random").unwrapped
    seed = next(s for s in range(50) if a.reset(seed=s) and a.task.object_variant_indices() != (0, 0))
    a.reset(seed=seed)
    state, before = a.get_state(), cube(a)
    b.reset(seed=seed + 1)
    b.reset_to(state)
    after = cube(b)
    for key in ("type", "size", "mass", "friction"):
        np.testing.assert_allclose(after[key], before[key])
    for _ in range(5):  # and the physics goes on identically
        action = a.action_space.sample()
        a.step(action)
        b.step(action)
    np.testing.assert_array_equal(a.get_state(), b.get_state())


def test_an_object_axis_env_passes_the_gymnasium_checker():
    check_env(gym.make(ID, object_variants="random").unwrapped, skip_render_check=True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(object_variants={"cube_right": "huge"}), "no variant 'huge' of 'cube_right'"),
        (dict(object_variants="sometimes"), "object_variants must be"),
    ],
)
def test_bad_object_variants_are_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(ID, **kwargs)


def test_a_task_without_object_variants_refuses_random():
    with pytest.raises(ValueError, match="has no object variants"):
        gym.make("DexMG/Threading-Panda-D0", object_variants="random")


def test_object_variant_values_are_checked():
    with pytest.raises(ValueError, match="mass must be a positive number"):
        ObjectVariant("bad", mass=0.0)


def test_the_pouring_demonstrator_reads_the_objects_it_is_given():
    # A 7 cm cup grasped at the reference's 7 cm height is grasped at its rim; a 3 cm bowl wall
    # pushed at the reference's 3.5 cm height is pushed over. The demonstrator sizes both.
    from dexbench.policies import ScriptedPolicy
    from dexbench.rollout import rollout

    env = gym.make("DexMG/Pouring-PandaDex-D0", object_variants={"cup": "short", "bowl": "shallow"}).unwrapped
    policy = ScriptedPolicy(env.observation_space, env.action_space, env)
    assert rollout(env, policy, 0, record=False).success


def test_an_object_axis_env_observes_each_objects_variant():
    env = gym.make(ID, object_variants={"cube_left": "heavy"}).unwrapped
    obs, _ = env.reset(seed=0)
    assert env.observation_space["cube_left_variant"].contains(obs["cube_left_variant"])
    np.testing.assert_allclose(obs["cube_left_variant"], [1, 1, 3, 1, 0, 0])
    np.testing.assert_allclose(obs["cube_right_variant"], [1, 1, 1, 1, 0, 0])
    assert "cube_left_variant" not in gym.make(ID).unwrapped.observation_space.spaces  # published obs unchanged


# ---------------------------------------------------------------- CanSort (a hand-over task)
CAN_ID = "DexMG/CanSort-GR1-D0"


def test_cansort_declares_can_variants_and_keeps_the_published_model():
    from dexbench.envs.tasks.can_sort import CAN_VARIANTS, CanSort

    assert CanSort.object_variants == {"can": CAN_VARIANTS} and CAN_VARIANTS[0].name == "reference"
    ref, named = gym.make(CAN_ID).unwrapped, gym.make(CAN_ID, object_variants={"can": "reference"}).unwrapped
    ref.reset(seed=0)
    named.reset(seed=0)
    assert ref.model.nuserdata == len(CanSort.choices) + len(CanSort.latches)  # no variant slot in the state
    for field in ("geom_size", "geom_rbound", "geom_friction", "body_mass", "body_inertia", "body_pos"):
        np.testing.assert_array_equal(getattr(ref.model, field), getattr(named.model, field), err_msg=field)
    np.testing.assert_array_equal(ref.data.qpos, named.data.qpos)  # the reference can, where it was


@pytest.mark.parametrize("name", ["narrow", "wide", "short", "tall"])
def test_cansort_sizes_the_can_its_checks_and_its_rest(name):
    env = gym.make(CAN_ID, object_variants={"can": name}).unwrapped
    env.reset(seed=0)
    variant = env.task.object_variant("can")
    radius, half_height = env.task.can_size()
    geom = env.model.geom("can")
    np.testing.assert_allclose(geom.size[:2], [radius, half_height])
    assert (radius, half_height) == pytest.approx((0.03 * variant.scale_xy, 0.09 * variant.scale_z))
    assert env.task.can_bottom_height() == pytest.approx(0.0, abs=2e-3)  # standing on the table
    # In its colour's bin: lying there counts, standing there does not, whatever the can's height.
    colour = env.task.choice("colour")
    x, y = env.data.mocap_pos[env.task._mocap[f"{colour}_bin"], :2]
    floor = env.task.table_top_z + 0.01
    for z, quat, inside in (
        (floor + half_height, [1, 0, 0, 0], False),
        (floor + radius, [0.7071068, 0, 0.7071068, 0], True),
    ):
        adr = env.model.jnt_qposadr[env.model.body_jntadr[env.model.body("can").id]]
        env.data.qpos[adr : adr + 7] = [x, y, z, *quat]
        mujoco.mj_forward(env.model, env.data)
        assert env.task.in_bin(colour) is inside, (name, inside)


def test_the_cansort_demonstrator_hands_over_and_sorts_every_can_variant():
    from dexbench.envs.tasks.can_sort import CAN_VARIANTS
    from dexbench.policies import ScriptedPolicy
    from dexbench.rollout import rollout

    # Every variant on the humanoid; and a short can on PandaDex, which grasped at the
    # reference's heights (its top 2.7 cm lower) slipped out of the hands (seeds 1 and 2 of 0-2).
    runs = [(CAN_ID, variant.name, 0) for variant in CAN_VARIANTS[1:]] + [("DexMG/CanSort-PandaDex-D0", "short", 1)]
    for env_id, name, seed in runs:
        env = gym.make(env_id, object_variants={"can": name}).unwrapped
        policy = ScriptedPolicy(env.observation_space, env.action_space, env)
        assert rollout(env, policy, seed, record=False).success, (env_id, name)
