"""The residual learner's sanity case: a near-perfect base with a known error that a residual can undo.

The base is the task's scripted demonstrator (the oracle) with its hand commands scaled down by
`scale`: on TrayLift-Panda-D0 at 0.3 the jaws neither open wide enough for a cube nor close on it
hard, and the oracle fails every episode (scale 0.45 succeeds 7 of 8). The residual sees the
base's action, so the fix (`hand * (1 - scale)` added back, within alpha's reach once partly
undone) is a function of what it sees. A learner that cannot learn this from the uncorrupted
oracle's demonstrations and its own episodes is broken, whatever its budget.
"""

from __future__ import annotations

import numpy as np

from dexbench.envs.embodiments.base import ARMS
from dexbench.envs.registry import build_env

SANITY_ENV = "DexMG/TrayLift-Panda-D0"
SANITY_HORIZON = 400  # the oracle succeeds in 240-340 steps; a failed episode need not run 750
SANITY_SCALE = 0.3


class CorruptedHands:
    """`policy` with every hand command multiplied by `scale` (a policy of the one protocol)."""

    def __init__(self, policy, layout: dict[str, slice], scale: float) -> None:
        self.policy, self.scale = policy, float(scale)
        self._hands = np.concatenate(
            [np.arange(layout[f"{arm}_hand"].start, layout[f"{arm}_hand"].stop) for arm in ARMS]
        )
        self.name = f"{type(policy).__name__}-hands-x{scale:g}"

    def reset(self, seed: int | None = None) -> None:
        self.policy.reset(seed)

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action = np.asarray(self.policy.act(obs), dtype=np.float64).copy()
        action[self._hands] *= self.scale
        return action


def make_sanity_env(env_id: str = SANITY_ENV, horizon: int = SANITY_HORIZON, action_mode: str = "absolute"):
    # Absolute poses: a small residual on the arms is then an offset of a few millimetres, where in
    # delta mode it is a velocity that walks the hand away over an episode.
    return build_env(env_id, reward_type="dense", terminate_on_success=True, horizon=horizon, action_mode=action_mode)


class SanityFactory:
    """(env, corrupted oracle, clean oracle) for one process: picklable, for the residual's workers."""

    def __init__(
        self,
        env_id: str = SANITY_ENV,
        horizon: int = SANITY_HORIZON,
        scale: float = SANITY_SCALE,
        action_mode: str = "absolute",
    ) -> None:
        self.env_id, self.horizon, self.scale, self.action_mode = env_id, horizon, scale, action_mode

    def make(self):
        from dexbench.generators.scripted import make_demonstrator

        env = make_sanity_env(self.env_id, self.horizon, self.action_mode)
        return env, CorruptedHands(make_demonstrator(env), env.action_layout, self.scale), make_demonstrator(env)

    def __call__(self):
        env, base, _ = self.make()
        return env, base
