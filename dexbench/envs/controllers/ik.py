"""Damped least-squares inverse kinematics of absolute EEF targets within joint limits, then
joint position servos.

Used for the GR1 humanoid: both arms and the waist form one kinematic tree, so the IK solves
for all of them at once (the reference's whole-body IK). A posture term in the null space keeps
the waist upright and the arms near home. The physics then runs in one `mj_step(nstep=n)` call:
the position servos are MuJoCo actuators, so no Python runs per physics step.
"""

from __future__ import annotations

import mujoco
import numpy as np


class DifferentialIKController:
    """Solve IK once per control step; joint position actuators track the solution."""

    def __init__(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        site_ids: list[int],
        joint_ids: list[int],
        actuator_ids: list[int],
        home_qpos: np.ndarray,
        gravity_dofs: np.ndarray | None = None,
        posture_weight: np.ndarray | None = None,
        damping: float = 0.05,
        iterations: int = 4,
        max_step_rad: float = 0.2,
    ) -> None:
        self.model, self.data = model, data
        self.scratch = mujoco.MjData(model)
        self.site_ids = list(site_ids)
        self.qpos_adr = model.jnt_qposadr[joint_ids].astype(np.int64)
        self.dof_adr = model.jnt_dofadr[joint_ids].astype(np.int64)
        self.actuator_ids = np.asarray(actuator_ids, dtype=np.int64)
        # Degrees of freedom whose weight is fed forward (default: the IK's own joints).
        self.gravity_dofs = self.dof_adr if gravity_dofs is None else np.asarray(gravity_dofs, dtype=np.int64)
        self.lower = model.jnt_range[joint_ids, 0].copy()
        self.upper = model.jnt_range[joint_ids, 1].copy()
        self.home_qpos = np.asarray(home_qpos, dtype=np.float64)
        n = len(joint_ids)
        self.posture_weight = np.ones(n) if posture_weight is None else np.asarray(posture_weight)
        self.damping, self.iterations, self.max_step_rad = damping, iterations, max_step_rad
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._J = np.zeros((6 * len(site_ids), n))
        self._err = np.zeros(6 * len(site_ids))
        rows = 6 * len(site_ids)
        self._posture_sqrt = 0.05 * np.sqrt(self.posture_weight)  # a tie-breaker, not a rival task
        self._A = np.vstack([np.zeros((rows, n)), damping * np.eye(n), np.diag(self._posture_sqrt)])
        self._b = np.zeros(rows + 2 * n)
        self.q_target = self.home_qpos.copy()
        self.target_pos = np.zeros((len(site_ids), 3))
        self.target_rot = np.tile(np.eye(3), (len(site_ids), 1, 1))

    def reset(self) -> None:
        self._feed_forward_gravity()
        self.q_target = self.data.qpos[self.qpos_adr].copy()
        for i, sid in enumerate(self.site_ids):
            self.target_pos[i] = self.data.site_xpos[sid]
            self.target_rot[i] = self.data.site_xmat[sid].reshape(3, 3)
        self.data.ctrl[self.actuator_ids] = self.q_target

    def restore(self) -> None:
        # The joint targets are the position servos' ctrl, which is part of the physics state.
        self.q_target = self.data.ctrl[self.actuator_ids].copy()
        for i, sid in enumerate(self.site_ids):
            self.target_pos[i] = self.data.site_xpos[sid]
            self.target_rot[i] = self.data.site_xmat[sid].reshape(3, 3)

    def set_targets(self, pos: np.ndarray, rot: np.ndarray) -> None:
        self.target_pos[:] = pos
        self.target_rot[:] = rot
        self.q_target = self.solve(self.q_target)
        self.data.ctrl[self.actuator_ids] = self.q_target
        self._feed_forward_gravity()

    def _feed_forward_gravity(self) -> None:
        """Hold the robot's weight with an applied force, refreshed every control step, so the
        servos only correct errors (stiff servos alone would sag by ~0.01 rad)."""
        self.data.qfrc_applied[self.gravity_dofs] = self.data.qfrc_bias[self.gravity_dofs]

    def step(self, nsteps: int) -> None:
        mujoco.mj_step(self.model, self.data, nsteps)

    def solve(self, q0: np.ndarray) -> np.ndarray:
        """A few damped least-squares iterations from `q0` toward the current targets."""
        m, s = self.model, self.scratch
        s.qpos[:] = self.data.qpos
        q = q0.copy()
        J, err, n = self._J, self._err, len(q0)
        for _ in range(self.iterations):
            s.qpos[self.qpos_adr] = q
            mujoco.mj_kinematics(m, s)
            mujoco.mj_comPos(m, s)
            for i, sid in enumerate(self.site_ids):
                mujoco.mj_jacSite(m, s, self._jacp, self._jacr, sid)
                J[6 * i : 6 * i + 3] = self._jacp[:, self.dof_adr]
                J[6 * i + 3 : 6 * i + 6] = self._jacr[:, self.dof_adr]
                err[6 * i : 6 * i + 3] = self.target_pos[i] - s.site_xpos[sid]
                cur = s.site_xmat[sid].reshape(3, 3)
                err[6 * i + 3 : 6 * i + 6] = 0.5 * np.cross(cur.T, self.target_rot[i].T).sum(axis=0)
            # min |J dq - e|^2 + damping^2 |dq|^2 + |W (q_home - q - dq)|^2 within the joint
            # limits (and a step bound): a small bounded least-squares problem. The bounds let
            # the solver use other joints (e.g. the waist) when one is at its limit, where
            # clipping a free solution would just stall.
            self._A[: len(err)] = J
            self._b[: len(err)] = err
            self._b[len(err) + n :] = self._posture_sqrt * (self.home_qpos - q)
            lo = np.maximum(self.lower - q, -self.max_step_rad)
            hi = np.minimum(self.upper - q, self.max_step_rad)
            dq = _bounded_least_squares(self._A, self._b, lo, np.maximum(hi, lo))
            q = np.clip(q + dq, self.lower, self.upper)
        return q


def _bounded_least_squares(A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, passes: int = 4) -> np.ndarray:
    """min |A x - b|^2 subject to lo <= x <= hi, by clamping: solve, fix the variables that
    leave their bounds at the bound, solve again for the rest. Exact when the active set
    settles (almost always within 2 passes for IK steps), and far cheaper than a QP solver."""
    x = np.zeros(A.shape[1])
    free = np.ones(A.shape[1], dtype=bool)
    for _ in range(passes):
        Af = A[:, free]
        rhs = b - A[:, ~free] @ x[~free]
        x[free] = np.linalg.solve(Af.T @ Af, Af.T @ rhs)
        out = free & ((x < lo) | (x > hi))
        if not out.any():
            break
        x = np.clip(x, lo, hi)
        free &= ~out
        if not free.any():
            break
    return np.clip(x, lo, hi)
