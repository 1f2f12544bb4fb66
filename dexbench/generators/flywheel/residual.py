"""The residual RL problem of the flywheel: a frozen base policy, and a correction learnt on top.

At every step the base policy (an imitation policy, the one protocol) proposes an action `a`;
the residual policy sees the state and `a` and outputs `delta` in [-1, 1]^A; the env executes
`a + alpha * delta` (delta in the env's action units: a pose delta of 1 moves the hand 5 cm /
0.5 rad in either action mode, a hand command of 1 is the full range). While training, the
corrected action is used only with probability epsilon, rising linearly from 0 to 1 over the
first `epsilon_steps` steps (Policy Decorator's progressive exploration): early on the base
policy's successes fill the data, and the residual's share grows as it learns. The reward is
the task's dense reward plus `success_bonus` on success, which ends the episode, minus
`penalty` times the residual's mean square: in delta action mode a correction is a velocity, so
a small constant bias walks the hand away over an episode, and the residual must earn every
correction it makes.

The residual sees the state normalised by the base's own statistics (a BC base's training data)
and the base's action. What the residual adds is measured paired, base against base + residual
on the same episodes (`benchmarks/residual_sweep.py`): outcomes flip both ways on many seeds.

`ResidualEnv` is a Gymnasium env, so stable-baselines3 (or any RL library) trains on it as is;
`train_residual` trains one with stable-baselines3's PPO (or SAC) and saves it beside a JSON
file saying how to apply it; `ResidualPolicy` is the base and its residual together, a policy of
the one protocol (for rollouts and evaluation).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dexbench.envs.actions import POSE_ACTION_UNIT
from dexbench.envs.embodiments.base import ARMS
from dexbench.jsonio import write_json_atomic
from dexbench.policies.bc.data import flatten_obs, state_obs_keys

LEARNERS = ("ppo", "sac")
RESIDUAL_FORMAT = "dexbench-residual"
# PPO on a small budget must not wreck a working base (docs/generation.md, Pouring-PandaDex, base
# 56 %): learning rate 3e-4 without a KL bound took base + residual to 0-10 %; 3e-5 with updates
# stopped at a KL of 0.01, a zero initial residual and exploration of 0.14 alpha kept 60 %.
INITIAL_LOG_STD = -2.0  # the exploration of either learner at first (SAC: its log-std layer's bias)
PPO_LEARNING_RATE = 3e-5
PPO_TARGET_KL = 0.01  # an update's epochs stop once the policy moved this far


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
                 success_bonus: float = 5.0, penalty: float = 0.0, obs_stats=None, hold: int = 1,
                 configurations: list[int] | None = None) -> None:
        if env.reward_type != "dense" or not env.terminate_on_success:
            raise ValueError("ResidualEnv needs its env made with reward_type='dense' and terminate_on_success=True")
        if not (np.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        if epsilon_steps < 0:
            raise ValueError(f"epsilon_steps must be >= 0, got {epsilon_steps!r}")
        if not (np.isfinite(penalty) and penalty >= 0):
            raise ValueError(f"penalty must be a number >= 0, got {penalty!r}")
        if isinstance(hold, bool) or not isinstance(hold, (int, np.integer)) or hold < 1:
            raise ValueError(f"hold must be an integer >= 1, got {hold!r}")
        self.hold = int(hold)
        # Train on these configurations (episode seeds) in turn, rather than on new ones drawn
        # at every reset: the configurations the combined policy will be rolled out on.
        self.configurations = [int(c) for c in configurations] if configurations else None
        self._episodes = 0
        self.env, self.base = env, base
        self.alpha, self.epsilon_steps, self.success_bonus = float(alpha), int(epsilon_steps), float(success_bonus)
        self.penalty = float(penalty)
        # The residual sees the state the base sees, on the base's scale when it has one (a BC
        # base: its training data's mean and std): raw, the state mixes metres, radians and
        # unit flags, and PPO's first layer learns from it slowly.
        if obs_stats is None:
            self.obs_keys = state_obs_keys(env.observation_space.spaces)
            obs_dim = sum(int(np.prod(env.observation_space[k].shape)) for k in self.obs_keys)
            self._mean, self._std = np.zeros(obs_dim), np.ones(obs_dim)
        else:
            keys, mean, std = obs_stats
            self.obs_keys, self._mean, self._std = list(keys), np.asarray(mean, np.float64), np.asarray(std, np.float64)
        self._units = action_units(env)
        self._low, self._high = env.action_space.low, env.action_space.high
        act_dim = env.action_space.shape[0]
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(self._mean.size + act_dim,), dtype=np.float32)
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
        if seed is None and self.configurations:
            seed = self.configurations[self._episodes % len(self.configurations)]
        self._episodes += 1
        obs, info = self.env.reset(seed=seed, options=options)
        self.base.reset(seed)
        return self._observe(obs), info

    def step(self, delta):
        """One decision: the correction held for `hold` env steps (the base acts at every one)."""
        delta = np.clip(np.asarray(delta, dtype=np.float64), -1.0, 1.0)
        self.corrected = bool(self.np_random.random() < self.epsilon)
        correction = self.alpha * self._units * delta if self.corrected else 0.0
        total = 0.0
        for i in range(self.hold):
            action = np.clip(self._base_action + correction, self._low, self._high).astype(np.float32)
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.steps_taken += 1
            total += (float(reward) + self.success_bonus * bool(info["is_success"])
                      - self.penalty * float(np.mean(delta ** 2)))
            if terminated or truncated:
                break
            if i + 1 < self.hold:
                self._base_action = np.asarray(self.base.act(obs), dtype=np.float64)
        return self._observe(obs), total, terminated, truncated, info

    def _observe(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        self._base_action = np.asarray(self.base.act(obs), dtype=np.float64)
        return residual_input(obs, self.obs_keys, self._mean, self._std, self._base_action)

    def close(self) -> None:
        self.env.close()


def residual_input(obs: dict[str, np.ndarray], keys: list[str], mean: np.ndarray, std: np.ndarray,
                   base_action: np.ndarray) -> np.ndarray:
    """What the residual sees: the normalised state and the base's action."""
    return np.concatenate([(flatten_obs(obs, keys) - mean) / std, base_action]).astype(np.float32)


