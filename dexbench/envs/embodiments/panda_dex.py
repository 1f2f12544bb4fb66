"""PandaDex: the two Panda arms of `Panda` with 6-actuator dexterous hands (Inspire-like).

The hand is mounted palm-out on the flange (palm normal along the flange axis), so the arm
reaches a top-down grasp exactly as with the gripper. Action per arm: 6 (pose) + 6 (hand).
"""

from __future__ import annotations

from dexbench.envs.embodiments.hands import DEX_HAND, Hand
from dexbench.envs.embodiments.panda import Panda


class PandaDex(Panda):
    name = "PandaDex"
    hand: Hand = DEX_HAND
