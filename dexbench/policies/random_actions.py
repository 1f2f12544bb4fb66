"""Uniformly random actions from the action space (the lower bound)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces


class RandomPolicy:
    name = "random"

    def __init__(self, observation_space, action_space: spaces.Box) -> None:
        if (
            not isinstance(action_space, spaces.Box)
            or not np.all(np.isfinite(action_space.low))
            or not np.all(np.isfinite(action_space.high))
        ):
            raise ValueError("RandomPolicy needs a bounded Box action space")
        self._low = action_space.low.astype(np.float64)
        self._high = action_space.high.astype(np.float64)
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int | None = None) -> None:
        # Its own stream per episode seed, apart from the env's reset stream.
        self._rng = np.random.default_rng([0 if seed is None else int(seed), 0x5A11])

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self._rng.uniform(self._low, self._high)
