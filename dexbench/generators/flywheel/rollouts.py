"""The flywheel's rollout stage as a generator: each attempt is a rollout of the BC base (and its
residual) on new objects and placements, so the runner's seeds, workers, shards, resume and
success filtering serve it. Not registered: `run_generation` takes the class itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexbench.generators.base import Generator


@dataclass
class RolloutConfig:
    checkpoint: str = ""  # the BC base's checkpoint directory
    residual: str = ""  # the residual's directory ("" for the base alone)


class RolloutGenerator(Generator):
    """A flywheel stage, not registered: attempts are rollouts of the BC base (+ residual)."""

    name = "flywheel-rollout"
    Config = RolloutConfig
    needs_sources = False

    def __init__(self, env_id: str, sources, config=None) -> None:
        super().__init__(env_id, sources, config)
        self._policy = None

    def policy(self, env, rng: np.random.Generator):
        from dexbench.generators.flywheel.residual import ResidualPolicy

        if self._policy is None:  # loading the networks once per worker, not per attempt
            self._policy = ResidualPolicy(
                env.observation_space, env.action_space, self.config.checkpoint, self.config.residual or None
            )
        return self._policy
