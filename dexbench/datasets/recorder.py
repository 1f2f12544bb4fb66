"""Record episodes of a DexEnv driven by a demonstrator, and collect successful demos to HDF5.

`record_episode` steps one episode and keeps everything a dataset and a generator need (the
layout of DESIGN.md section 7): per step, the physics state and observation *before* the
action, the action, the datagen info (EEF poses, the target poses and hand commands the action
asks for, object poses), and after the step the reward, done flag and subtask signals (so
`subtask_signals[name][t]` says whether the subtask had ended once action t was applied).

`collect_demos` records scripted demos until `n` succeed and writes them with `DatasetWriter`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

DEMONSTRATOR_DONE_EXTRA_STEPS = 20  # steps recorded after the demonstrator finishes its script
DEFAULT_SUCCESS_HOLD_STEPS = 10


class Demonstrator(Protocol):
    done: bool

    def reset(self) -> None: ...

    def act(self) -> np.ndarray: ...


@dataclass
class Episode:
    """One recorded episode. Arrays are indexed by step t = 0..T-1.

    - `actions` (T, A), `states` (T, S): the state *before* action t (`states[0]` is the state
      right after reset, `initial_state`), `rewards` (T,), `dones` (T,) (1 on the last step).
    - `obs`: dict key -> (T, ...) observations before action t; `final_obs` the one after the
      last action (so next_obs = obs[1:] + final_obs).
    - `datagen_info`: {"eef_pose": {arm: (T,4,4)}, "target_pose": {arm: (T,4,4)},
      "hand_action": {arm: (T,k)}, "object_pose": {obj: (T,4,4)},
      "subtask_signals": {name: (T,) bool, value after step t}}.
    """

    env_id: str | None
    variant: str
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
    end_reason: str = ""  # "success" | "demonstrator_done" | "max_steps" | "truncated" | "terminated" | "physics_error"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return int(self.actions.shape[0])

    def __len__(self) -> int:
        return self.num_samples


def _stack(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not rows:
        return {}
    return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}


def record_episode(
    env,
    demonstrator: Demonstrator,
    seed: int | None,
    max_steps: int | None = None,
    success_hold_steps: int = DEFAULT_SUCCESS_HOLD_STEPS,
    on_step: Callable[[Any], None] | None = None,
) -> Episode:
    """Reset `env` with `seed`, run `demonstrator` and record the episode.

    `demonstrator.reset()` runs after the env reset and may restore another state with
    `env.reset_to` (replay-based generators); the episode then starts from that state.

    Stops when `info["is_success"]` has held for `success_hold_steps` consecutive steps, when
    the demonstrator is done and 20 more steps have passed, at `max_steps` (default: the env's
    horizon), or when the env terminates or truncates (horizon, physics error).
    `on_step(env)` is called after reset and after every step (e.g. to grab video frames).
    `env` may be a wrapper; its `unwrapped` DexEnv is used.
    """
    env = getattr(env, "unwrapped", env)
    max_steps = env.horizon if max_steps is None else int(max_steps)
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if success_hold_steps < 1:
        raise ValueError(f"success_hold_steps must be >= 1, got {success_hold_steps}")

    obs, _ = env.reset(seed=seed)
    reset_state = env.get_state()
    demonstrator.reset()
    initial_state = env.get_state()
    if not np.array_equal(initial_state, reset_state):
        # The demonstrator restored a state of its own (e.g. a source demo's initial state with
        # `env.reset_to`): observe that state, not the seeded reset's.
        obs = env.reset_to(initial_state)
    if on_step is not None:
        on_step(env)

    actions, states, rewards, dones, obs_rows = [], [], [], [], []
    eef_rows, target_rows, hand_rows, object_rows, signal_rows = [], [], [], [], []
    success_run = 0
    steps_since_done = 0
    success = False
    end_reason = "max_steps"
    info: dict[str, Any] = {}
    for _ in range(max_steps):
        action = np.asarray(demonstrator.act(), dtype=np.float64)
        states.append(env.get_state())
        obs_rows.append(obs)
        eef_rows.append(env.eef_poses())
        targets, hand = env.action_to_target_pose(action)
        target_rows.append(targets)
        hand_rows.append(hand)
        object_rows.append(env.object_poses())
        actions.append(action)

        obs, reward, terminated, truncated, info = env.step(action)
        if on_step is not None:
            on_step(env)
        rewards.append(float(reward))
        dones.append(bool(terminated or truncated))
        signal_rows.append({k: bool(v) for k, v in info["subtask_signals"].items()})
        success = bool(info["is_success"])
        success_run = success_run + 1 if success else 0

        if "physics_error" in info:
            end_reason = "physics_error"
            success = False
            break
        if success_run >= success_hold_steps:
            end_reason = "success"
            break
        if terminated:
            end_reason = "terminated"
            break
        if truncated:
            end_reason = "truncated"
            break
        if demonstrator.done:
            steps_since_done += 1
            if steps_since_done > DEMONSTRATOR_DONE_EXTRA_STEPS:
                end_reason = "demonstrator_done"
                break

    dones_arr = np.asarray(dones, dtype=np.uint8)
    dones_arr[-1] = 1
    episode_info = {k: v for k, v in info.items() if k not in ("subtask_signals",)}
    return Episode(
        env_id=env.env_id,
        variant=env.variant,
        seed=seed,
        actions=np.stack(actions),
        states=np.stack(states),
        rewards=np.asarray(rewards, dtype=np.float64),
        dones=dones_arr,
        obs=_stack(obs_rows),
        final_obs={k: np.asarray(v).copy() for k, v in obs.items()},
        datagen_info={
            "eef_pose": _stack(eef_rows),
            "target_pose": _stack(target_rows),
            "hand_action": _stack(hand_rows),
            "object_pose": _stack(object_rows),
            "subtask_signals": {k: v.astype(bool) for k, v in _stack(signal_rows).items()},
        },
        success=success,
        initial_state=initial_state,
        end_reason=end_reason,
        info=episode_info,
    )


# ---------------------------------------------------------------------------- scripted demos
def default_demonstrator(env, rng: np.random.Generator):
    """The task's scripted demonstrator (imported lazily: generators depend on envs, not back)."""
    from dexbench.generators.scripted import make_demonstrator

    return make_demonstrator(env, rng)


