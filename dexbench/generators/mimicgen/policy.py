"""Executes one MimicGen generation attempt: per-arm action queues, scheduled by the task spec.

Each arm works through its subtasks. Starting subtask j it picks a source segment, carries it to
the reference object's current pose, prefixes an interpolated bridge from where its target is
now, and queues the result; the arms' queues run in parallel, one pose per control step.
Scheduling (DexMimicGen):
- parallel: arms advance independently;
- coordination: both arms wait until both reach the group, then use one source and one shared
  transform (or replay the source poses), and the arm that would get there first waits so both
  pass the group's sync step (the source's signal edge) on the same control step;
- sequential: an arm whose next subtask is a `post` holds until the `pre` subtask of the other
  arm is done (its segment executed; for that arm's last subtask, whose segment runs on to the
  demo's end, its signal fired and the source's post arm's extra wait passed). The post segment
  leaves out the source arm's own wait, and is carried by where the reference object was when
  that wait ended.
A finished arm holds its last target until every arm is done.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from dexbench.envs.actions import POSE_ACTION_UNIT
from dexbench.envs.embodiments.base import ARMS
from dexbench.envs.tasks.base import TaskSpec
from dexbench.generators.base import AttemptInfo
from dexbench.generators.mimicgen.segments import Segment, SourceDemo, object_centric, translated_only
from dexbench.generators.subtasks import stuck_subtask

HOLD = "hold"  # a queued step that keeps the current target (waiting)
BRIDGE = "bridge"
TRANSIT = "transit"  # a planned carry that stands in for the source's (noised as segments are)
SEGMENT = "segment"


def interpolate(start: np.ndarray, goal: np.ndarray, steps: int) -> list[np.ndarray]:
    """`steps` poses from just after `start` to `goal` (linear position, slerp rotation)."""
    if steps <= 0:
        return []
    slerp = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([start[:3, :3], goal[:3, :3]])))
    out = []
    for k in range(1, steps + 1):
        s = k / steps
        pose = np.eye(4)
        pose[:3, 3] = (1 - s) * start[:3, 3] + s * goal[:3, 3]
        pose[:3, :3] = slerp([s]).as_matrix()[0]
        out.append(pose)
    return out


def transit(start: np.ndarray, goal: np.ndarray, legs: tuple[int, int, int]) -> list[np.ndarray]:
    """A transit from `start` to `goal` in `legs` = (up, across, down) steps: straight up to the
    higher of their heights, across at that height (turning on the way), straight down: what is
    carried clears what stood between (a box's wall) as it cleared it where the source's segment
    begins."""
    high = max(start[2, 3], goal[2, 3])
    over_start, over_goal = start.copy(), goal.copy()
    over_start[2, 3] = over_goal[2, 3] = high
    path = interpolate(start, over_start, legs[0]) + interpolate(over_start, over_goal, legs[1])
    return path + interpolate(over_goal, goal, legs[2])


class MimicGenPolicy:
    """One attempt (the rollout loop calls reset after resetting the env, then act every step;
    it plans from the simulator, not from `obs`)."""

    def __init__(
        self,
        env,
        sources: list[SourceDemo],
        config,
        rng: np.random.Generator,
        choose_source: Callable[[str, int, dict], int],
    ) -> None:
        self.env, self.sources, self.config, self.rng = env, sources, config, rng
        self.task_spec: TaskSpec = env.task_spec
        self.choose_source = choose_source
        hand = env.embodiment.hand
        self.open_hand = np.asarray(hand.open_command, dtype=np.float64)

    # ------------------------------------------------------------------ runner protocol
    def reset(self, seed: int | None = None) -> None:
        self.target = self.env.eef_poses()
        self.hand = {arm: self.open_hand.copy() for arm in ARMS}
        self.queue: dict[str, deque] = {arm: deque() for arm in ARMS}
        self.current = {arm: -1 for arm in ARMS}  # subtask being executed (-1: none yet)
        self.finished: set[tuple[str, int]] = set()
        self.signalled_at: dict[tuple[str, int], int] = {}  # a last pre-subtask -> step its signal fired
        self.steps = 0
        self.waiting_at: dict[str, int] = {}  # arm -> subtask it waits to start
        self.source_of: dict[str, list[int]] = {arm: [] for arm in ARMS}
        self.subtask_log: dict[str, list[int]] = {arm: [] for arm in ARMS}
        self.episode_source: int | None = None
        self.offsets = {arm: self._draw_offsets(arm) for arm in ARMS}
        self._sync_offsets()
        self._group_plan: dict[int, dict] = {}  # coordination group -> shared source/transform
        self.sync_at: dict[str, int] = {}  # arm -> queue position of its group's sync step

    @property
    def done(self) -> bool:
        return all(self.current[arm] >= len(self.task_spec.subtasks[arm]) for arm in ARMS)

    def act(self, obs: dict[str, np.ndarray] | None = None) -> np.ndarray:
        self.steps += 1
        noise_mask = {}
        for arm in ARMS:  # first every arm plans (a coordinated start needs both), then all move
            self._advance(arm)
        for arm in ARMS:
            kind, pose, hand = self._pop(arm)
            self.target[arm], self.hand[arm] = pose, hand
            noise_mask[arm] = kind in (SEGMENT, TRANSIT)
            self.subtask_log[arm].append(self.current[arm])
        action = self.env.target_pose_to_action(self.target, self.hand).astype(np.float64)
        return self._add_noise(action, noise_mask)

    def attempt_info(self) -> AttemptInfo:
        failure = None
        if not self.env.is_success():
            # The subtask being executed, not the signal count: a segment may end early.
            reached = {arm: min(max(self.current[arm], 0), len(self.task_spec.subtasks[arm]) - 1) for arm in ARMS}
            failure = stuck_subtask(self.task_spec, reached, self.env.subtask_signals())
        return AttemptInfo(
            source_demos={arm: list(v) for arm, v in self.source_of.items()},
            subtask_index={arm: np.asarray(v, dtype=np.int16) for arm, v in self.subtask_log.items()},
            failure_subtask=failure,
        )

    # ------------------------------------------------------------------ scheduling
    def _advance(self, arm: str) -> None:
        """Start the arm's next subtask when its queue ran out and the schedule allows."""
        if self.queue[arm]:
            return
        subtasks = self.task_spec.subtasks[arm]
        if self.current[arm] >= 0:
            self.finished.add((arm, self.current[arm]))
        nxt = self.current[arm] + 1
        if nxt >= len(subtasks):
            self.current[arm] = len(subtasks)
            return
        if not self._sequential_ok(arm, nxt):
            self.queue[arm].append((HOLD, None, None))  # wait for the other arm's pre-subtask
            return
        group = self._group_of(arm, nxt)
        if group is None:
            self._start(arm, nxt)
            return
        self.waiting_at[arm] = nxt
        others = [a for a in self.task_spec.coordination[group].subtasks if a != arm]
        ready = all(
            self.waiting_at.get(o) == self._index(o, self.task_spec.coordination[group].subtasks[o])
            and all(item[0] == HOLD for item in self.queue[o])
            for o in others
        )
        if ready:
            for a in self.task_spec.coordination[group].subtasks:
                self.waiting_at.pop(a, None)
                self._start(a, self._index(a, self.task_spec.coordination[group].subtasks[a]), group=group)
            self._align_sync(list(self.task_spec.coordination[group].subtasks))
        else:
            self.queue[arm].append((HOLD, None, None))

    def _sequential_ok(self, arm: str, subtask: int) -> bool:
        """A post-subtask may start once the pre-subtask is done: its segment has been executed
        (its motion includes clearing the way, e.g. the cup taken off after pouring). An arm's
        last segment runs on to the end of its demo, so a post-subtask after one starts instead
        when its signal has fired plus as long as the source's arm went on waiting after it (in
        the source, the time the other hand took to clear the way). With the config's
        `sequential_constraints` off, nothing waits."""
        if not self.config.sequential_constraints:
            return True
        for pre in self._pres(arm, subtask):
            if pre in self.finished:
                continue
            pre_arm, pre_index = pre
            if pre_index < len(self.task_spec.subtasks[pre_arm]) - 1 or self.current[pre_arm] != pre_index:
                return False
            if pre not in self.signalled_at:
                if not self.env.subtask_signals().get(self.task_spec.subtasks[pre_arm][pre_index].term_signal):
                    return False
                self.signalled_at[pre] = self.steps
            demo = self.sources[self.choose_source(arm, subtask, self.env.object_poses())]
            done = demo.done[pre_arm][pre_index]
            wait = demo.wait_for(arm, demo.boundaries(arm, self.offsets[arm])[subtask], done)
            if self.steps - self.signalled_at[pre] < (wait[1] - done if wait else 0):
                return False
            self.finished.add(pre)
        return True

    def _pres(self, arm: str, subtask: int) -> list[tuple[str, int]]:
        """The (arm, subtask index) pairs that `arm`'s subtask must wait for."""
        name = self.task_spec.subtasks[arm][subtask].name
        return [(seq.pre[0], self._index(*seq.pre)) for seq in self.task_spec.sequential if seq.post == (arm, name)]

    def _source_wait(self, demo: SourceDemo, arm: str, subtask: int) -> tuple[int, int] | None:
        """The steps in which the source `demo`'s arm waited, inside this subtask's segment, for
        the pre-subtasks it must wait for (the latest of them), or None."""
        dones = [
            demo.done[a][j] if j == len(self.task_spec.subtasks[a]) - 1 else demo.boundaries(a, self.offsets[a])[j][1]
            for a, j in self._pres(arm, subtask)
        ]
        if not dones:
            return None
        return demo.wait_for(arm, demo.boundaries(arm, self.offsets[arm])[subtask], max(dones))

    def _group_of(self, arm: str, subtask: int) -> int | None:
        name = self.task_spec.subtasks[arm][subtask].name
        for g, group in enumerate(self.task_spec.coordination):
            if group.subtasks.get(arm) == name:
                return g
        return None

    def _index(self, arm: str, name: str) -> int:
        return [s.name for s in self.task_spec.subtasks[arm]].index(name)

    def _start(self, arm: str, subtask: int, group: int | None = None) -> None:
        """Queue bridge + transformed segment for `arm`'s subtask."""
        self.current[arm] = subtask
        sub = self.task_spec.subtasks[arm][subtask]
        objects = self.env.object_poses()
        object_now = objects.get(sub.object_ref) if sub.object_ref else None
        scheme = "transform"
        if group is not None:
            plan = self._group_plan.setdefault(
                group,
                {
                    "source": self.choose_source(arm, subtask, objects),
                    "objects": objects,
                },
            )
            source = plan["source"]
            scheme = self.config.coordination_scheme or self.task_spec.coordination[group].scheme
            object_now = plan["objects"].get(sub.object_ref) if sub.object_ref else None
        else:
            source = self.choose_source(arm, subtask, objects)
        demo = self.sources[source]
        pose_at = None
        if group is not None:
            # The arms move together as in the source: one transform for all, from the pose where
            # the last of them began the group in the source.
            pose_at = max(
                demo.boundaries(a, self.offsets[a])[self._index(a, name)][0]
                for a, name in self.task_spec.coordination[group].subtasks.items()
            )
        bounds = demo.boundaries(arm, self.offsets[arm])[subtask]
        segment: Segment = demo.segment(
            arm, subtask, sub.object_ref, bounds, wait=self._source_wait(demo, arm, subtask), pose_at=pose_at
        )
        if scheme == "replay":
            poses = segment.target_poses.copy()
        elif scheme == "translate":
            poses = translated_only(segment, object_now)
        else:
            poses = object_centric(segment, object_now)
        if sub.keep_orientation:
            poses[:, :3, :3] = segment.target_poses[:, :3, :3]
        if self.config.held_object_correction and sub.held and scheme != "replay":
            poses = poses @ self._grasp_correction(arm, sub.held, demo, segment, objects)
        self.source_of[arm].append(int(demo.index))  # the demo's index in the source dataset
        q = self.queue[arm]
        q.clear()  # drop any waiting steps
        bridge_hand = self.hand[arm].copy()
        if self.config.transits and demo.begins_with_transit(arm, subtask, bounds):
            legs = self._transit_legs(self.target[arm], poses[0])
            if group is not None:  # arms that carry something together move in step
                legs = self._group_plan[group].setdefault("transit_legs", legs)
            bridge, kind = transit(self.target[arm], poses[0], legs), TRANSIT
        else:
            bridge, kind = interpolate(self.target[arm], poses[0], self.config.interpolation_steps), BRIDGE
        for pose in bridge:
            q.append((kind, pose, bridge_hand))
        for _ in range(self.config.fixed_steps):
            q.append((BRIDGE, poses[0], bridge_hand))
        if group is not None:  # where in the queue the source's sync step comes (see `_align_sync`)
            sync = demo.sync[arm, subtask]
            # Past the segment's end (its idle tail was cut), the arm would hold its last pose.
            at = (
                int(np.searchsorted(segment.steps, sync))
                if sync <= segment.steps[-1]
                else len(segment) - 1 + sync - int(segment.steps[-1])
            )
            self.sync_at[arm] = len(q) + at
        for pose, hand in zip(poses, segment.hand_actions):
            q.append((SEGMENT, pose, np.asarray(hand, dtype=np.float64)))

    def _transit_legs(self, start: np.ndarray, goal: np.ndarray) -> tuple[int, int, int]:
        """Steps of a transit's three legs (up, across, down; see `transit`) at the config's
        transit speed."""
        high = max(start[2, 3], goal[2, 3])
        speed, turn = self.config.transit_speed_m, self.config.transit_turn_rad
        angle = Rotation.from_matrix(start[:3, :3].T @ goal[:3, :3]).magnitude()
        across = max(np.linalg.norm(goal[:2, 3] - start[:2, 3]) / speed, angle / turn)
        return (
            int(np.ceil((high - start[2, 3]) / speed)),
            max(1, int(np.ceil(across))),
            int(np.ceil((high - goal[2, 3]) / speed)),
        )

    def _grasp_correction(
        self, arm: str, held: str, demo: SourceDemo, segment: Segment, objects: dict[str, np.ndarray]
    ) -> np.ndarray:
        """The right-hand factor that makes the held object, not the hand, follow the source:
        targets T @ E_src(t) become T @ E_src(t) @ G_src @ inv(G_now), with G = inv(E) @ H the
        object's pose in the hand (E where the hand is, not its target: the target leads the
        hand by a tracking lag that depends on the motion), G_src at the segment's first source
        step. Identity when the arm does not hold the object now (the attempt goes on as
        published)."""
        task = self.env.task
        task.update_contacts()
        if not task.is_grasped(arm, task.body_ids[held]):
            return np.eye(4)
        s = int(segment.steps[0])
        grasp_src = np.linalg.inv(demo.eef_pose[arm][s]) @ demo.object_pose[held][s]
        grasp_now = np.linalg.inv(self.env.eef_poses()[arm]) @ objects[held]
        return grasp_src @ np.linalg.inv(grasp_now)

    def _align_sync(self, arms: list[str]) -> None:
        """The arm that would reach the group's sync step first waits first, so every arm
        executes it on the same control step, as in the source (its hand-over moment; an arm
        whose last subtask this is moves on afterwards, as it did in the source)."""
        latest = max(self.sync_at[a] for a in arms)
        for a in arms:
            for _ in range(latest - self.sync_at[a]):
                self.queue[a].appendleft((HOLD, None, None))

    def _pop(self, arm: str):
        if not self.queue[arm]:
            return HOLD, self.target[arm], self.hand[arm]
        kind, pose, hand = self.queue[arm].popleft()
        if kind == HOLD:
            return HOLD, self.target[arm], self.hand[arm]
        return kind, pose, hand

    # ------------------------------------------------------------------ randomisation
    def _draw_offsets(self, arm: str) -> list[int]:
        lo, hi = self.config.subtask_end_offset_range
        n = len(self.task_spec.subtasks[arm])
        return [int(self.rng.integers(lo, hi + 1)) for _ in range(max(n - 1, 0))]

    def _sync_offsets(self) -> None:
        """Coordination subtasks end together: both arms use the same offset for them."""
        for group in self.task_spec.coordination:
            arms = list(group.subtasks)
            first = arms[0]
            j0 = self._index(first, group.subtasks[first])
            for a in arms[1:]:
                j = self._index(a, group.subtasks[a])
                if j < len(self.offsets[a]) and j0 < len(self.offsets[first]):
                    self.offsets[a][j] = self.offsets[first][j0]

    def _add_noise(self, action: np.ndarray, noise_mask: dict[str, bool]) -> np.ndarray:
        scale = self.config.action_noise
        if scale <= 0:
            return action.astype(np.float32)
        env = self.env
        for arm in ARMS:
            if not noise_mask[arm]:
                continue  # no noise while bridging or waiting
            s = env.action_layout[f"{arm}_pose"]
            noise = self.rng.normal(0.0, scale, size=6)
            if env.action_mode == "absolute":
                noise = noise * POSE_ACTION_UNIT  # one noise setting means the same in both modes
            action[s] += noise
        return np.clip(action, env.action_space.low, env.action_space.high).astype(np.float32)
