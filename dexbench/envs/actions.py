"""How an action drives the robot: its layout, its range and the EEF target poses it asks for.

An action is, per arm, a pose slot of 6 numbers (position and axis-angle) and a hand slot of the
hand's command size, right arm first: `[right_pose, left_pose, right_hand, left_hand]`. In
`delta` mode a pose slot moves the EEF target from where the EEF is now (1 = 5 cm or 0.5 rad,
the reference's scale); in `absolute` mode it is the target itself (metres in the world frame,
axis-angle in radians). `PoseActions` is the env's side of this (DexEnv inherits it): checking
an action, turning it into targets for the controller, and the inverse that demonstrators and
generators use (`target_pose_to_action`).
"""

from __future__ import annotations

import mujoco
import numpy as np
from gymnasium import spaces
from scipy.spatial.transform import Rotation

from dexbench.envs.embodiments.base import ARMS
from dexbench.envs.tasks.base import pose_matrix

DELTA_POS_SCALE_M = 0.05  # a delta action of 1 moves the target 5 cm (reference)
DELTA_ROT_SCALE_RAD = 0.5  # ... or turns it 0.5 rad
# A pose action of 1 in metres / radians (the delta-action scale): what one unit of a pose
# action means in either action mode, for noise and corrections given in action units.
POSE_ACTION_UNIT = np.repeat((DELTA_POS_SCALE_M, DELTA_ROT_SCALE_RAD), 3)
POSE_DIM = 6  # position (3) + axis-angle (3) per arm
_EYE3 = np.eye(3)


