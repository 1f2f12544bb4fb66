"""End effectors shared by the embodiments: the Franka parallel-jaw gripper and the 6-DoF hand.

A hand maps the user's normalised command (each entry in [-1, 1]; -1 open, +1 closed) onto
the position targets of its coupled joints, and names the geoms on each side of its grasp so
tasks can tell whether an object is held.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@dataclass(frozen=True)
class Hand:
    """A gripper or dexterous hand model and how its command drives its actuators."""

    name: str
    xml: Path
    command_names: tuple[str, ...]
    # actuator name -> index of the command entry that drives it (the reference copies the
    # command onto the coupled joints instead of using equality constraints).
    actuator_command: dict[str, int]
    # Bodies whose geoms count as the two opposing sides of a grasp.
    side_a_bodies: tuple[str, ...]
    side_b_bodies: tuple[str, ...]
    open_command: tuple[float, ...]
    closed_command: tuple[float, ...]
    # Open but ready to close around an object approached from the side (thumb opposed).
    preshape_command: tuple[float, ...]
    # True where a joint's low ctrl value is the closed one (the gripper's fingers slide in).
    closed_is_low: bool = False
    # What demonstrators and tasks ask of a hand, instead of its name:
    # fingers: 2 for parallel jaws, 5 for a hand. Multi-finger hands grasp with palm and thumb
    # against the fingers, push with a fist, and spread wide when open.
    fingers: int = 2
    # Finger links touching an object that hold it without thumb or palm (a bar hanging on
    # curled fingers); 0: the hand cannot hook, only pinch.
    hook_grasp_links: int = 0
    # The hand's turn about the flange axis when mounted on a Franka flange (w, x, y, z).
    flange_quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)

    @property
    def multi_finger(self) -> bool:
        return self.fingers > 2

    @property
    def dim(self) -> int:
        return len(self.command_names)

    def load(self) -> mujoco.MjSpec:
        return mujoco.MjSpec.from_file(str(self.xml))

    def coupling(self, model: mujoco.MjModel, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (actuator ids, command index per actuator, ctrl at open/closed (n, 2)).

        The env turns a command c in [-1, 1] into ctrl = open + (closed - open) * (c + 1) / 2.
        """
        ids = np.array([model.actuator(prefix + name).id for name in self.actuator_command], dtype=np.int64)
        which = np.array(list(self.actuator_command.values()), dtype=np.int64)
        open_closed = model.actuator_ctrlrange[ids].copy()
        if self.closed_is_low:
            open_closed = open_closed[:, ::-1].copy()
        return ids, which, open_closed


PANDA_GRIPPER = Hand(
    name="panda_gripper",
    xml=ASSETS / "grippers" / "panda_gripper.xml",
    command_names=("gripper",),
    actuator_command={"finger_left": 0, "finger_right": 0},
    side_a_bodies=("finger_left",),
    side_b_bodies=("finger_right",),
    open_command=(-1.0,),
    closed_command=(1.0,),
    preshape_command=(-1.0,),
    closed_is_low=True,
)

DEX_HAND = Hand(
    name="dex_hand",
    xml=ASSETS / "hands" / "dex_hand.xml",
    command_names=("thumb_yaw", "thumb_pitch", "index", "middle", "ring", "little"),
    actuator_command={
        "thumb_yaw": 0,
        "thumb_pitch": 1,
        "thumb_intermediate": 1,
        "thumb_distal": 1,
        "index_proximal": 2,
        "index_intermediate": 2,
        "middle_proximal": 3,
        "middle_intermediate": 3,
        "ring_proximal": 4,
        "ring_intermediate": 4,
        "little_proximal": 5,
        "little_intermediate": 5,
    },
    side_a_bodies=("palm", "thumb_yaw", "thumb_proximal", "thumb_intermediate", "thumb_distal"),
    side_b_bodies=(
        "index_proximal",
        "index_intermediate",
        "middle_proximal",
        "middle_intermediate",
        "ring_proximal",
        "ring_intermediate",
        "little_proximal",
        "little_intermediate",
    ),
    # Open: thumb folded along the palm so it clears the object on the way down.
    open_command=(-1.0, -1.0, -1.0, -1.0, -1.0, -1.0),
    closed_command=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    preshape_command=(1.0, -1.0, -1.0, -1.0, -1.0, -1.0),
    fingers=5,
    hook_grasp_links=3,
    # Turned -45 deg about the flange axis, as the Franka Hand sits, so the palm faces the
    # way the gripper's jaws would.
    flange_quat=(0.9238795, 0.0, 0.0, -0.3826834),
)
