"""Source demos cut into per-arm, object-centric subtask segments (the DexMimicGen parsing).

Each arm's subtask j ends on the first 0 -> 1 edge of its term signal after the previous
subtask's end; the last subtask ends with the demo. A coordination group's subtasks are synced
at one step, the later of the arms' signal edges: generation executes that step on the same
control step for every arm. Arms whose group subtask is not their last also end there; an arm
whose last subtask it is runs on after it to the demo's end (moving aside, while the other arm
goes on with its next subtask).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexbench.envs.tasks.base import TaskSpec

IDLE_KEEP_STEPS = 5  # a segment's leading pause, or a wait for another arm, is cut to this many steps


@dataclass(frozen=True)
class Segment:
    """One arm's motion for one subtask of one source demo, in the source's world frame."""

    source: int  # index of the source demo
    arm: str
    subtask: int  # index into the arm's subtask list
    steps: np.ndarray  # (L,) the source step of each pose (a cut wait leaves a gap)
    target_poses: np.ndarray  # (L, 4, 4) the controller targets the source commanded
    hand_actions: np.ndarray  # (L, k)
    object_pose: np.ndarray | None  # (4, 4) pose of the subtask's reference object that carries the
    # segment: at its first step, where a sequential wait ended, or where its coordination group began

    def __len__(self) -> int:
        return len(self.target_poses)


@dataclass
class SourceDemo:
    """A parsed source demo: its per-step datagen info and each arm's subtask boundaries."""

    index: int
    key: str
    target_pose: dict[str, np.ndarray]  # arm -> (T, 4, 4)
    eef_pose: dict[str, np.ndarray]  # arm -> (T, 4, 4) where the hand was (the target's tracking lags)
    hand_action: dict[str, np.ndarray]  # arm -> (T, k)
    object_pose: dict[str, np.ndarray]  # object -> (T, 4, 4)
    ends: dict[str, list[int]]  # arm -> end step of each subtask (exclusive)
    done: dict[str, list[int]]  # arm -> step after each subtask's signal first fired (the last
    # subtask's motion runs on to the demo's end; other arms waiting for it wait only for this)
    sync: dict[tuple[str, int], int]  # (arm, subtask) of a coordination group -> its sync step
    # arm -> per subtask, the step where its start signal first held after the previous subtask
    # was done (None: no start signal, or the source did not record it): the segment starts
    # there, and the motion before it is a transit
    begins: dict[str, list[int | None]] | None = None

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
        for j, begin in enumerate((self.begins or {}).get(arm, [])):
            if begin is not None and starts[j] < begin < ends[j]:
                starts[j] = begin
        return list(zip(starts, ends))

    def begins_with_transit(self, arm: str, subtask: int, bounds: tuple[int, int]) -> bool:
        """Whether these bounds of `arm`'s subtask start at its start signal (the source's
        motion before them, a transit, is left out)."""
        begins = (self.begins or {}).get(arm)
        return bool(begins) and begins[subtask] is not None and bounds[0] == begins[subtask]

    def segment(
        self,
        arm: str,
        subtask: int,
        object_ref: str | None,
        bounds: tuple[int, int],
        wait: tuple[int, int] | None = None,
        pose_at: int | None = None,
    ) -> Segment:
        """The segment of `arm`'s subtask within `bounds`. `wait`: the steps [first, last) in
        which the source arm held still inside the segment, waiting for another arm's subtask (a
        sequential constraint, see `wait_for`). Generation schedules that wait itself, so the
        segment keeps only `IDLE_KEEP_STEPS` of it (replayed in full it would wait twice), and
        the reference object's pose is taken where the wait ended: the other arm may have moved
        it meanwhile (a piece seated, a drawer pulled open). `pose_at`: the source step whose
        reference object pose carries the segment (default its start); a coordination group
        carries all its arms by one pose, so they keep their relative motion."""
        start, end = bounds
        start += self._idle_prefix(arm, start, end)
        if end == self.length:  # an arm's last segment: drop its idle tail too (it only waited)
            end -= self._idle_prefix(arm, start, end, reverse=True)
        steps = np.arange(start, end)
        pose_at = start if pose_at is None else pose_at
        if wait is not None and start < wait[1] < end:
            first, last = max(wait[0], start), wait[1]
            steps = np.concatenate([np.arange(start, min(first + IDLE_KEEP_STEPS, last)), np.arange(last, end)])
            pose_at = last
        return Segment(
            source=self.index,
            arm=arm,
            subtask=subtask,
            steps=steps,
            target_poses=self.target_pose[arm][steps],
            hand_actions=self.hand_action[arm][steps],
            object_pose=None if object_ref is None else self.object_pose[object_ref][pose_at],
        )

    def wait_for(self, arm: str, bounds: tuple[int, int], done: int) -> tuple[int, int] | None:
        """[first, last): the steps around source step `done` (where another arm's subtask was
        done) in which `arm` held the target and hand command it had there, within its segment
        `bounds`; None when `done` lies outside them. `last - done` is how long the source arm
        went on waiting after that subtask was done (e.g. for the other hand to clear the way)."""
        start, end = bounds
        if not start <= done < end:
            return None
        poses, hands = self.target_pose[arm], self.hand_action[arm]

        def still(t: int) -> bool:
            return bool(
                np.linalg.norm(poses[t, :3, 3] - poses[done, :3, 3]) <= 1e-3
                and np.abs(poses[t, :3, :3] - poses[done, :3, :3]).max() <= 1e-2
                and np.abs(hands[t] - hands[done]).max() <= 1e-2
            )

        first, last = done, done + 1
        while first > start and still(first - 1):
            first -= 1
        while last < end and still(last):
            last += 1
        return first, last

    def _idle_prefix(self, arm: str, start: int, end: int, keep: int = IDLE_KEEP_STEPS, reverse: bool = False) -> int:
        """Steps to skip at a segment's start (or end) where the source arm only waited (e.g.
        for the other arm in a sequential task): generation schedules its own waits. A short
        pause (`keep` steps) stays, since it may let a grasp settle."""
        poses, hands = self.target_pose[arm][start:end], self.hand_action[arm][start:end]
        if reverse:
            poses, hands = poses[::-1], hands[::-1]
        moved = (
            (np.linalg.norm(poses[:, :3, 3] - poses[0, :3, 3], axis=1) > 1e-3)
            | (np.abs(poses[:, :3, :3] - poses[0, :3, :3]).max(axis=(1, 2)) > 1e-2)
            | (np.abs(hands - hands[0]).max(axis=1) > 1e-2)
        )
        first_move = int(np.argmax(moved)) if moved.any() else len(poses) - 1
        return max(0, first_move - keep)


