"""The machinery of scripted demonstrators: per-arm scripts of smooth moves in EEF-pose space.

A demonstrator is a privileged policy (the one protocol: `reset(seed)`, `act(obs) -> action`):
it is built with the env and plans from the simulator's object poses, not from `obs`.

A demonstrator writes, for each arm, a Python generator that yields one (target pose, hand
command) per control step; `move` interpolates smoothly between poses, `hold` waits, and a
script can wait on any condition (the other arm finishing a phase, a subtask signal). The
env's `target_pose_to_action` turns the targets into actions, so one script serves every
embodiment and both action modes. Timing and approach offsets are randomised per episode so
the demos vary as human ones do.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from typing import ClassVar

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from dexbench.envs.embodiments.base import ARMS

Step = tuple[np.ndarray, np.ndarray]  # (4x4 target pose, hand command)
ArmScript = Iterator[Step]

SPEED_M_PER_S = 0.25  # nominal EEF speed of a move
TURN_RAD_PER_S = 1.2  # nominal EEF turn rate
CONTROL_DT_S = 0.05
DEMONSTRATOR_RNG_TAG = 0xD3E0


def demonstrator_rng(seed: int | None) -> np.random.Generator:
    """A demonstrator's random stream for the episode with env seed `seed` (reproducible, apart
    from the env's reset stream)."""
    return np.random.default_rng([0 if seed is None else int(seed), DEMONSTRATOR_RNG_TAG])


def top_down(position: np.ndarray, yaw_rad: float) -> np.ndarray:
    """A grasp frame pointing straight down whose closing axis (y) has heading `yaw_rad`."""
    y = np.array([np.cos(yaw_rad), np.sin(yaw_rad), 0.0])
    z = np.array([0.0, 0.0, -1.0])
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([np.cross(y, z), y, z])
    pose[:3, 3] = position
    return pose


def heading_of(pose: np.ndarray) -> float:
    """Heading (rad) of a grasp frame's closing axis (y) projected on the table."""
    return float(np.arctan2(pose[1, 1], pose[0, 1]))


def nearest_heading(candidates_base: float, period: float, reference: float) -> float:
    """The angle base + k * period closest to `reference` (symmetric grasps)."""
    k = np.round((reference - candidates_base) / period)
    return float(candidates_base + k * period)


def translated(pose: np.ndarray, offset: np.ndarray) -> np.ndarray:
    out = pose.copy()
    out[:3, 3] = pose[:3, 3] + offset
    return out


