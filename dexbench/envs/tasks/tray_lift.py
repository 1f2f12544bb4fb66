"""TrayLift: put a cube on the tray with each hand, then lift the tray with both hands.

Task Description:
    A tray with a handle bar sticking out of each end lies near the robot; a 6 cm cube lies on each side of the
    table, further out. Each hand picks the cube on its side and puts it on the tray (parallel),
    then each hand grasps the tray's handle on its side, and both lift the tray together
    (coordination: the lift must end on the same step for both arms).

Randomizations:
    | layout  | tray x, y (m), yaw (rad)           | cubes x, y (m)                       |
    |---------|------------------------------------|--------------------------------------|
    | D0      | (-0.20,-0.15), (-0.03,0.03), pi+-pi/8 | (0,0.2), +-(0.2,0.3), yaw 0 (reference) |
    | D1      | (-0.22,-0.12), (-0.06,0.06), pi+-pi/5 | (-0.02,0.22), +-(0.17,0.32), yaw +-pi/4 |
    | D2      | far side: (0.05,0.12), (-0.05,0.05), pi+-pi/6 | near side: (-0.22,-0.08), +-(0.17,0.30), yaw +-pi/4 |
    D2 swaps the roles of near and far: the tray is beyond the cubes, so a replayed source demo
    reaches for empty table.

Object variants (O axis, off in the published ids; `object_variants="random"` draws one per
cube from the seed):
    | variant  | size (edge)   | shape    | mass    | friction |
    |----------|---------------|----------|---------|----------|
    | reference| 6 cm          | cube     | 0.12 kg | 1.2      |
    | small    | 4.5 cm        | cube     | 0.12 kg | 1.2      |
    | large    | 7.5 cm        | cube     | 0.12 kg | 1.2      |
    | heavy    | 6 cm          | cube     | 0.36 kg | 1.2      |
    | slippery | 6 cm          | cube     | 0.12 kg | 0.5      |
    | cylinder | 6 cm x 6 cm   | cylinder | 0.12 kg | 1.2      |
    | flat     | 7 cm x 4 cm   | box      | 0.12 kg | 1.2      |
    Sizes stay within what the Panda jaws (8 cm stroke) and both hands can close on.

Success Conditions:
    The tray and both cubes are more than 10 cm above the table (body origins: the tray's base
    plate, the cubes' centres) and both cubes touch the tray.
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexbench.envs.embodiments.base import ARMS
from dexbench.envs.objects import ObjectVariant
from dexbench.envs.tasks.base import Coordination, Layout, Placement, Subtask, Task, TaskSpec, TaskStatus

CUBE_HALF_M = 0.03  # 6 cm cubes (reference)
CUBE_MASS_KG = 0.12
TRAY_HALF_X_M, TRAY_HALF_Y_M = 0.1, 0.17  # base plate
TRAY_PLATE_HALF_Z_M = 0.005
TRAY_RIM_HEIGHT_M = 0.02
TRAY_DENSITY = 400.0  # kg/m^3, wood: the tray weighs ~0.35 kg
HANDLE_Y_M = 0.235  # where a hand holds a handle bar, from the tray centre
HANDLE_END_Y_M = 0.29  # outer end of the bars
HANDLE_Z_M = 0.06  # bar axis height above the tray bottom: fingers wrap under it
HANDLE_HALF_WIDTH_M = 0.014  # the flat bar's cross-section: 2.8 cm wide,
HANDLE_HALF_THICKNESS_M = 0.008  # 1.6 cm thick
LIFT_HEIGHT_M = 0.10  # success: everything this far above the table

CUBE_VARIANTS = (
    ObjectVariant("reference"),
    ObjectVariant("small", scale_xy=0.75, scale_z=0.75),
    ObjectVariant("large", scale_xy=1.25, scale_z=1.25),
    ObjectVariant("heavy", mass=3.0),
    ObjectVariant("slippery", friction=0.5 / 1.2),
    ObjectVariant("cylinder", shape="cylinder"),
    ObjectVariant("flat", scale_xy=7 / 6, scale_z=4 / 6),
)

LAYOUTS = {
    "D0": Layout(
        "reference reset ranges",
        {
            "tray": Placement(x=(-0.20, -0.15), y=(-0.03, 0.03), yaw=(np.pi - np.pi / 8, np.pi + np.pi / 8)),
            "cube_right": Placement(x=(0.0, 0.2), y=(-0.3, -0.2)),
            "cube_left": Placement(x=(0.0, 0.2), y=(0.2, 0.3)),
        },
    ),
    "D1": Layout(
        "wider positions, cube yaw",
        {
            "tray": Placement(x=(-0.22, -0.12), y=(-0.06, 0.06), yaw=(np.pi - np.pi / 5, np.pi + np.pi / 5)),
            "cube_right": Placement(x=(-0.02, 0.22), y=(-0.32, -0.17), yaw=(-np.pi / 4, np.pi / 4)),
            "cube_left": Placement(x=(-0.02, 0.22), y=(0.17, 0.32), yaw=(-np.pi / 4, np.pi / 4)),
        },
    ),
    "D2": Layout(
        "tray beyond the cubes (near/far swapped)",
        {
            "tray": Placement(x=(0.05, 0.12), y=(-0.05, 0.05), yaw=(np.pi - np.pi / 6, np.pi + np.pi / 6)),
            "cube_right": Placement(x=(-0.22, -0.08), y=(-0.30, -0.17), yaw=(-np.pi / 4, np.pi / 4)),
            "cube_left": Placement(x=(-0.22, -0.08), y=(0.17, 0.30), yaw=(-np.pi / 4, np.pi / 4)),
        },
    ),
}


def _arm_subtasks(arm: str) -> tuple[Subtask, ...]:
    return (
        Subtask("grasp_cube", f"cube_{arm}", f"grasp_cube_{arm}"),
        Subtask("place_cube", "tray", f"cube_{arm}_on_tray", held=f"cube_{arm}"),
        Subtask("grasp_handle", "tray", f"grasp_tray_{arm}"),
        Subtask("lift", "tray", "tray_lifted"),
    )


class TrayLift(Task):
    name = "TrayLift"
    horizon = 750
    native_embodiment = "PandaDex"
    layouts = LAYOUTS
    objects = ("tray", "cube_right", "cube_left")
    object_variants = {"cube_right": CUBE_VARIANTS, "cube_left": CUBE_VARIANTS}
    task_spec = TaskSpec(
        subtasks={arm: _arm_subtasks(arm) for arm in ARMS},
        coordination=(Coordination({"right": "lift", "left": "lift"}, scheme="transform"),),
    )

    # ------------------------------------------------------------------ scene
    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        box = mujoco.mjtGeom.mjGEOM_BOX
        tray = mj_spec.worldbody.add_body(name="tray", pos=[0, 0, table_top_z])
        tray.add_freejoint(name="tray")
        wood = dict(rgba=[0.55, 0.36, 0.2, 1], friction=[1.0, 0.005, 0.0001], density=TRAY_DENSITY)
        geoms = [
            dict(type=box, size=[TRAY_HALF_X_M, TRAY_HALF_Y_M, TRAY_PLATE_HALF_Z_M], pos=[0, 0, TRAY_PLATE_HALF_Z_M]),
        ]
        rim_z = 2 * TRAY_PLATE_HALF_Z_M + TRAY_RIM_HEIGHT_M / 2
        for s in (-1, 1):  # low rims keep the cubes on the tray while it moves
            geoms.append(
                dict(
                    type=box,
                    size=[0.004, TRAY_HALF_Y_M, TRAY_RIM_HEIGHT_M / 2],
                    pos=[s * (TRAY_HALF_X_M - 0.004), 0, rim_z],
                )
            )
            geoms.append(
                dict(
                    type=box,
                    size=[TRAY_HALF_X_M, 0.004, TRAY_RIM_HEIGHT_M / 2],
                    pos=[0, s * (TRAY_HALF_Y_M - 0.004), rim_z],
                )
            )
        for g in geoms:
            tray.add_geom(**{**wood, **g})
        # Each handle is a bar sticking out of one end of the tray (along the tray's y), raised
        # on a post so fingers can wrap under it; it is a body of its own, rigidly part of the
        # tray, so a grasp of a handle can be told from a hand brushing the tray.
        bar_half_len = (HANDLE_END_Y_M - TRAY_HALF_Y_M) / 2
        for s, handle in ((-1, "handle_a"), (1, "handle_b")):
            body = tray.add_body(name=handle, pos=[0, s * HANDLE_Y_M, HANDLE_Z_M])
            body.add_geom(
                **wood,
                type=box,
                size=[0.012, 0.006, (HANDLE_Z_M - 0.012) / 2],
                pos=[0, s * (TRAY_HALF_Y_M + 0.006 - HANDLE_Y_M), -(HANDLE_Z_M - 0.012) / 2 + 0.002],
            )
            # A flat bar, not a round one: two hands on collinear round bars make a hinge the
            # tray swings about; flat faces against the fingers hold it level.
            body.add_geom(
                **{**wood, "rgba": [0.3, 0.2, 0.12, 1]},
                type=box,
                size=[HANDLE_HALF_WIDTH_M, bar_half_len, HANDLE_HALF_THICKNESS_M],
                pos=[0, s * ((TRAY_HALF_Y_M + HANDLE_END_Y_M) / 2 - HANDLE_Y_M), 0],
                condim=4,
            )
        for arm, rgba in (("right", [0.85, 0.2, 0.2, 1]), ("left", [0.2, 0.35, 0.85, 1])):
            cube = mj_spec.worldbody.add_body(name=f"cube_{arm}", pos=[0, 0, table_top_z + CUBE_HALF_M])
            cube.add_freejoint(name=f"cube_{arm}")
            cube.add_geom(type=box, size=[CUBE_HALF_M] * 3, rgba=rgba, mass=CUBE_MASS_KG, friction=[1.2, 0.005, 0.0001])

    def bind(self, model, data, embodiment, table_top_z) -> None:
        super().bind(model, data, embodiment, table_top_z)
        self._handle_ids = (model.body("handle_a").id, model.body("handle_b").id)

    def rest_height(self, name: str) -> float:
        return CUBE_HALF_M if name.startswith("cube") else 0.0

    # ------------------------------------------------------------------ success and signals
    def evaluate(self) -> TaskStatus:
        self.update_contacts()
        tray = self.body_ids["tray"]
        handles = self._handle_ids
        out: dict[str, bool] = {}
        cubes_ok = True
        for arm in ARMS:
            cube = self.body_ids[f"cube_{arm}"]
            on_tray = self.touching(cube, tray)
            out[f"grasp_cube_{arm}"] = self.is_grasped(arm, cube)
            # Placed: resting on the tray, let go of, and off the table.
            out[f"cube_{arm}_on_tray"] = (
                on_tray
                and not self.touched_by_hand(arm, cube)
                and self.height_above_table(f"cube_{arm}") > self.resting_height(f"cube_{arm}") + 0.005
            )
            out[f"grasp_tray_{arm}"] = any(self.is_grasped(arm, h) for h in handles)
            cubes_ok &= on_tray and self.height_above_table(f"cube_{arm}") > LIFT_HEIGHT_M
        out["tray_lifted"] = bool(cubes_ok and self.height_above_table("tray") > LIFT_HEIGHT_M)
        return TaskStatus(success=out["tray_lifted"], signals=out)

    def dense_reward(self, status: TaskStatus) -> float:
        signals = status.signals
        reward = 0.0
        for arm in ARMS:
            reward += 0.05 * signals[f"grasp_cube_{arm}"]
            reward += 0.15 * signals[f"cube_{arm}_on_tray"]
            reward += 0.1 * signals[f"grasp_tray_{arm}"]
        lift = np.clip(self.height_above_table("tray") / LIFT_HEIGHT_M, 0.0, 1.0)
        return float(reward + 0.4 * lift * (signals["grasp_tray_right"] and signals["grasp_tray_left"]))