class SegmentationError(ValueError):
    pass


def parse_source(index: int, key: str, datagen_info: dict, task_spec: TaskSpec) -> SourceDemo:
    """Cut one source demo (its `datagen_info` from the dataset) into subtask boundaries."""
    signals = datagen_info["subtask_signals"]
    length = len(next(iter(datagen_info["target_pose"].values())))
    ends: dict[str, list[int]] = {}
    done: dict[str, list[int]] = {}
    begins: dict[str, list[int | None]] = {}
    for arm, subtasks in task_spec.subtasks.items():
        arm_done, previous = [], 0
        for j, sub in enumerate(subtasks):
            last = j == len(subtasks) - 1
            if sub.term_signal not in signals:
                if last:  # the last subtask's signal only orders other arms after it
                    arm_done.append(length)
                    break
                raise SegmentationError(f"source {key} has no signal {sub.term_signal!r} (task spec of {arm})")
            fired = np.flatnonzero(np.asarray(signals[sub.term_signal])[previous:])
            if fired.size == 0:
                if last:
                    arm_done.append(length)
                    break
                raise SegmentationError(
                    f"source {key}: {arm} subtask {sub.name!r} never ends "
                    f"({sub.term_signal} never turns true after step {previous})"
                )
            # Signals are recorded after the step: subtask j's last action is the firing step.
            previous = previous + int(fired[0]) + 1
            arm_done.append(previous)
        done[arm] = arm_done
        ends[arm] = arm_done[:-1] + [length]  # an arm's last subtask runs to the end of the demo
        begins[arm] = [None] * len(subtasks)
        for j, sub in enumerate(subtasks[: len(arm_done)]):
            if j == 0 or sub.start_signal is None or sub.start_signal not in signals:
                continue  # a source recorded without the signal keeps the whole motion
            held = np.flatnonzero(np.asarray(signals[sub.start_signal])[arm_done[j - 1] :])
            if held.size:
                begins[arm][j] = arm_done[j - 1] + int(held[0]) + 1
    sync = {}
    for group in task_spec.coordination:
        idx = {arm: [s.name for s in task_spec.subtasks[arm]].index(name) for arm, name in group.subtasks.items()}
        common = max(done[arm][j] for arm, j in idx.items())
        for arm, j in idx.items():
            sync[arm, j] = common
            if j < len(task_spec.subtasks[arm]) - 1:
                ends[arm][j] = common
    return SourceDemo(
        index=index,
        key=key,
        target_pose=dict(datagen_info["target_pose"]),
        eef_pose=dict(datagen_info["eef_pose"]),
        hand_action=dict(datagen_info["hand_action"]),
        object_pose=dict(datagen_info["object_pose"]),
        ends=ends,
        done=done,
        sync=sync,
        begins=begins,
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
