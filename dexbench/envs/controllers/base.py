"""The contract between the env and an arm controller."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class ArmController(Protocol):
    """Drives both arms toward world-frame EEF pose targets while stepping the physics.

    Arms are in the reference order (right, left). The env writes the hand actuators' ctrl
    itself before calling `step`; a controller owns only its arm (and torso) actuators.
    """

    def reset(self) -> None:
        """Start a new episode: hold the current pose (home posture just written to qpos)."""

    def restore(self) -> None:
        """Resume after `mj_setState`: rebuild internal state from the physics state alone."""

    def set_targets(self, pos: np.ndarray, rot: np.ndarray) -> None:
        """Set targets: positions (2, 3) in metres, rotation matrices (2, 3, 3), world frame."""

    def step(self, nsteps: int) -> None:
        """Advance the physics by `nsteps` steps, applying control at every step."""