def demonstrator_rng(seed: int) -> np.random.Generator:
    """The demonstrator's own random stream for the attempt with env seed `seed` (reproducible,
    independent of the env's reset stream)."""
    return np.random.default_rng([int(seed), 0xD3E0])


@dataclass
class CollectionReport:
    env_id: str
    out: str
    requested: int
    attempts: int = 0
    successes: int = 0
    lengths: list[int] = field(default_factory=list)  # of the successful demos
    wall_s: float = 0.0
    end_reasons: dict[str, int] = field(default_factory=dict)  # over all attempts

    @property
    def success_rate(self) -> float:
        return self.successes / self.attempts if self.attempts else 0.0

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths)) if self.lengths else 0.0

    def rows(self) -> list[tuple[str, str]]:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.end_reasons.items())) or "-"
        return [
            ("env", self.env_id),
            ("output", self.out),
            ("attempts", str(self.attempts)),
            ("successes", f"{self.successes} / {self.requested} requested"),
            ("success rate", f"{100 * self.success_rate:.1f} %"),
            ("mean length", f"{self.mean_length:.1f} steps"),
            ("episode ends", reasons),
            ("wall time", f"{self.wall_s:.1f} s"),
        ]

    def table(self) -> str:
        width = max(len(k) for k, _ in self.rows())
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.rows())


def collect_demos(
    env_id: str,
    n: int,
    out: str | Path,
    seed: int = 0,
    max_attempts: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    demonstrator_factory: Callable[[Any, np.random.Generator], Demonstrator] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    success_hold_steps: int = DEFAULT_SUCCESS_HOLD_STEPS,
) -> CollectionReport:
    """Record scripted demos of `env_id` (attempt i uses seed `seed + i`) until `n` succeed or
    `max_attempts` (default 5 n) are spent; keep the successes and write them to `out`."""
    from tqdm import tqdm

    from dexbench.datasets.writer import DatasetWriter
    from dexbench.envs.registry import lookup, make_env

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    max_attempts = 5 * n if max_attempts is None else int(max_attempts)
    if max_attempts < n:
        raise ValueError(f"max_attempts ({max_attempts}) must be >= n ({n})")
    entry = lookup(env_id)
    env_kwargs = dict(env_kwargs or {})
    env = make_env(entry.task, entry.embodiment, entry.variant, **env_kwargs)
    factory = demonstrator_factory or default_demonstrator
    report = CollectionReport(env_id=entry.env_id, out=str(out), requested=n)
    start = time.perf_counter()
    try:
        with DatasetWriter(out, env, env_kwargs=env_kwargs, overwrite=overwrite) as writer:
            bar = tqdm(total=n, desc=f"demos {entry.env_id}", unit="demo", disable=not progress)
            try:
                for attempt in range(max_attempts):
                    if report.successes >= n:
                        break
                    attempt_seed = seed + attempt
                    demonstrator = factory(env, demonstrator_rng(attempt_seed))
                    episode = record_episode(env, demonstrator, attempt_seed,
                                             success_hold_steps=success_hold_steps)
                    report.attempts += 1
                    report.end_reasons[episode.end_reason] = report.end_reasons.get(episode.end_reason, 0) + 1
                    if episode.success:
                        writer.add_episode(episode, generator="scripted")
                        report.successes += 1
                        report.lengths.append(episode.num_samples)
                    writer.attempts = report.attempts
                    bar.set_postfix(attempts=report.attempts, success=f"{100 * report.success_rate:.0f}%",
                                    refresh=False)
                    bar.update(1 if episode.success else 0)
            finally:
                bar.close()
    finally:
        env.close()
        report.wall_s = time.perf_counter() - start
    return report


def record_video(
    env,
    demonstrator: Demonstrator,
    seed: int,
    out: str | Path,
    camera: str = "agentview",
    size: int = 256,
    fps: float | None = None,
    max_steps: int | None = None,
) -> Episode:
    """Run one demonstrator episode and write the `camera` view of every step to `out` (mp4 via
    imageio-ffmpeg, or gif). Returns the recorded episode."""
    import imageio.v2 as imageio

    env = getattr(env, "unwrapped", env)
    if camera not in env.available_cameras():
        raise ValueError(f"unknown camera {camera!r}; this env has {env.available_cameras()}")
    frames: list[np.ndarray] = []
    episode = record_episode(env, demonstrator, seed, max_steps=max_steps,
                             on_step=lambda e: frames.append(e.render_camera_image(camera, (size, size))))
    fps = fps or env.control_freq
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if str(out).lower().endswith(".gif"):
        imageio.mimsave(out, frames, duration=1000.0 / fps)
    else:
        imageio.mimsave(out, frames, fps=fps, macro_block_size=1)
    return episode
