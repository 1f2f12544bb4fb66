"""How the BC baseline represents actions for learning.

Absolute EEF rotations come as axis-angle vectors, and hands pointing down sit near the
180-degree wrap where the vector flips sign from one step to the next (measured on generated
GR1 Pouring demos: norms 3.07-3.20 rad, jumps of 5 rad between steps). A regressor averages
the two signs into garbage, so absolute rotations are learned in the continuous 6-D
representation (the first two columns of the rotation matrix; Zhou et al., CVPR 2019) and
turned back into axis-angle when the policy acts. Delta rotations are small and stay as they are.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def rotation_slots(action_layout: dict[str, slice], action_mode: str) -> list[tuple[int, int]]:
    """(start, stop) of the axis-angle part of every absolute pose slot (none in delta mode)."""
    if action_mode != "absolute":
        return []
    return [(s.start + 3, s.start + 6) for name, s in action_layout.items() if name.endswith("_pose")]


def encode(actions: np.ndarray, slots: list[tuple[int, int]]) -> np.ndarray:
    """(T, A) env actions -> (T, A + 3 len(slots)) learning targets."""
    if not slots:
        return actions
    parts, last = [], 0
    for start, stop in slots:
        parts.append(actions[:, last:start])
        mat = Rotation.from_rotvec(actions[:, start:stop].astype(np.float64)).as_matrix()
        parts.append(mat[:, :, :2].transpose(0, 2, 1).reshape(-1, 6).astype(actions.dtype))
        last = stop
    parts.append(actions[:, last:])
    return np.concatenate(parts, axis=1)


def decode(encoded: np.ndarray, slots: list[tuple[int, int]]) -> np.ndarray:
    """One learned (A + 3 len(slots),) vector -> an env action (A,)."""
    if not slots:
        return encoded
    parts, pos = [], 0
    last = 0
    for start, stop in slots:
        parts.append(encoded[pos : pos + start - last])
        pos += start - last
        a, b = encoded[pos : pos + 3], encoded[pos + 3 : pos + 6]
        x = a / max(np.linalg.norm(a), 1e-8)  # Gram-Schmidt back onto a rotation
        y = b - x * (x @ b)
        y /= max(np.linalg.norm(y), 1e-8)
        parts.append(Rotation.from_matrix(np.column_stack([x, y, np.cross(x, y)])).as_rotvec())
        pos += 6
        last = stop
    parts.append(encoded[pos:])
    return np.concatenate(parts)
