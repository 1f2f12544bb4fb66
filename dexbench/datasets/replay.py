"""Replay a stored demo in the env: the proof that a dataset is physically valid.

`replay_demo` rebuilds the env from the dataset's `env_args`, restores the demo's stored
initial state, steps its actions, and compares the state before every action with the stored
one. Optionally it renders every step to a video.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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


def replay_demo(path: str | os.PathLike, demo_key: str | int, video: str | os.PathLike | None = None,
                camera: str = "agentview", size: int = 256, fps: float | None = None,
                max_steps: int | None = None) -> ReplayResult:
    """Replay demo `demo_key` ("demo_3" or 3) of the dataset at `path` from its stored initial
    state; write the `camera` view of every step to `video` (mp4, or gif) when given.
    `max_steps`: replay only the first steps (a quick preview; `success` is then the state's)."""
    from dexbench.datasets.reader import load_dataset
    from dexbench.envs.registry import lookup, make_env

    key = f"demo_{demo_key}" if isinstance(demo_key, (int, np.integer)) or str(demo_key).isdigit() else str(demo_key)
    with load_dataset(path) as ds:
        actions = ds.array(key, "actions")
        states = ds.array(key, "states")
        attrs = ds.demo_attrs(key)
        entry = lookup(ds.env_id)
        env_kwargs = ds.env_kwargs
    env = make_env(entry.task, entry.embodiment, entry.variant, **env_kwargs)
    try:
        if video is not None and camera not in env.available_cameras():
            raise ValueError(f"unknown camera {camera!r}; {entry.env_id} has {', '.join(env.available_cameras())}")
        frames: list[np.ndarray] = []

        def grab() -> None:
            if video is not None:
                frames.append(env.render_camera_image(camera, (size, size)))

        seed = int(attrs.get("seed", -1))
        env.reset(seed=seed if seed >= 0 else None)
        env.reset_to(states[0])
        grab()
        max_error = 0.0
        success = ever = False
        total = len(actions)
        if max_steps is not None:
            actions = actions[:max(int(max_steps), 1)]
        for t, action in enumerate(actions):
            max_error = max(max_error, float(np.max(np.abs(env.get_state() - states[t]))))
            _, _, _, _, info = env.step(action)
            grab()
            success = bool(info["is_success"])
            ever = ever or success
    finally:
        env.close()
    out = None
    if video is not None:
        import imageio.v2 as imageio

        out = str(video)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fps = fps or env.control_freq
        if out.lower().endswith(".gif"):
            imageio.mimsave(out, frames, duration=1000.0 / fps)
        else:
            imageio.mimsave(out, frames, fps=fps, macro_block_size=1)
    return ReplayResult(demo=key, steps=len(actions), success=success, ever_success=ever,
                        stored_success=bool(attrs.get("success", True)), max_state_error=max_error, video=out,
                        total_steps=total)