def make_learner(name: str, env: ResidualEnv, seed: int, steps: int, overrides: dict | None = None):
    import torch
    from stable_baselines3 import PPO, SAC

    # A small network and short rollouts: the residual corrects a competent base, it does not
    # learn the task (and the CPU budget is minutes per iteration; benchmarks/residual_rl.py).
    kwargs = dict(seed=seed, device="cpu", verbose=0, policy_kwargs={"net_arch": [128, 128]})
    overrides = dict(overrides or {})
    log_std = overrides.pop("log_std_init", INITIAL_LOG_STD)
    if name == "ppo":
        kwargs["policy_kwargs"]["log_std_init"] = log_std
        n_steps = min(overrides.pop("n_steps", 1024), max(64, steps))  # a short run still ends where asked
        settings = dict(n_steps=n_steps, batch_size=min(256, n_steps), n_epochs=5, learning_rate=PPO_LEARNING_RATE,
                        target_kl=PPO_TARGET_KL)
        model = PPO("MlpPolicy", env, **{**settings, **overrides}, **kwargs)
        mean_layer = model.policy.action_net
    else:
        settings = dict(learning_starts=1000, batch_size=256, buffer_size=100_000)
        model = SAC("MlpPolicy", env, **{**settings, **overrides}, **kwargs)
        mean_layer = model.actor.mu
        torch.nn.init.zeros_(model.actor.log_std.weight)
        torch.nn.init.constant_(model.actor.log_std.bias, log_std)
    # The residual starts at exactly zero: base + residual is the base until learning says
    # otherwise. Stable-baselines3's small random init is not zero on our unnormalised state
    # (a mean of 0.07 on one dimension), and in delta action mode a constant correction is a
    # velocity: it walked the hand away (56 % -> 0 % on Pouring before this).
    torch.nn.init.zeros_(mean_layer.weight)
    torch.nn.init.zeros_(mean_layer.bias)
    return model


