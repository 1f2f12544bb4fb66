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

import dataclasses

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dexbench.envs.actions import POSE_ACTION_UNIT
from dexbench.envs.embodiments.base import ARMS
from dexbench.jsonio import write_json_atomic
from dexbench.policies.bc.data import flatten_obs, state_obs_keys
from dexbench.policies.device import resolve_device

LEARNERS = ("ppo", "sac", "td3")  # td3: our own off-policy learner (td3.py)
REWARDS = ("dense", "sparse")  # sparse: 1 on success, which ends the episode
RESIDUAL_FORMAT = "dexbench-residual"


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

    def __init__(
        self,
        env,
        base,
        alpha: float = 0.1,
        epsilon_steps: int = 20_000,
        success_bonus: float = 5.0,
        penalty: float = 0.0,
        obs_stats=None,
        hold: int = 1,
        configurations: list[int] | None = None,
        reward: str = "dense",
    ) -> None:
        if env.reward_type != "dense" or not env.terminate_on_success:
            raise ValueError("ResidualEnv needs its env made with reward_type='dense' and terminate_on_success=True")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        self.reward = reward
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
        options = dict(options or {})
        replay = options.pop("replay", None)
        if "steps_taken" in options:
            self.steps_taken = int(options.pop("steps_taken"))
        obs, info = self.env.reset(seed=seed, options=options or None)
        self.base.reset(seed)
        out = self._observe(obs)
        # A resumed training brings an interrupted episode back exactly: the env, the base and
        # the epsilon draws are deterministic given the seed and the corrections made so far.
        for delta in replay or ():
            out, _, terminated, truncated, info = self.step(delta)
            if terminated or truncated:
                raise ValueError(
                    "a replayed episode ended before its recorded corrections did: "
                    "the env or the base is not the one the checkpoint was made with"
                )
        return out, info

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
            success = bool(info["is_success"])
            if self.reward == "sparse":
                total += float(success)
            else:
                total += float(reward) + self.success_bonus * success
            if self.corrected:  # only a correction that was applied is charged
                total -= self.penalty * float(np.mean(delta**2))
            if terminated or truncated:
                break
            if i + 1 < self.hold:
                self._base_action = np.asarray(self.base.act(obs), dtype=np.float64)
        return self._observe(obs), total, terminated, truncated, {**info, "corrected": self.corrected}

    def _observe(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        self.last_obs = obs
        self._base_action = np.asarray(self.base.act(obs), dtype=np.float64)
        return residual_input(obs, self.obs_keys, self._mean, self._std, self._base_action)

    def demonstrate(self, teacher, seed: int) -> list[tuple] | None:
        """One episode of `teacher` (a policy of the one protocol on the same env), as the
        residual that would have turned the base's actions into the teacher's: transitions
        (obs, delta, reward, next_obs, terminated, ended), or None if the teacher failed. A
        correction beyond alpha's reach is clipped to it."""
        if self.hold != 1:
            raise ValueError("demonstrations are recorded a step at a time: train with hold=1 to use them")
        epsilon_steps, self.epsilon_steps = self.epsilon_steps, 0  # every step corrected
        try:
            obs, _ = self.reset(seed=seed)
            teacher.reset(seed)
            out = []
            while True:
                wanted = np.asarray(teacher.act(self.last_obs), dtype=np.float64)
                delta = np.clip((wanted - self._base_action) / (self.alpha * self._units), -1.0, 1.0)
                next_obs, reward, terminated, truncated, info = self.step(delta)
                out.append((obs, delta.astype(np.float32), reward, next_obs, terminated, terminated or truncated))
                obs = next_obs
                if terminated or truncated:
                    return out if info["is_success"] else None
        finally:
            self.epsilon_steps = epsilon_steps

    def close(self) -> None:
        self.env.close()


def residual_input(
    obs: dict[str, np.ndarray], keys: list[str], mean: np.ndarray, std: np.ndarray, base_action: np.ndarray
) -> np.ndarray:
    """What the residual sees: the normalised state and the base's action."""
    return np.concatenate([(flatten_obs(obs, keys) - mean) / std, base_action]).astype(np.float32)


def train_residual(
    env,
    base,
    out,
    steps: int,
    alpha: float = 0.1,
    epsilon_steps: int = 10_000,
    success_bonus: float = 5.0,
    penalty: float = 0.0,
    learner: str = "ppo",
    seed: int = 0,
    base_checkpoint: str | None = None,
    learner_overrides: dict | None = None,
    hold: int = 1,
    configurations: list[int] | None = None,
    reward: str = "dense",
    workers: int = 1,
    factory=None,
    teacher=None,
    demo_episodes: int = 0,
    resume: bool = False,
    checkpoint_every: int = 10_000,
    device: str = "cpu",
    progress: bool = False,
) -> dict:
    """Train a residual on `base` (frozen) in `env` (made with reward_type="dense" and
    terminate_on_success=True) for `steps` env steps; saves `out/residual.zip` (stable-baselines3)
    or `out/residual.pt` (td3: the actor's tensors) and `out/residual.json` (how to apply it, and
    the training's episode log). Returns that JSON.

    td3 only: `workers` envs step in parallel processes, each made by `factory()` -> (env, base)
    (picklable); `teacher` (a policy on the same env) records `demo_episodes` demonstrations
    mixed into every batch; the run checkpoints every `checkpoint_every` env steps into
    `out/train_state/` and `resume=True` continues from there bit for bit."""
    import time
    from pathlib import Path

    import torch

    from dexbench.policies.bc.policy import one_thread

    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}, got {learner!r}")
    if steps < 1:
        raise ValueError(f"residual steps must be >= 1, got {steps}")
    if learner != "td3" and (workers != 1 or teacher is not None or resume):
        raise ValueError("workers, demonstrations and resume are td3's (learner=td3); ppo and sac run one env")
    if workers > 1 and factory is None:
        raise ValueError("workers > 1 needs a factory that makes (env, base) in each worker process")
    device = resolve_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    obs_stats = base.observation_stats() if hasattr(base, "observation_stats") else None
    settings = dict(
        alpha=alpha,
        epsilon_steps=epsilon_steps,
        success_bonus=success_bonus,
        penalty=penalty,
        obs_stats=obs_stats,
        hold=hold,
        configurations=configurations,
        reward=reward,
    )
    residual_env = ResidualEnv(env, base, **settings)
    torch.manual_seed(seed)
    cpu0 = time.process_time()
    extra: dict = {}
    with one_thread():  # small networks: see one_thread; also the same numbers in any process
        if learner == "td3":
            from dexbench.generators.flywheel.td3 import TD3Config, checkpoint_folder

            config = TD3Config(**(learner_overrides or {}))
            demos = []
            resuming = resume and checkpoint_folder(out / "train_state") is not None  # its demonstrations are saved
            for k in range(0 if resuming else demo_episodes):
                episode = residual_env.demonstrate(teacher, DEMO_FIRST_SEED + k)
                demos.extend(episode or [])
            from dexbench.generators.flywheel.td3_training import learn_td3

            env_fns = (
                [_VectorMember(factory, settings) for _ in range(workers)] if workers > 1 else [lambda: residual_env]
            )
            run = {
                "config": dataclasses.asdict(config),
                "seed": int(seed),
                "workers": int(workers),
                "demo_episodes": int(demo_episodes),
                "env_id": env.env_id,
                "base_checkpoint": base_checkpoint,
                **{k: v for k, v in settings.items() if k != "obs_stats"},
            }
            episodes, model = learn_td3(
                env_fns,
                residual_env,
                config,
                steps,
                run,
                out / "train_state",
                demos,
                resume,
                checkpoint_every,
                device,
                progress,
            )
            extra = {
                "td3": dataclasses.asdict(config),
                "workers": int(workers),
                "demo_episodes": int(demo_episodes),
                "demo_transitions": int(model.demos.size),
                "learner_log": model.log,
            }
            tensors = {k: v.detach().cpu() for k, v in model.actor.state_dict().items()}
            torch.save(tensors, out / "residual.tmp.pt")
            (out / "residual.tmp.pt").replace(out / "residual.pt")
        else:
            episodes = []  # (steps taken when it ended, success)
            step = residual_env.step

            def logged_step(delta):
                result = step(delta)
                if result[2] or result[3]:
                    episodes.append((residual_env.steps_taken, bool(result[4]["is_success"])))
                return result

            residual_env.step = logged_step
            from dexbench.generators.flywheel.sb3_learners import make_learner

            model = make_learner(learner, residual_env, seed, steps, learner_overrides)
            model.learn(-(-steps // hold))  # the learner counts decisions, each `hold` env steps
            model.save(out / "residual.tmp.zip")
            (out / "residual.tmp.zip").replace(out / "residual.zip")
    record = {
        "format": RESIDUAL_FORMAT,
        "learner": learner,
        "steps": int(steps),
        "alpha": float(alpha),
        "hold": int(hold),
        "epsilon_steps": int(epsilon_steps),
        "success_bonus": float(success_bonus),
        "penalty": float(penalty),
        "reward": reward,
        "seed": int(seed),
        "configurations": residual_env.configurations,
        "base_checkpoint": base_checkpoint,
        "env_id": env.env_id,
        "obs_keys": residual_env.obs_keys,
        "obs_mean": residual_env._mean.tolist(),
        "obs_std": residual_env._std.tolist(),
        "units": action_units(env).tolist(),
        "cpu_s": time.process_time() - cpu0,
        **extra,
        "episodes": [list(e) for e in episodes],
    }
    write_json_atomic(out / "residual.json", record)  # last: its presence marks a finished training
    return record


DEMO_FIRST_SEED = 800_000  # demonstrations' episodes: apart from training, test and generation seeds


class BaseFactory:
    """(env, frozen BC base) made in a worker process: picklable, for td3's parallel envs."""

    def __init__(self, env_id: str, env_kwargs: dict, checkpoint: str) -> None:
        self.env_id, self.env_kwargs, self.checkpoint = env_id, dict(env_kwargs), checkpoint

    def __call__(self):
        from dexbench.envs.registry import build_env
        from dexbench.policies.bc.policy import BCPolicy

        env = build_env(self.env_id, **self.env_kwargs)
        return env, BCPolicy(env.observation_space, env.action_space, self.checkpoint)


class _VectorMember:
    """Makes one worker's ResidualEnv in its own process (picklable for gymnasium's AsyncVectorEnv)."""

    def __init__(self, factory, settings: dict) -> None:
        self.factory, self.settings = factory, settings

    def __call__(self) -> ResidualEnv:
        import torch

        torch.set_num_threads(1)
        env, base = self.factory()
        return ResidualEnv(env, base, **self.settings)


class ResidualPolicy:
    """A BC base and a trained residual: `a + alpha * units * delta(state, a)` (the residual's
    mean action). `residual=None` runs the base alone, to measure what the residual adds."""

    def __init__(
        self, observation_space, action_space, checkpoint: str | None = None, residual: str | None = None, base=None
    ) -> None:
        import json
        from pathlib import Path

        from dexbench.policies.bc.policy import BCPolicy

        # `base`: any policy of the protocol instead of a BC checkpoint (the sanity case's corrupted oracle)
        self.base = base if base is not None else BCPolicy(observation_space, action_space, checkpoint)
        self.name = getattr(self.base, "name", type(self.base).__name__) + ("+residual" if residual else "")
        self._low, self._high = action_space.low, action_space.high
        self.model, self._t = None, 0
        if residual is not None:
            record = json.loads((Path(residual) / "residual.json").read_text())
            if record.get("format") != RESIDUAL_FORMAT:
                raise ValueError(f"{residual} holds no dexbench residual (residual.json of format {RESIDUAL_FORMAT})")
            self.obs_keys, self.alpha = list(record["obs_keys"]), float(record["alpha"])
            dim = sum(int(np.prod(observation_space[k].shape)) for k in self.obs_keys)
            self._mean = np.asarray(record.get("obs_mean", np.zeros(dim)), dtype=np.float64)
            self._std = np.asarray(record.get("obs_std", np.ones(dim)), dtype=np.float64)
            self.units = np.asarray(record["units"], dtype=np.float64)
            self.hold = int(record.get("hold", 1))
            if record["learner"] == "td3":
                self.model = _load_td3_actor(
                    Path(residual) / "residual.pt",
                    len(self._mean) + len(self.units),
                    len(self.units),
                    int(record["td3"]["hidden"]),
                )
            else:
                from stable_baselines3 import PPO, SAC

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


class _TD3Actor:
    """A trained td3 actor with stable-baselines3's `predict` (the mean action, as PPO's and SAC's)."""

    def __init__(self, actor) -> None:
        self.actor = actor

    def predict(self, x: np.ndarray, deterministic: bool = True):
        import torch

        with torch.no_grad():
            return self.actor(torch.as_tensor(x, dtype=torch.float32)[None])[0].numpy(), None


def _load_td3_actor(path, obs_dim: int, act_dim: int, hidden: int) -> _TD3Actor:
    import torch

    from dexbench.generators.flywheel.td3 import Actor

    if not 1 <= hidden <= 4096:
        raise ValueError(f"{path}: a td3 residual of hidden width {hidden} is damaged; retrain it")
    actor = Actor(obs_dim, act_dim, hidden)
    try:
        actor.load_state_dict(torch.load(path, weights_only=True))
    except (RuntimeError, OSError, ValueError) as exc:  # a truncated file, other shapes, a pickle payload
        raise ValueError(f"{path} is not the td3 residual its residual.json describes ({exc}); retrain it") from None
    return _TD3Actor(actor.eval())
