"""The residual RL problem of the flywheel: a frozen base policy, and a correction learnt on top.

At every step the base policy (an imitation policy, the one protocol) proposes an action `a`;
the residual policy sees the state and `a` and outputs `delta` in [-1, 1]^A; the env executes
`a + alpha * delta` (delta in the env's action units: a pose delta of 1 moves the hand 5 cm /
0.5 rad in either action mode, a hand command of 1 is the full range). While training, the
corrected action is used only with probability epsilon, rising linearly from 0 to 1 over the
first `epsilon_steps` steps (Policy Decorator's progressive exploration): early on the base
policy's successes fill the data, and the residual's share grows as it learns. The reward is
the task's dense reward plus `success_bonus` on success, which ends the episode.

`ResidualEnv` is a Gymnasium env, so stable-baselines3 (or any RL library) trains on it as is.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dexbench.envs.core import POSE_ACTION_UNIT
from dexbench.envs.embodiments.base import ARMS
from dexbench.policies.bc.data import flatten_obs, state_obs_keys


def action_units(env) -> np.ndarray:
    """Per action dimension, what a residual of 1 means in the env's action (see the module)."""
    units = np.ones(env.action_space.shape, dtype=np.float64)
    if env.action_mode == "absolute":
        for arm in ARMS:
            units[env.action_layout[f"{arm}_pose"]] = POSE_ACTION_UNIT
    return units


class ResidualEnv(gym.Env):
    """`env` (a DexBench env made with reward_type="dense" and terminate_on_success=True) seen
    by a residual policy on top of the frozen `base` policy."""

    metadata = {"render_modes": []}

    def __init__(self, env, base, alpha: float = 0.1, epsilon_steps: int = 20_000,
                 success_bonus: float = 5.0) -> None:
        if env.reward_type != "dense" or not env.terminate_on_success:
            raise ValueError("ResidualEnv needs its env made with reward_type='dense' and terminate_on_success=True")
        if not (np.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        if epsilon_steps < 0:
            raise ValueError(f"epsilon_steps must be >= 0, got {epsilon_steps!r}")
        self.env, self.base = env, base
        self.alpha, self.epsilon_steps, self.success_bonus = float(alpha), int(epsilon_steps), float(success_bonus)
        self.obs_keys = state_obs_keys(env.observation_space.spaces)
        self._units = action_units(env)
        self._low, self._high = env.action_space.low, env.action_space.high
        act_dim = env.action_space.shape[0]
        obs_dim = sum(int(np.prod(env.observation_space[k].shape)) for k in self.obs_keys) + act_dim
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(act_dim,), dtype=np.float32)
        self.steps_taken = 0  # over all episodes: drives epsilon
        self.corrected = False  # whether the last step executed the corrected action

    @property
    def epsilon(self) -> float:
        if self.epsilon_steps == 0:
            return 1.0
        return min(1.0, self.steps_taken / self.epsilon_steps)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=seed, options=options)
        self.base.reset(seed)
        return self._observe(obs), info

    def step(self, delta):
        delta = np.clip(np.asarray(delta, dtype=np.float64), -1.0, 1.0)
        self.corrected = bool(self.np_random.random() < self.epsilon)
        action = self._base_action + (self.alpha * self._units * delta if self.corrected else 0.0)
        obs, reward, terminated, truncated, info = self.env.step(np.clip(action, self._low, self._high).astype(np.float32))
        self.steps_taken += 1
        reward = float(reward) + self.success_bonus * bool(info["is_success"])
        return self._observe(obs), reward, terminated, truncated, info

    def _observe(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        self._base_action = np.asarray(self.base.act(obs), dtype=np.float64)
        return np.concatenate([flatten_obs(obs, self.obs_keys), self._base_action.astype(np.float32)])

    def close(self) -> None:
        self.env.close()