def train_residual(env, base, out, steps: int, alpha: float = 0.1, epsilon_steps: int = 10_000,
                   success_bonus: float = 5.0, penalty: float = 0.0, learner: str = "ppo", seed: int = 0,
                   base_checkpoint: str | None = None, learner_overrides: dict | None = None, hold: int = 1,
                   configurations: list[int] | None = None) -> dict:
    """Train a residual on `base` (frozen) in `env` (made with reward_type="dense" and
    terminate_on_success=True) for `steps` env steps; saves `out/residual.zip` (stable-baselines3)
    and `out/residual.json` (how to apply it, and the training's episode log). Returns that JSON."""
    import time
    from pathlib import Path

    import torch

    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}, got {learner!r}")
    if steps < 1:
        raise ValueError(f"residual steps must be >= 1, got {steps}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    obs_stats = base.observation_stats() if hasattr(base, "observation_stats") else None
    residual_env = ResidualEnv(env, base, alpha=alpha, epsilon_steps=epsilon_steps, success_bonus=success_bonus,
                               penalty=penalty, obs_stats=obs_stats, hold=hold, configurations=configurations)
    episodes: list[tuple[int, bool]] = []  # (steps taken when it ended, success)
    step = residual_env.step

    def logged_step(delta):
        result = step(delta)
        if result[2] or result[3]:
            episodes.append((residual_env.steps_taken, bool(result[4]["is_success"])))
        return result

    residual_env.step = logged_step
    from dexbench.policies.bc.policy import one_thread

    torch.manual_seed(seed)
    cpu0 = time.process_time()
    with one_thread():  # small networks: see one_thread; also the same numbers in any process
        model = make_learner(learner, residual_env, seed, steps, learner_overrides)
        model.learn(-(-steps // hold))  # the learner counts decisions, each `hold` env steps
    tmp = out / "residual.tmp.zip"
    model.save(tmp)
    record = {"format": RESIDUAL_FORMAT, "learner": learner, "steps": int(steps), "alpha": float(alpha), "hold": int(hold),
              "epsilon_steps": int(epsilon_steps), "success_bonus": float(success_bonus), "penalty": float(penalty),
              "seed": int(seed), "configurations": residual_env.configurations,
              "base_checkpoint": base_checkpoint, "env_id": env.env_id, "obs_keys": residual_env.obs_keys,
              "obs_mean": residual_env._mean.tolist(), "obs_std": residual_env._std.tolist(),
              "units": action_units(env).tolist(), "cpu_s": time.process_time() - cpu0,
              "episodes": [list(e) for e in episodes]}
    tmp.replace(out / "residual.zip")
    write_json_atomic(out / "residual.json", record)  # last: its presence marks a finished training
    return record


class ResidualPolicy:
    """A BC base and a trained residual: `a + alpha * units * delta(state, a)` (the residual's
    mean action). `residual=None` runs the base alone, to measure what the residual adds."""

    def __init__(self, observation_space, action_space, checkpoint: str, residual: str | None = None) -> None:
        import json
        from pathlib import Path

        from dexbench.policies.bc.policy import BCPolicy

        self.base = BCPolicy(observation_space, action_space, checkpoint)
        self.name = self.base.name + ("+residual" if residual else "")
        self._low, self._high = action_space.low, action_space.high
        self.model, self._t = None, 0
        if residual is not None:
            from stable_baselines3 import PPO, SAC

            record = json.loads((Path(residual) / "residual.json").read_text())
            if record.get("format") != RESIDUAL_FORMAT:
                raise ValueError(f"{residual} holds no dexbench residual (residual.json of format {RESIDUAL_FORMAT})")
            self.obs_keys, self.alpha = list(record["obs_keys"]), float(record["alpha"])
            dim = sum(int(np.prod(observation_space[k].shape)) for k in self.obs_keys)
            self._mean = np.asarray(record.get("obs_mean", np.zeros(dim)), dtype=np.float64)
            self._std = np.asarray(record.get("obs_std", np.ones(dim)), dtype=np.float64)
            self.units = np.asarray(record["units"], dtype=np.float64)
            self.hold = int(record.get("hold", 1))
            learner = PPO if record["learner"] == "ppo" else SAC
            self.model = learner.load(Path(residual) / "residual.zip", device="cpu")

    def reset(self, seed: int | None = None) -> None:
        self.base.reset(seed)
        self._t = 0

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action = np.asarray(self.base.act(obs), dtype=np.float64)
        if self.model is None:
            return action
        from dexbench.policies.bc.policy import one_thread

        if self._t % self.hold == 0:  # a new decision; held for `hold` steps, as in training
            x = residual_input(obs, self.obs_keys, self._mean, self._std, action)
            with one_thread():
                delta, _ = self.model.predict(x, deterministic=True)
            self._correction = self.alpha * self.units * np.clip(delta, -1.0, 1.0)
        self._t += 1
        return np.clip(action + self._correction, self._low, self._high)
