"""Pouring: pour the ball from the cup into the bowl, then move the bowl onto the green pad.

Task Description:
    A cup with a ball inside stands on the left of the table, a bowl on the right, and a green
    pad is marked near the right edge. The left hand grasps the cup, lifts it over the bowl and
    tips the ball into it. Only then (sequential constraint) does the right hand move the bowl
    onto the pad, by pushing it across the table so the ball stays inside.

Randomizations:
    | layout  | cup x, y (m)              | bowl x, y (m)               | pad (fixed) x, y (m) |
    |---------|---------------------------|-----------------------------|----------------------|
    | D0      | (-0.15,-0.05), (0.10,0.15) | (-0.15,-0.05), (-0.15,-0.10) | (-0.10, -0.35) (reference) |
    | D1      | (-0.20, 0.00), (0.08,0.20) | (-0.20, 0.00), (-0.18,-0.08) | (-0.10, -0.35)       |
    | D2      | (-0.20, 0.00), (0.08,0.20) | (-0.13,-0.07), (-0.32,-0.27) | (-0.10, -0.125)      |
    D2 swaps the bowl and the pad, so the bowl is pushed the other way (+y).
    All objects start upright with yaw 0 (the cup and bowl are round).

Object variants (O axis, off in the published ids; `object_variants="random"` draws one for
the cup and one for the bowl from the seed):
    | cup      | radius x height (cm) | mass    | | bowl    | radius x wall (cm) | mass    |
    |----------|----------------------|---------|-|---------|--------------------|---------|
    | reference| 3.2 x 9              | ~0.03 kg| | reference| 7 x 4             | ~0.1 kg |
    | narrow   | 2.9 x 9              |  same   | | small   | 5.6 x 4            |  same   |
    | wide     | 3.7 x 9              |  same   | | large   | 8.4 x 4            |  same   |
    | short    | 3.2 x 7.2            |  same   | | shallow | 7 x 3              |  same   |
    | tall     | 3.2 x 10.8           |  same   | | deep    | 7 x 5.2            |  same   |
    | heavy    | 3.2 x 9              |  x2.5   | | heavy   | 7 x 4              |  x3     |
    | slippery | 3.2 x 9, friction 0.6|  same   | |         |                    |         |

Success Conditions:
    The ball touches the bowl within 10 cm (xy) of its centre; the bowl touches the pad, stands
    upright (1 - z_axis.z < 0.05) and is within 6 cm (xy) of the pad's centre.
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexbench.envs.objects import ObjectVariant
from dexbench.envs.tasks.base import Layout, Placement, Sequential, Subtask, Task, TaskSpec, TaskStatus, ring_wall

CUP_RADIUS_M = 0.032  # outer radius
CUP_HEIGHT_M = 0.09
CUP_WALL_M = 0.004
CUP_WALLS = 10
BALL_RADIUS_M = 0.015
BOWL_RADIUS_M = 0.07
BOWL_WALL_HEIGHT_M = 0.04
BOWL_WALLS = 16
PAD_HALF_M = 0.08
BALL_IN_BOWL_XY_M = 0.10
BOWL_ON_PAD_XY_M = 0.06
UPRIGHT_TOL = 0.05  # 1 - z_axis.z
CUP_BASE_M = 0.008  # the ball starts on the cup's base

CUP_VARIANTS = (
    ObjectVariant("reference"),
    ObjectVariant("narrow", scale_xy=0.92),
    ObjectVariant("wide", scale_xy=1.15),
    ObjectVariant("short", scale_z=0.8),
    ObjectVariant("tall", scale_z=1.2),
    ObjectVariant("heavy", mass=2.5),
    ObjectVariant("slippery", friction=0.5),
)
BOWL_VARIANTS = (
    ObjectVariant("reference"),
    ObjectVariant("small", scale_xy=0.8),
    ObjectVariant("large", scale_xy=1.2),
    ObjectVariant("shallow", scale_z=0.75),
    ObjectVariant("deep", scale_z=1.3),
    ObjectVariant("heavy", mass=3.0),
)

LAYOUTS = {
    "D0": Layout(
        "reference reset ranges",
        {
            "cup": Placement(x=(-0.15, -0.05), y=(0.10, 0.15)),
            "bowl": Placement(x=(-0.15, -0.05), y=(-0.15, -0.10)),
        },
        scenery={"pad": Placement.at(-0.10, -0.35)},
    ),
    "D1": Layout(
        "wider positions",
        {
            "cup": Placement(x=(-0.20, 0.0), y=(0.08, 0.20)),
            "bowl": Placement(x=(-0.20, 0.0), y=(-0.18, -0.08)),
        },
        scenery={"pad": Placement.at(-0.10, -0.35)},
    ),
    "D2": Layout(
        "bowl and green pad swapped",
        {
            "cup": Placement(x=(-0.20, 0.0), y=(0.08, 0.20)),
            "bowl": Placement(x=(-0.13, -0.07), y=(-0.32, -0.27)),
        },
        scenery={"pad": Placement.at(-0.10, -0.125)},
    ),
}


class Pouring(Task):
    name = "Pouring"
    horizon = 400
    native_embodiment = "GR1"
    layouts = LAYOUTS
    objects = ("cup", "ball", "bowl", "pad")
    object_variants = {"cup": CUP_VARIANTS, "bowl": BOWL_VARIANTS}
    task_spec = TaskSpec(
        subtasks={
            # The push is relative to a frame at the bowl facing the pad: a push carried to a
            # new layout then heads for the pad wherever it is (D2 reverses it). The pushing
            # hand keeps its source orientation: any side of a fist or of open jaws pushes.
            "right": (
                Subtask("reach_bowl", "bowl_to_pad", "bowl_touched_right", keep_orientation=True),
                Subtask("push_bowl", "bowl_to_pad", "bowl_on_pad", keep_orientation=True),
            ),
            "left": (
                Subtask("grasp_cup", "cup", "grasp_cup"),
                Subtask("pour", "bowl", "ball_in_bowl", held="cup"),
            ),
        },
        sequential=(Sequential(pre=("left", "pour"), post=("right", "reach_bowl")),),
    )

    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        pad = mj_spec.worldbody.add_body(name="pad", mocap=True)  # placed by the layout's scenery
        # Nearly flush with the table (0.2 mm proud): a bowl slides onto it without catching.
        pad.add_geom(
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[PAD_HALF_M, PAD_HALF_M, 0.001],
            pos=[0, 0, -0.0008],
            rgba=[0.2, 0.7, 0.3, 1],
        )

        cup = mj_spec.worldbody.add_body(name="cup", pos=[0, 0, table_top_z])
        cup.add_freejoint(name="cup")
        plastic = dict(rgba=[0.95, 0.85, 0.3, 1], density=600, friction=[1.2, 0.005, 0.0001])
        cup.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[CUP_RADIUS_M, 0.004, 0], pos=[0, 0, 0.004], **plastic)
        # Walls stand on the base, 1 mm clear of the table: only the base touches it (4 contacts,
        # not 4 per wall).
        ring_wall(cup, CUP_RADIUS_M, CUP_HEIGHT_M - 0.007, CUP_WALLS, CUP_WALL_M, 0.007, **plastic)

        ball = mj_spec.worldbody.add_body(name="ball", pos=[0, 0, table_top_z + 0.008 + BALL_RADIUS_M])
        ball.add_freejoint(name="ball")
        ball.add_geom(
            type=mujoco.mjtGeom.mjGEOM_SPHERE,
            size=[BALL_RADIUS_M, 0, 0],
            mass=0.02,
            rgba=[0.9, 0.25, 0.2, 1],
            friction=[0.6, 0.005, 0.0001],
        )

        bowl = mj_spec.worldbody.add_body(name="bowl", pos=[0, 0, table_top_z])
        bowl.add_freejoint(name="bowl")
        ceramic = dict(rgba=[0.85, 0.88, 0.95, 1], density=500, friction=[0.5, 0.005, 0.0001])
        bowl.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[BOWL_RADIUS_M, 0.004, 0], pos=[0, 0, 0.004], **ceramic)
        ring_wall(bowl, BOWL_RADIUS_M, BOWL_WALL_HEIGHT_M - 0.007, BOWL_WALLS, 0.006, 0.007, **ceramic)

    def initialize_episode(self, rng: np.random.Generator) -> None:
        super().initialize_episode(rng)
        # The ball starts inside the cup, wherever the cup was put.
        adr = self._free_qpos["cup"]
        x, y = self.data.qpos[adr : adr + 2]
        base = CUP_BASE_M * (self.object_variant("cup") or CUP_VARIANTS[0]).scale_z
        self.set_object_pose("ball", x, y, 0.0, z=self.table_top_z + base + BALL_RADIUS_M)

    def object_poses(self) -> dict[str, np.ndarray]:
        """The bodies' poses, plus `bowl_to_pad`: a frame on the table under the bowl's centre
        whose x axis points at the pad (the natural frame of the push)."""
        poses = super().object_poses()
        bowl, pad = poses["bowl"][:3, 3], poses["pad"][:3, 3]
        heading = np.arctan2(pad[1] - bowl[1], pad[0] - bowl[0])
        frame = np.eye(4)
        frame[:2, :2] = [[np.cos(heading), -np.sin(heading)], [np.sin(heading), np.cos(heading)]]
        frame[:3, 3] = (bowl[0], bowl[1], self.table_top_z)
        poses["bowl_to_pad"] = frame
        return poses

    # ------------------------------------------------------------------ success and signals
    def evaluate(self) -> TaskStatus:
        self.update_contacts()
        ids = self.body_ids
        ball_xy = self.data.xpos[ids["ball"], :2]
        bowl_xy = self.data.xpos[ids["bowl"], :2]
        pad_xy = self.data.xpos[ids["pad"], :2]
        upright = 1.0 - self.data.xmat[ids["bowl"], 8] < UPRIGHT_TOL
        ball_in_bowl = self.touching(ids["ball"], ids["bowl"]) and np.linalg.norm(ball_xy - bowl_xy) < BALL_IN_BOWL_XY_M
        bowl_on_pad = (
            self.touching(ids["bowl"], ids["pad"]) and upright and np.linalg.norm(bowl_xy - pad_xy) < BOWL_ON_PAD_XY_M
        )
        return TaskStatus(
            success=bool(ball_in_bowl and bowl_on_pad),
            signals={
                "grasp_cup": self.is_grasped("left", ids["cup"]),
                "ball_in_bowl": bool(ball_in_bowl),
                "bowl_touched_right": self.touched_by_hand("right", ids["bowl"]),
                "bowl_on_pad": bool(bowl_on_pad),
            },
        )

    def dense_reward(self, status: TaskStatus) -> float:
        signals = status.signals
        ids = self.body_ids
        reward = 0.1 * signals["grasp_cup"] + 0.4 * signals["ball_in_bowl"]
        if signals["ball_in_bowl"]:
            dist = np.linalg.norm(self.data.xpos[ids["bowl"], :2] - self.data.xpos[ids["pad"], :2])
            reward += 0.1 * signals["bowl_touched_right"] + 0.4 * float(np.exp(-5.0 * dist))
        return float(reward)
