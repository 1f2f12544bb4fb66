"""Arm controllers: turn per-arm EEF pose targets into actuator commands at the physics rate."""

from dexbench.envs.controllers.base import ArmController
from dexbench.envs.controllers.ik import DifferentialIKController
from dexbench.envs.controllers.osc import OperationalSpaceController

__all__ = ["ArmController", "DifferentialIKController", "OperationalSpaceController"]
