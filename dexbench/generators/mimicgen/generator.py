"""The `mimicgen` generator: its config (reference-family defaults) and source selection."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.generators.base import Generator
from dexbench.generators.mimicgen.policy import MimicGenPolicy
from dexbench.generators.mimicgen.segments import SegmentationError, SourceDemo, parse_source

SELECTION = ("random", "nearest")
SCHEMES = ("transform", "translate", "replay")


@dataclass
class MimicGenConfig:
    # Gaussian noise on the pose actions, in normalised action units (MimicGen: 0.05); never
    # applied while interpolating or waiting.
    action_noise: float = 0.05
    # Steps of the interpolated bridge from the current target to a transformed segment.
    interpolation_steps: int = 5
    # Extra steps holding the segment's first pose after the bridge.
    fixed_steps: int = 0
    # Each non-final subtask's end is pushed later by a random number of steps in this range.
    subtask_end_offset_range: tuple[int, int] = (5, 10)
    # "random": any source; "nearest": uniform among the `nearest_k` sources whose reference
    # object pose (position distance + rotation angle) is closest to the current one.
    selection: str = "random"
    nearest_k: int = 3
    # Pick a source again at every subtask (else one source per arm per episode).
    per_subtask_sources: bool = False
    # Let the two arms use different sources (else one source for both arms per episode).
    per_arm_sources: bool = False
    # Carry every coordination group with this scheme instead of the one the task declares
    # ("" keeps the task's): to measure what the scheme is worth, e.g. replay vs transform on a
    # hand-over.
    coordination_scheme: str = ""
    # Hold an arm at a sequential constraint's post-subtask until the other arm's pre-subtask
    # is done (false: every arm runs its segments back to back, its source waits cut out, to
    # measure what the ordering is worth, e.g. a lid closed before the pod is in).
    sequential_constraints: bool = True
    # Carry a subtask whose arm holds an object (the task spec's `held`) so that the object, not the
    # hand, follows its source path relative to the reference object: the hand's targets are
    # corrected by the difference between the object's grasp in the source and now. Off is the
    # published algorithm (the hand follows its source path; a grasp that sits differently in
    # the hand carries that difference to the goal).
    held_object_correction: bool = False
    # Where the task marks a subtask's start (the task spec's `start_signal`: e.g. BoxCleanup's lid
    # over the box), move there directly, up, across and down at `transit_speed_m` per control
    # step (turning at most `transit_turn_rad`), instead of carrying the source's motion before
    # it: that motion crossed the table from where the objects were in the source, which
    # carried to a layout with the sides swapped starts on the far side of the table. False is
    # the published algorithm (the whole motion carried).
    transits: bool = True
    transit_speed_m: float = 0.01
    transit_turn_rad: float = 0.05

    def __post_init__(self) -> None:
        if not (np.isfinite(self.action_noise) and self.action_noise >= 0):
            raise ValueError(f"action_noise must be a finite number >= 0, got {self.action_noise}")
        for key in ("transit_speed_m", "transit_turn_rad"):
            if not (np.isfinite(getattr(self, key)) and getattr(self, key) > 0):
                raise ValueError(f"{key} must be a positive number, got {getattr(self, key)}")
        for key in ("interpolation_steps", "fixed_steps"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        offsets = tuple(self.subtask_end_offset_range)
        if len(offsets) != 2 or not 0 <= offsets[0] <= offsets[1]:
            raise ValueError(
                f"subtask_end_offset_range must be [low, high] steps with 0 <= low <= high, got {list(offsets)}"
            )
        if self.selection not in SELECTION:
            raise ValueError(f"selection must be one of {SELECTION}, got {self.selection!r}")
        if self.coordination_scheme not in ("",) + SCHEMES:
            raise ValueError(
                f"coordination_scheme must be one of {SCHEMES} (or empty for the task's own), got "
                f"{self.coordination_scheme!r}"
            )
        if self.nearest_k < 1:
            raise ValueError(f"nearest_k must be >= 1, got {self.nearest_k}")


class MimicGenGenerator(Generator):
    """DexMimicGen: object-centric per-arm segments, scheduled by the task spec."""

    name = "mimicgen"
    description = (
        "DexMimicGen-style generation: per-arm subtask segments carried by object-centric transforms, "
        "parallel / coordinated / sequential scheduling."
    )
    Config = MimicGenConfig

    def __init__(self, env_id: str, sources, config=None) -> None:
        super().__init__(env_id, sources, config)
        self._parsed: list[SourceDemo] | None = None

    def check(self, env) -> None:
        from dexbench.envs.registry import lookup

        source, target = lookup(self.sources.env_id), lookup(env.env_id)
        if (source.task, source.embodiment) != (target.task, target.embodiment):
            raise ValueError(
                f"the sources are {source.env_id} demos, the target is {target.env_id}: mimicgen "
                "carries motions to new object poses, not to another task or robot (hand commands and "
                f"reach differ); record sources with `dexbench demo --env DexMG/{target.task}-"
                f"{target.embodiment}-D0`"
            )
        self.parsed(env)  # segmentation errors surface before any attempt

    def parsed(self, env) -> list[SourceDemo]:
        if self._parsed is None:
            keys = list(self.sources.keys)
            if not keys:
                raise ValueError("the source dataset has no demos")
            parsed, skipped, unmarked = [], [], set()
            starts = {
                s.start_signal for subtasks in env.task_spec.subtasks.values() for s in subtasks if s.start_signal
            }
            for i, k in enumerate(keys):
                info = self.sources.episode(k).datagen_info
                unmarked |= starts - set(info["subtask_signals"])
                try:
                    parsed.append(parse_source(i, k, info, env.task_spec))
                except SegmentationError as err:
                    skipped.append(str(err))
            if unmarked and self.config.transits:
                warnings.warn(
                    f"the source demos do not record {', '.join(sorted(unmarked))} (recorded by an older "
                    "version): their segments keep the carry before it instead of a transit; record the "
                    "sources again for the transit",
                    stacklevel=2,
                )
            if not parsed:
                raise SegmentationError(
                    "no source demo can be cut into the task's subtasks:\n  " + "\n  ".join(skipped)
                )
            for reason in skipped:  # one odd source must not stop a generation run
                warnings.warn(f"mimicgen skips a source: {reason}", stacklevel=2)
            self._parsed = parsed
        return self._parsed

    def policy(self, env, rng: np.random.Generator) -> MimicGenPolicy:
        sources = self.parsed(env)
        chosen: dict = {}  # memo for one-source-per-episode / per-arm choices

        def choose_source(arm: str, subtask: int, objects: dict) -> int:
            key = (arm if self.config.per_arm_sources else "both", subtask if self.config.per_subtask_sources else 0)
            if key not in chosen:
                chosen[key] = self._select(env, sources, arm, subtask, objects, rng)
            return chosen[key]

        return MimicGenPolicy(env, sources, self.config, rng, choose_source)

    def _select(
        self, env, sources: list[SourceDemo], arm: str, subtask: int, objects: dict, rng: np.random.Generator
    ) -> int:
        if self.config.selection == "random":
            return int(rng.integers(len(sources)))
        ref = env.task_spec.subtasks[arm][subtask].object_ref
        if ref is None:
            return int(rng.integers(len(sources)))
        now = objects[ref]
        costs = []
        for demo in sources:
            start = demo.boundaries(arm)[subtask][0]
            then = demo.object_pose[ref][start]
            angle = Rotation.from_matrix(now[:3, :3] @ then[:3, :3].T).magnitude()
            costs.append(np.linalg.norm(now[:3, 3] - then[:3, 3]) + angle)
        nearest = np.argsort(costs)[: max(1, self.config.nearest_k)]
        return int(rng.choice(nearest))