class ScriptedDemonstrator(abc.ABC):
    """Drives both arms of a DexEnv through a task by per-arm scripts (see module docstring).
    Subclasses set `task` (the task name they solve) and write `script(arm)`; they are found by
    `dexbench.generators.scripted.make_demonstrator`."""

    task: ClassVar[str]
    name = "scripted-oracle"

    def __init__(self, env) -> None:
        self.env = getattr(env, "unwrapped", env)
        self.hand_model = hand = self.env.embodiment.hand
        self.open_hand = np.asarray(hand.open_command, dtype=np.float64)
        self.closed_hand = np.asarray(hand.closed_command, dtype=np.float64)
        self.preshaped_hand = np.asarray(hand.preshape_command, dtype=np.float64)
        self.rng = demonstrator_rng(None)
        self.exhausted = {arm: True for arm in ARMS}

    def reset(self, seed: int | None = None) -> None:
        """Plan a new episode from the env's current (just reset) state; timing and offsets
        are drawn from `seed` (the episode's env seed)."""
        self.rng = demonstrator_rng(seed)
        self.speed = SPEED_M_PER_S * self.rng.uniform(0.8, 1.2)
        self.home = self.env.eef_poses()
        self.target = {arm: self.home[arm].copy() for arm in ARMS}
        self.hand = {arm: self.open_hand.copy() for arm in ARMS}
        self._firm_steps = {arm: 0 for arm in ARMS}
        self.scripts = {arm: self.script(arm) for arm in ARMS}
        self.exhausted = {arm: False for arm in ARMS}

    @property
    def done(self) -> bool:
        return all(self.exhausted.values())

    def act(self, obs: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The next action (advance every arm's script by one control step; `obs` is not
        needed: the scripts read the simulator)."""
        for arm in ARMS:
            if self.exhausted[arm]:
                continue
            try:
                self.target[arm], self.hand[arm] = next(self.scripts[arm])
            except StopIteration:
                self.exhausted[arm] = True  # a finished arm holds its last target
        return self.env.target_pose_to_action(self.target, self.hand)

    # ------------------------------------------------------------------ script building blocks
    @abc.abstractmethod
    def script(self, arm: str) -> ArmScript:
        """The whole motion of one arm, as a generator of (pose, hand) per control step."""

    def move(
        self,
        arm: str,
        goal: np.ndarray,
        hand: np.ndarray | None = None,
        speed_scale: float = 1.0,
        settle_steps: int = 0,
    ) -> ArmScript:
        """Move the target smoothly (min-jerk timing) from where it is to `goal`."""
        start = self.target[arm]
        hand = self.hand[arm] if hand is None else hand
        dist = np.linalg.norm(goal[:3, 3] - start[:3, 3])
        angle = Rotation.from_matrix(goal[:3, :3] @ start[:3, :3].T).magnitude()
        duration = max(dist / (self.speed * speed_scale), angle / TURN_RAD_PER_S, 0.15)
        steps = int(np.ceil(duration / CONTROL_DT_S))
        slerp = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([start[:3, :3], goal[:3, :3]])))
        for k in range(1, steps + 1):
            s = k / steps
            s = s * s * s * (10 - 15 * s + 6 * s * s)  # min-jerk profile
            pose = np.eye(4)
            pose[:3, 3] = start[:3, 3] + s * (goal[:3, 3] - start[:3, 3])
            pose[:3, :3] = slerp([s]).as_matrix()[0]
            yield pose, hand
        yield from self.hold(arm, settle_steps, hand)

    def turn_toward(self, arm: str, heading: float) -> ArmScript:
        """Turn a top-down grasp frame to a heading more than 100 deg away via heading 0 (fingers
        or jaws along +x): a half turn is ambiguous and could wind a wrist into its limit."""
        current = heading_of(self.target[arm])
        if abs(np.angle(np.exp(1j * (heading - current)))) > np.radians(100):
            yield from self.move(arm, top_down(self.target[arm][:3, 3], 0.0))

    def hold(self, arm: str, steps: int, hand: np.ndarray | None = None) -> ArmScript:
        hand = self.hand[arm] if hand is None else hand
        for _ in range(steps):
            yield self.target[arm], hand

    def set_hand(self, arm: str, hand: np.ndarray, steps: int) -> ArmScript:
        """Ramp the hand command to `hand` over `steps` steps while holding the pose."""
        start = self.hand[arm].copy()
        for k in range(1, steps + 1):
            yield self.target[arm], start + (hand - start) * k / steps

    def holds_firmly(self, arm: str, body: str, closed: bool, steps: int) -> bool:
        """Whether `arm`'s hand, once its script has closed it (`closed`), has held `body` between
        its two sides (thumb or palm against fingers, or both jaws; a hook of finger links alone
        does not carry it) on this call and the `steps - 1` before. Call it once a control step,
        e.g. as the other hand's condition to let go at a hand-over."""
        task = self.env.task
        task.update_contacts()
        side_a, side_b = task.hand_sides[arm]
        body_id = task.body_ids[body]
        held = closed and task.touching(body_id, side_a) and task.touching(body_id, side_b)
        self._firm_steps[arm] = self._firm_steps[arm] + 1 if held else 0
        return self._firm_steps[arm] >= steps

    def wait_until(self, arm: str, condition: Callable[[], bool], max_steps: int = 400) -> ArmScript:
        for _ in range(max_steps):
            if condition():
                return
            yield self.target[arm], self.hand[arm]

    def jitter(self, scale_m: float = 0.005) -> np.ndarray:
        """A small random xy offset: demos should not all be identical."""
        return np.array([*self.rng.uniform(-scale_m, scale_m, size=2), 0.0])

    def steps(self, nominal: int) -> int:
        return max(1, int(round(nominal * self.rng.uniform(0.85, 1.15))))
