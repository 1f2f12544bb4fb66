"""Builds the MuJoCo model of one env with `mujoco.MjSpec`: arena, table, robot, task objects.

The arena is the same for every task: a floor, a table whose centre is the world origin's
xy (x toward the robot is negative), lights, and the `agentview` and `head` cameras.
"""

from __future__ import annotations

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.envs.embodiments.base import Embodiment

PHYSICS_TIMESTEP_S = 0.002
MAX_RENDER_SIZE = 1024  # offscreen framebuffer side (px); larger requests are refused
SHADOW_MAP_SIZE = 1024  # small shadow map: rendering is bound by it, not by resolution


def look_at_quat(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Quaternion (w, x, y, z) of a camera at `eye` looking at `target`, world z up."""
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    # MuJoCo cameras look along -z with +y up.
    mat = np.column_stack([right, up, -forward])
    return Rotation.from_matrix(mat).as_quat(scalar_first=True)


def build_scene(embodiment: Embodiment, table_size_m: tuple[float, float], name: str) -> mujoco.MjSpec:
    """The arena and robot; the task adds its objects afterwards."""
    mj_spec = mujoco.MjSpec()
    mj_spec.modelname = name
    mj_spec.compiler.degree = False
    mj_spec.option.timestep = PHYSICS_TIMESTEP_S
    mj_spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    mj_spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    mj_spec.option.impratio = 10.0  # stiff friction: grasped objects do not creep
    mj_spec.visual.quality.shadowsize = SHADOW_MAP_SIZE
    mj_spec.visual.global_.offwidth = MAX_RENDER_SIZE
    mj_spec.visual.global_.offheight = MAX_RENDER_SIZE
    mj_spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    mj_spec.stat.center = [0.0, 0.0, embodiment.table_height_m]
    mj_spec.stat.extent = 1.5

    mj_spec.add_texture(
        name="skybox",
        type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        rgb1=[0.75, 0.82, 0.9],
        rgb2=[0.3, 0.35, 0.4],
        width=256,
        height=256,
    )
    mj_spec.add_texture(
        name="floor",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=[0.42, 0.44, 0.46],
        rgb2=[0.36, 0.38, 0.4],
        width=256,
        height=256,
    )
    floor_mat = mj_spec.add_material(name="floor", texrepeat=[6, 6], reflectance=0.05)
    floor_mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "floor"
    mj_spec.add_material(name="table", rgba=[0.62, 0.5, 0.38, 1])

    world = mj_spec.worldbody
    world.add_light(pos=[0, 0, 3.0], dir=[0, 0, -1], diffuse=[0.6, 0.6, 0.6], castshadow=True)
    world.add_light(pos=[1.5, -1.0, 2.5], dir=[-0.5, 0.3, -1], diffuse=[0.3, 0.3, 0.3], castshadow=False)
    world.add_geom(
        name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.05], material="floor", contype=1, conaffinity=1
    )

    top = embodiment.table_height_m
    half_x, half_y = table_size_m[0] / 2, table_size_m[1] / 2
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[half_x, half_y, 0.025],
        pos=[0, 0, top - 0.025],
        material="table",
        friction=[1.0, 0.005, 0.0001],
    )
    for sx in (-1, 1):
        for sy in (-1, 1):
            world.add_geom(
                type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                size=[0.02, (top - 0.05) / 2, 0],
                pos=[sx * (half_x - 0.05), sy * (half_y - 0.05), (top - 0.05) / 2],
                rgba=[0.35, 0.3, 0.25, 1],
                contype=0,
                conaffinity=0,
            )

    agent_eye = np.array([1.55, 0.0, top + 0.85])
    world.add_camera(name="agentview", pos=agent_eye, quat=look_at_quat(agent_eye, [-0.3, 0.0, top + 0.2]), fovy=45)
    embodiment.attach(mj_spec)
    if not any(cam.name == "head" for cam in mj_spec.cameras):
        head_eye = np.array([-0.75, 0.0, top + 0.75])
        world.add_camera(name="head", pos=head_eye, quat=look_at_quat(head_eye, [0.05, 0.0, top]), fovy=60)
    return mj_spec
