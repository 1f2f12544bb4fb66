"""Source demos cut into per-arm, object-centric subtask segments (the DexMimicGen parsing).

Each arm's subtask j ends on the first 0 -> 1 edge of its term signal after the previous
subtask's end; the last subtask ends with the demo. Subtasks of a coordination group are forced
to end on the same step (the later of the arms' ends), so the group can be executed in sync.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexbench.envs.tasks.base import TaskSpec

IDLE_KEEP_STEPS = 5  # a segment's leading pause is cut down to this many steps


@dataclass(frozen=True)
class Segment:
    """One arm's motion for one subtask of one source demo, in the source's world frame."""

    source: int  # index of the source demo
    arm: str
    subtask: int  # index into the arm's subtask list
    start: int  # first step (inclusive)
    end: int  # last step + 1
    target_poses: np.ndarray  # (L, 4, 4) the controller targets the source commanded
    hand_actions: np.ndarray  # (L, k)
    object_pose: np.ndarray | None  # (4, 4) pose of the subtask's reference object at `start`

    def __len__(self) -> int:
        return self.end - self.start


@dataclass
class SourceDemo:
    """A parsed source demo: its per-step datagen info and each arm's subtask boundaries."""

    index: int
    key: str
    target_pose: dict[str, np.ndarray]  # arm -> (T, 4, 4)
    hand_action: dict[str, np.ndarray]  # arm -> (T, k)
    object_pose: dict[str, np.ndarray]  # object -> (T, 4, 4)
    ends: dict[str, list[int]]  # arm -> end step of each subtask (exclusive)

    @property
    def length(self) -> int:
        return len(next(iter(self.target_pose.values())))

    def boundaries(self, arm: str, offsets: list[int] | None = None) -> list[tuple[int, int]]:
        """(start, end) of every subtask of `arm`, with ends of non-final subtasks pushed later
        by `offsets` (randomised subtask-end offsets), kept in order and inside the demo."""
        ends = list(self.ends[arm])
        if offsets is not None:
            for j in range(len(ends) - 1):
                ends[j] = min(ends[j] + offsets[j], ends[j + 1] - 1)
        starts = [0] + ends[:-1]
        return list(zip(starts, ends))

    def segment(self, arm: str, subtask: int, object_ref: str | None, bounds: tuple[int, int]) -> Segment:
        start, end = bounds
        start += self._idle_prefix(arm, start, end)
        if end == self.length:  # an arm's last segment: drop its idle tail too (it only waited)
            end -= self._idle_prefix(arm, start, end, reverse=True)
        return Segment(
            source=self.index, arm=arm, subtask=subtask, start=start, end=end,
            target_poses=self.target_pose[arm][start:end],
            hand_actions=self.hand_action[arm][start:end],
            object_pose=None if object_ref is None else self.object_pose[object_ref][start],
        )


    def _idle_prefix(self, arm: str, start: int, end: int, keep: int = IDLE_KEEP_STEPS,
                     reverse: bool = False) -> int:
        """Steps to skip at a segment's start (or end) where the source arm only waited (e.g.
        for the other arm in a sequential task): generation schedules its own waits. A short
        pause (`keep` steps) stays, since it may let a grasp settle."""
        poses, hands = self.target_pose[arm][start:end], self.hand_action[arm][start:end]
        if reverse:
            poses, hands = poses[::-1], hands[::-1]
        moved = (np.linalg.norm(poses[:, :3, 3] - poses[0, :3, 3], axis=1) > 1e-3) \
            | (np.abs(poses[:, :3, :3] - poses[0, :3, :3]).max(axis=(1, 2)) > 1e-2) \
            | (np.abs(hands - hands[0]).max(axis=1) > 1e-2)
        first_move = int(np.argmax(moved)) if moved.any() else len(poses) - 1
        return max(0, first_move - keep)


class SegmentationError(ValueError):
    pass


def parse_source(index: int, key: str, datagen_info: dict, spec: TaskSpec) -> SourceDemo:
    """Cut one source demo (its `datagen_info` from the dataset) into subtask boundaries."""
    signals = datagen_info["subtask_signals"]
    length = len(next(iter(datagen_info["target_pose"].values())))
    ends: dict[str, list[int]] = {}
    for arm, subtasks in spec.subtasks.items():
        arm_ends, previous = [], 0
        for j, sub in enumerate(subtasks):
            if j == len(subtasks) - 1:
                arm_ends.append(length)
                break
            if sub.term_signal not in signals:
                raise SegmentationError(f"source {key} has no signal {sub.term_signal!r} (task spec of {arm})")
            fired = np.flatnonzero(np.asarray(signals[sub.term_signal])[previous:])
            if fired.size == 0:
                raise SegmentationError(f"source {key}: {arm} subtask {sub.name!r} never ends "
                                        f"({sub.term_signal} never turns true after step {previous})")
            # Signals are recorded after the step: subtask j's last action is the firing step.
            end = previous + int(fired[0]) + 1
            arm_ends.append(end)
            previous = end
        ends[arm] = arm_ends
    for group in spec.coordination:
        idx = {arm: [s.name for s in spec.subtasks[arm]].index(name) for arm, name in group.subtasks.items()}
        common = max(ends[arm][j] for arm, j in idx.items())
        for arm, j in idx.items():
            ends[arm][j] = common
    return SourceDemo(
        index=index, key=key,
        target_pose=dict(datagen_info["target_pose"]),
        hand_action=dict(datagen_info["hand_action"]),
        object_pose=dict(datagen_info["object_pose"]),
        ends=ends,
    )


def object_centric(segment: Segment, object_now: np.ndarray | None) -> np.ndarray:
    """The segment's targets carried to the object's current pose:
    new = T_obj_now @ inv(T_obj_src) @ T_eef_src (identity when there is no reference object)."""
    if segment.object_pose is None or object_now is None:
        return segment.target_poses.copy()
    transform = object_now @ np.linalg.inv(segment.object_pose)
    return transform @ segment.target_poses


def translated_only(segment: Segment, object_now: np.ndarray | None) -> np.ndarray:
    """The "translate" scheme: carry the segment by the object's position change only."""
    out = segment.target_poses.copy()
    if segment.object_pose is not None and object_now is not None:
        out[:, :3, 3] += object_now[:3, 3] - segment.object_pose[:3, 3]
    return out