class PoseActions:
    """The action side of an env: needs `action_mode`, `hand_dim`, `action_layout`,
    `action_space`, `data` and `_site_ids` (the EEF sites) from the env it is mixed into."""

    def _make_action_layout(self) -> dict[str, slice]:
        layout, start = {}, 0
        for arm in ARMS:
            layout[f"{arm}_pose"] = slice(start, start + POSE_DIM)
            start += POSE_DIM
        for arm in ARMS:
            layout[f"{arm}_hand"] = slice(start, start + self.hand_dim)
            start += self.hand_dim
        return layout

    def _make_action_space(self) -> spaces.Box:
        dim = 2 * (POSE_DIM + self.hand_dim)
        low, high = -np.ones(dim), np.ones(dim)
        if self.action_mode == "absolute":  # metres in the world frame, axis-angle in radians
            for arm in ARMS:
                s = self.action_layout[f"{arm}_pose"]
                low[s] = (-2.0, -2.0, 0.0, -np.pi, -np.pi, -np.pi)
                high[s] = (2.0, 2.0, 3.0, np.pi, np.pi, np.pi)
        return spaces.Box(low=low.astype(np.float32), high=high.astype(np.float32), dtype=np.float32)

    def _check_action(self, action) -> np.ndarray:
        if np.iscomplexobj(action):
            raise ValueError("action is complex; pass real numbers")
        try:
            action = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"action must be an array of {self.action_space.shape[0]} numbers, got a {type(action).__name__}"
            ) from None
        expected = self.action_space.shape
        if action.shape != expected:
            raise ValueError(
                f"action has shape {action.shape}, expected {expected}: "
                f"{', '.join(f'{k} [{s.start}:{s.stop}]' for k, s in self.action_layout.items())}"
            )
        if not np.all(np.isfinite(action)):
            bad = []  # named by the action layout; a component bad throughout as one entry
            for name, sl in self.action_layout.items():
                part = ~np.isfinite(action[sl])
                if part.all():
                    bad.append(f"{name} (all {part.size})")
                else:
                    bad += [f"{name}[{i}]" for i in np.flatnonzero(part)]
            raise ValueError(
                f"action has non-finite entries (NaN or inf) in {', '.join(bad)}; pass finite "
                f"numbers (layout: "
                f"{', '.join(f'{k} [{s.start}:{s.stop}]' for k, s in self.action_layout.items())})"
            )
        return clip(action, self.action_space.low, self.action_space.high)

    def _action_to_targets(self, action: np.ndarray):
        pos = np.empty((2, 3))
        rot = np.empty((2, 3, 3))
        d = self.data
        for i, arm in enumerate(ARMS):
            a = action[self.action_layout[f"{arm}_pose"]]
            if self.action_mode == "delta":
                sid = self._site_ids[i]
                pos[i] = d.site_xpos[sid] + a[:3] * DELTA_POS_SCALE_M
                rot[i] = _rotvec_to_matrix(a[3:] * DELTA_ROT_SCALE_RAD) @ d.site_xmat[sid].reshape(3, 3)
            else:
                pos[i] = a[:3]
                rot[i] = _rotvec_to_matrix(a[3:])
        hand = [action[self.action_layout[f"{arm}_hand"]] for arm in ARMS]
        return pos, rot, hand

    def action_to_target_pose(self, action) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The world EEF target poses (4x4 per arm) and hand commands an action asks for, from
        the current state (delta actions are relative to the current EEF pose)."""
        pos, rot, hand = self._action_to_targets(np.asarray(action, dtype=np.float64))
        targets = {arm: pose_matrix(pos[i], rot[i]) for i, arm in enumerate(ARMS)}
        return targets, {arm: np.asarray(h).copy() for arm, h in zip(ARMS, hand)}

    def target_pose_to_action(self, targets: dict[str, np.ndarray], hand: dict[str, np.ndarray]) -> np.ndarray:
        """The action that drives each arm toward a world EEF target pose (4x4) from the current
        state; delta actions are clipped to the action range, as the reference does."""
        targets, hand = self._check_targets(targets, hand)
        action = np.zeros(self.action_space.shape, dtype=np.float64)
        d = self.data
        rel = np.empty((len(ARMS), 3, 3))  # the rotation each arm's pose slot encodes
        for i, arm in enumerate(ARMS):
            rel[i] = targets[arm][:3, :3]
            if self.action_mode == "delta":
                rel[i] = rel[i] @ d.site_xmat[self._site_ids[i]].reshape(3, 3).T
        rotvecs = Rotation.from_matrix(rel).as_rotvec()  # one call for both arms: scipy's cost is per call
        for i, arm in enumerate(ARMS):
            target = targets[arm]
            s = self.action_layout[f"{arm}_pose"]
            if self.action_mode == "delta":
                dpos = (target[:3, 3] - d.site_xpos[self._site_ids[i]]) / DELTA_POS_SCALE_M
                action[s] = np.concatenate([dpos, rotvecs[i] / DELTA_ROT_SCALE_RAD])
            else:
                action[s] = np.concatenate([target[:3, 3], rotvecs[i]])
            action[self.action_layout[f"{arm}_hand"]] = hand[arm]
        return clip(action, self.action_space.low, self.action_space.high).astype(np.float32)

    def _check_targets(self, targets, hand) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Both arms' targets as finite 4x4 poses with a rotation part, and both hand commands
        of this hand's size; anything else is refused with what was expected."""
        out_targets, out_hand = {}, {}
        for arm in ARMS:
            try:
                target = np.asarray(targets[arm], dtype=np.float64)
                command = np.asarray(hand[arm], dtype=np.float64)
            except (KeyError, TypeError, ValueError, IndexError):
                raise ValueError(
                    f"targets and hand must map each arm {ARMS} to a 4x4 pose and a hand command of "
                    f"{self.hand_dim} numbers"
                ) from None
            if target.shape != (4, 4) or not np.all(np.isfinite(target)):
                raise ValueError(f"the {arm} target must be a finite 4x4 pose, got shape {target.shape}")
            rot = target[:3, :3]
            if np.abs(rot @ rot.T - _EYE3).max() > 1e-4 or np.linalg.det(rot) < 0:
                raise ValueError(f"the {arm} target's 3x3 part is not a rotation (orthonormal, det +1)")
            if command.shape != (self.hand_dim,) or not np.all(np.isfinite(command)):
                raise ValueError(
                    f"the {arm} hand command must be {self.hand_dim} finite numbers, got shape {command.shape}"
                )
            out_targets[arm], out_hand[arm] = target, command
        return out_targets, out_hand


def clip(x, low, high):
    """`np.clip`, the same numbers (NaN included) at a third of its cost on the step's small arrays."""
    return np.minimum(np.maximum(x, low), high)


def _rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle -> rotation matrix (MuJoCo's own routines: the env step's hot path)."""
    quat = np.empty(4)
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    mujoco.mju_axisAngle2Quat(quat, rotvec / angle, angle)
    mat = np.empty(9)
    mujoco.mju_quat2Mat(mat, quat)
    return mat.reshape(3, 3)
