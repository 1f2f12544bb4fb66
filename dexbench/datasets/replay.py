"""Replay a stored demo in the env: the proof that a dataset is physically valid.

`replay_demo` rebuilds the env from the dataset's `env_args`, restores the demo's stored
initial state, steps its actions through the rollout loop, and compares the state before every
action with the stored one. A replay is *faithful* when the states match (on the machine and
mujoco that recorded it: exactly) and the env judges the outcome as the dataset says.
Optionally it renders every step to a video.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

REPLAY_STATE_TOLERANCE = 1e-6  # max state deviation of a faithful replay (same machine: exactly 0)


@dataclass
class ReplayResult:
    demo: str
    steps: int
    success: bool  # the env judged the state after the last action a success
    ever_success: bool  # ... or any state along the way
    stored_success: bool  # what the dataset says (the demo's `success` attr)
    max_state_error: float  # max |state - stored state| over the replayed steps (0.0: exact replay)
    video: str | None = None
    total_steps: int = 0  # the demo's length (steps < total_steps: a replay cut short by max_steps)

    @property
    def complete(self) -> bool:
        return self.steps == self.total_steps

    @property
    def faithful(self) -> bool:
        """The states stay within tolerance and, for a complete replay, the outcome agrees."""
        agrees = not self.complete or self.success == self.stored_success
        return self.max_state_error <= REPLAY_STATE_TOLERANCE and agrees


class ReplayPolicy:
    """Restores a stored initial state, then plays the stored actions, measuring how far the
    state before each action is from the stored one."""

    def __init__(self, env, actions: np.ndarray, states: np.ndarray) -> None:
        self.env, self.actions, self.states = env, actions, states
        self.t, self.max_error = 0, 0.0

    def reset(self, seed: int | None = None) -> None:
        self.env.reset_to(self.states[0])
        self.t, self.max_error = 0, 0.0

    def act(self, obs) -> np.ndarray:
        self.max_error = max(self.max_error, float(np.max(np.abs(self.env.get_state() - self.states[self.t]))))
        self.t += 1
        return self.actions[self.t - 1]


def replay_demo(
    path: str | os.PathLike,
    demo_key: str | int,
    video: str | os.PathLike | None = None,
    camera: str = "agentview",
    size: int = 256,
    fps: float | None = None,
    max_steps: int | None = None,
    progress: bool = False,
) -> ReplayResult:
    """Replay demo `demo_key` ("demo_3" or 3) of the dataset at `path` from its stored initial
    state; write the `camera` view of every step to `video` (mp4, or gif) when given.
    `max_steps`: replay only the first steps (a quick preview; `success` is then the state's).
    `progress`: a progress bar over the frames while a video is rendered (the slow part)."""
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.datasets.reader import load_dataset
    from dexbench.envs.registry import build_env, lookup
    from dexbench.rollout import PolicyActionError, rollout
    from dexbench.video import FrameGrabber, check_video_path, write_video

    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if video is not None:
        check_video_path(video)

    key = f"demo_{demo_key}" if isinstance(demo_key, (int, np.integer)) or str(demo_key).isdigit() else str(demo_key)
    with load_dataset(path) as ds:
        actions = ds.array(key, "actions")
        states = ds.array(key, "states")
        attrs = ds.demo_attrs(key)
        env_id, env_kwargs = ds.env_id, ds.env_kwargs
    try:
        lookup(env_id)
    except Exception as err:  # noqa: BLE001 - gymnasium's error for an unknown id
        raise DatasetError(
            f"{path}: its env {env_id!r} is not a DexBench env ({err}); was it written by another "
            "suite or a newer DexBench?"
        ) from None
    env = build_env(env_id, **env_kwargs)
    try:
        total = len(actions)
        steps = total if max_steps is None else min(max(int(max_steps), 1), total)
        grabber = (
            FrameGrabber(env, camera, size, progress=progress, total=steps + 1, desc=f"replay {key}")
            if video is not None
            else None
        )
        successes: list[bool] = []

        def on_step(e) -> None:
            if grabber is not None:
                grabber(e)
            successes.append(e.is_success())

        policy = ReplayPolicy(env, actions, states)
        seed = int(attrs.get("seed", -1))
        # Success never stops a replay early: every stored action is played.
        try:
            episode = rollout(
                env,
                policy,
                seed if seed >= 0 else None,
                max_steps=steps,
                success_hold_steps=steps + 1,
                record=False,
                stop_when_done=False,
                on_step=on_step,
            )
        except PolicyActionError as err:
            raise DatasetError(
                f"{path}: {key} holds an action the env refuses at step {policy.t - 1} "
                f"({str(err).split(': ', 1)[-1]}); the dataset is damaged"
            ) from None
        finally:
            if grabber is not None:
                grabber.close()
        out = str(write_video(grabber.frames, video, fps or env.control_freq)) if grabber is not None else None
    finally:
        env.close()
    return ReplayResult(
        demo=key,
        steps=episode.num_samples,
        success=successes[-1],
        ever_success=any(successes[1:]),
        stored_success=bool(attrs.get("success", True)),
        max_state_error=policy.max_error,
        video=out,
        total_steps=total,
    )
