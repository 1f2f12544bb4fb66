"""The Episode: one recorded rollout, as `dexbench.rollout` makes it and datasets store it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Episode:
    """One recorded episode. Arrays are indexed by step t = 0..T-1.

    - `actions` (T, A), `states` (T, S): the state *before* action t (`states[0]` is the state
      the episode started from, `initial_state`), `rewards` (T,), `dones` (T,) (1 on the last
      step).
    - `obs`: dict key -> (T, ...) observations before action t; `final_obs` the one after the
      last action (so next_obs = obs[1:] + final_obs).
    - `datagen_info`: {"eef_pose": {arm: (T,4,4)}, "target_pose": {arm: (T,4,4)},
      "hand_action": {arm: (T,k)}, "object_pose": {obj: (T,4,4)},
      "subtask_signals": {name: (T,) bool, value after step t}}.
    An episode run without recording (evaluation) has only `rewards`, `success`, `end_reason`
    and `length`; its other arrays are empty.
    """

    env_id: str | None
    layout: str  # "D0", "D1", "D2" (stored as the demo attribute `variant`)
    seed: int | None
    actions: np.ndarray
    states: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    obs: dict[str, np.ndarray]
    datagen_info: dict[str, dict[str, np.ndarray]]
    success: bool
    initial_state: np.ndarray
    final_obs: dict[str, np.ndarray] | None = None
    generator: str = "scripted"
    source_demo: int = -1  # index of the source demo a generated demo came from (-1: none)
    # "success" | "policy_done" | "max_steps" | "truncated" | "terminated" | "physics_error"
    end_reason: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return int(self.rewards.shape[0])

    def __len__(self) -> int:
        return self.num_samples
