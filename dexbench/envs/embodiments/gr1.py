"""GR1: a Fourier GR-1 humanoid upper body (waist, head, two 7-DoF arms) on a fixed pelvis,
with a 6-actuator dexterous hand on each wrist.

Reference layout: the robot stands behind the table centre, table top 0.9 m. Control: one
damped least-squares IK over waist + both arms for the absolute EEF targets (the reference's
whole-body IK, with a posture cost that keeps the waist upright), then joint position servos.
Action: right pose (6) + left pose (6) + right hand (6) + left hand (6) = 24-D.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from dexbench.envs.controllers import DifferentialIKController
from dexbench.envs.embodiments.base import ARMS, Embodiment, find_ids
from dexbench.envs.embodiments.hands import DEX_HAND, Hand

XML = Path(__file__).resolve().parents[2] / "assets" / "robots" / "gr1_upper_body.xml"
BASE_POS_M = (-0.45, 0.0, 0.0)  # pelvis over this floor point, behind the table centre
PREFIX = "gr1_"  # names in the compiled model: gr1_<name in gr1_upper_body.xml>
WAIST_JOINTS = tuple(f"{PREFIX}waist_{j}" for j in ("yaw", "pitch", "roll"))
HEAD_JOINTS = tuple(f"{PREFIX}head_{j}" for j in ("roll", "pitch", "yaw"))
ARM_JOINT_SUFFIXES = (
    "shoulder_pitch",
    "shoulder_roll",
    "shoulder_yaw",
    "elbow_pitch",
    "wrist_yaw",
    "wrist_roll",
    "wrist_pitch",
)
# Home: waist upright, grasp frames 22 cm over the table at (-0.13, -+0.22) (table centre
# frame), palms down, fingers forward; high enough that an idle hand is not in the other's way.
HOME_ARM_QPOS = {
    "right": (-0.0093, -0.1032, 0.1029, -1.9377, 1.4601, 0.3627, 0.146),
    "left": (-0.0094, 0.1028, -0.1033, -1.9377, -1.4604, -0.3628, 0.1462),
}
HAND_OFFSET_M = (0.0, 0.05, 0.0)  # palm centre this far past the wrist flange, along the fingers
WAIST_POSTURE_WEIGHT = 0.5  # strong pull to upright (null space only)
ARM_POSTURE_WEIGHT = 0.02


class GR1(Embodiment):
    name = "GR1"
    hand: Hand = DEX_HAND
    default_action_mode = "absolute"
    table_height_m = 0.9

    def attach(self, mj_spec: mujoco.MjSpec) -> None:
        frame = mj_spec.worldbody.add_frame(pos=BASE_POS_M)
        frame.attach_body(mujoco.MjSpec.from_file(str(XML)).worldbody.first_body(), prefix=PREFIX)
        mj_spec.camera(f"{PREFIX}head").name = "head"
        for arm in ARMS:
            self.attach_hand(mj_spec, arm, f"{PREFIX}{arm}_hand_mount", pos=HAND_OFFSET_M)

    def arm_joint_names(self, arm: str) -> list[str]:
        return [f"{PREFIX}{arm}_{s}" for s in ARM_JOINT_SUFFIXES]

    def ik_joint_names(self) -> list[str]:
        return list(WAIST_JOINTS) + self.arm_joint_names("right") + self.arm_joint_names("left")

    def home_qpos(self) -> dict[str, float]:
        home = {j: 0.0 for j in WAIST_JOINTS}
        home.update({j: 0.0 for j in HEAD_JOINTS})
        for arm in ARMS:
            home.update(zip(self.arm_joint_names(arm), HOME_ARM_QPOS[arm]))
        return home

    def make_controller(self, model: mujoco.MjModel, data: mujoco.MjData) -> DifferentialIKController:
        names = self.ik_joint_names()
        home = self.home_qpos()
        weights = np.array([WAIST_POSTURE_WEIGHT] * len(WAIST_JOINTS) + [ARM_POSTURE_WEIGHT] * 14)
        return DifferentialIKController(
            model,
            data,
            site_ids=list(find_ids(model, mujoco.mjtObj.mjOBJ_SITE, [self.eef_site(a) for a in ARMS])),
            joint_ids=list(find_ids(model, mujoco.mjtObj.mjOBJ_JOINT, names)),
            actuator_ids=list(find_ids(model, mujoco.mjtObj.mjOBJ_ACTUATOR, names)),
            home_qpos=np.array([home[n] for n in names]),
            posture_weight=weights,
            gravity_dofs=model.jnt_dofadr[find_ids(model, mujoco.mjtObj.mjOBJ_JOINT, names + list(HEAD_JOINTS))],
        )
