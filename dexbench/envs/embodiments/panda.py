"""Panda: two Franka Panda arms side by side facing the table, parallel-jaw grippers.

Reference layout: bases at y = -0.25 (right) and +0.25 (left), at the table's near edge, table
top 0.8 m. Control: operational-space control of a delta EEF pose (kp 150, critically damped),
torques at the physics rate. Action per arm: 6 (pose) + 1 (gripper).
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from dexbench.envs.controllers import OperationalSpaceController
from dexbench.envs.embodiments.base import ARMS, Embodiment, find_ids
from dexbench.envs.embodiments.hands import PANDA_GRIPPER, Hand

ARM_XML = Path(__file__).resolve().parents[2] / "assets" / "robots" / "panda_arm.xml"
BASE_X_M = -0.5  # base centre, 10 cm off the table's near edge (table centre at x = 0)
BASE_ABOVE_TABLE_M = 0.05  # on a 5 cm riser: the whole table top, near edge included, is in reach
BASE_Y_M = {"right": -0.25, "left": 0.25}
# The Franka "ready" posture: EEF ~0.3 m in front of the base, pointing down.
HOME_ARM_QPOS = (0.0, -0.4, 0.0, -2.3, 0.0, 1.9, 0.785398)
OSC_KP = 150.0


class Panda(Embodiment):
    name = "Panda"
    hand: Hand = PANDA_GRIPPER
    default_action_mode = "delta"
    table_height_m = 0.8

    def attach(self, mj_spec: mujoco.MjSpec) -> None:
        for arm in ARMS:
            base = (BASE_X_M, BASE_Y_M[arm], self.table_height_m + BASE_ABOVE_TABLE_M)
            mj_spec.worldbody.add_geom(  # pedestal under the arm
                name=f"{arm}_pedestal",
                type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                size=[0.09, base[2] / 2, 0],
                pos=[base[0] - 0.03, base[1], base[2] / 2],
                rgba=[0.3, 0.3, 0.32, 1],
                contype=0,
                conaffinity=0,
            )
            frame = mj_spec.worldbody.add_frame(pos=base)
            frame.attach_body(mujoco.MjSpec.from_file(str(ARM_XML)).worldbody.first_body(), prefix=f"{arm}_panda_")
            self.attach_hand(mj_spec, arm, f"{arm}_panda_hand_mount", quat=self.hand.flange_quat)

    def arm_joint_names(self, arm: str) -> list[str]:
        # "<arm>_panda_": the arm's own prefix, distinct from the hand's "<arm>_", so the two
        # files' default classes stay distinct and the saved model XML reloads.
        return [f"{arm}_panda_joint{i}" for i in range(1, 8)]

    def home_qpos(self) -> dict[str, float]:
        return {name: q for arm in ARMS for name, q in zip(self.arm_joint_names(arm), HOME_ARM_QPOS)}

    def make_controller(self, model: mujoco.MjModel, data: mujoco.MjData) -> OperationalSpaceController:
        dof_starts, act_starts = [], []
        for arm in ARMS:
            joints = find_ids(model, mujoco.mjtObj.mjOBJ_JOINT, self.arm_joint_names(arm))
            acts = find_ids(model, mujoco.mjtObj.mjOBJ_ACTUATOR, self.arm_joint_names(arm))
            dofs = model.jnt_dofadr[joints]
            assert np.all(np.diff(dofs) == 1) and np.all(np.diff(acts) == 1), "arm not contiguous"
            dof_starts.append(int(dofs[0]))
            act_starts.append(int(acts[0]))
        sites = list(find_ids(model, mujoco.mjtObj.mjOBJ_SITE, [self.eef_site(a) for a in ARMS]))
        return OperationalSpaceController(
            model,
            data,
            sites,
            dof_starts,
            act_starts,
            home_qpos=np.tile(HOME_ARM_QPOS, 2),
            kp=OSC_KP,
        )
