"""What every embodiment provides: how it attaches to the scene, its home pose, its controller."""

from __future__ import annotations

import abc
from typing import ClassVar

import mujoco
import numpy as np

from dexbench.envs.controllers import ArmController
from dexbench.envs.embodiments.hands import Hand

ARMS: tuple[str, str] = ("right", "left")  # the reference order, in actions and datasets


class Embodiment(abc.ABC):
    """A two-armed robot with a hand on each arm.

    Names in the compiled model follow one convention so the env and tasks never special-case a
    robot: the canonical grasp frame of each arm is the site `<arm>_grip` (z = approach,
    y = closing axis), hand bodies are `<arm>_<hand body>`.
    """

    name: ClassVar[str]
    hand: ClassVar[Hand]
    default_action_mode: ClassVar[str]  # "delta" (Panda OSC) or "absolute" (GR1 IK)
    table_height_m: ClassVar[float]  # table top height the robot stands at

    @abc.abstractmethod
    def attach(self, mj_spec: mujoco.MjSpec) -> None:
        """Add the robot (arms, hands, cameras, actuators) to `mj_spec`'s world body."""

    @abc.abstractmethod
    def arm_joint_names(self, arm: str) -> list[str]:
        """The joints of one arm, base to wrist (proprioception)."""

    @abc.abstractmethod
    def home_qpos(self) -> dict[str, float]:
        """Joint name -> angle (rad) of the home posture every episode starts from."""

    @abc.abstractmethod
    def make_controller(self, model: mujoco.MjModel, data: mujoco.MjData) -> ArmController:
        """The arm controller for a compiled model that contains this embodiment."""

    def eef_site(self, arm: str) -> str:
        return f"{arm}_grip"

    def attach_hand(
        self,
        mj_spec: mujoco.MjSpec,
        arm: str,
        mount_site: str,
        pos: tuple[float, float, float] = (0, 0, 0),
        quat: tuple[float, float, float, float] = (1, 0, 0, 0),
    ) -> None:
        """Attach this embodiment's hand at a mount site (offset by pos/quat in the site frame)."""
        site = mj_spec.site(mount_site)
        if site.alt.type != mujoco.mjtOrientation.mjORIENTATION_QUAT:
            raise ValueError(f"mount site {mount_site!r} must give its orientation as a quat")
        frame = site.parent.add_frame(pos=site.pos, quat=site.quat)
        inner = frame.add_frame(pos=pos, quat=quat)
        # The hand's own camera `wrist` becomes `<arm>_wrist`.
        inner.attach_body(self.hand.load().worldbody.first_body(), prefix=f"{arm}_")


def find_ids(model: mujoco.MjModel, obj: mujoco.mjtObj, names: list[str]) -> np.ndarray:
    """Ids of named model elements, with an error that names the missing one."""
    ids = []
    for name in names:
        i = mujoco.mj_name2id(model, obj, name)
        if i < 0:
            raise KeyError(f"model has no {obj.name[6:].lower()} named {name!r}")
        ids.append(i)
    return np.asarray(ids, dtype=np.int64)
