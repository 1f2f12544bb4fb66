"""The scripted oracle: the task's scripted demonstrator as a policy (the upper bound).

It is privileged: it plans from the simulator's object poses, not from the observation, so
`load_policy` hands it the env. Its random timing and approach offsets are drawn from the
episode seed, so an evaluation is reproducible whatever the worker split.
"""

from __future__ import annotations

import numpy as np

from dexbench.datasets.recorder import demonstrator_rng


class ScriptedPolicy:
    name = "scripted-oracle"

    def __init__(self, observation_space, action_space, env) -> None:
        from dexbench.generators.scripted import make_demonstrator

        self._env = env
        self._make_demonstrator = make_demonstrator
        self._demonstrator = None

    def reset(self, seed: int | None = None) -> None:
        self._demonstrator = self._make_demonstrator(self._env, demonstrator_rng(0 if seed is None else seed))
        self._demonstrator.reset()

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if self._demonstrator is None:
            raise RuntimeError("call reset() before act()")
        return np.asarray(self._demonstrator.act(), dtype=np.float64)  # holds its last targets once done
