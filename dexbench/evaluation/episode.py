"""One evaluation episode: a policy on an env from one reset seed, ended at the first success."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dexbench.rollout import rollout
from dexbench.video import FrameGrabber, write_video


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    length: int
    return_: float


def run_episode(
    env, policy, seed: int, video_path: str | Path | None = None, camera: str = "agentview", video_size: int = 256
) -> EpisodeResult:
    """One evaluation episode of `policy` on `env` from reset `seed` (optionally filmed): it
    ends at the first success or when the env truncates (horizon, physics error)."""
    grabber = FrameGrabber(env, camera, video_size) if video_path is not None else None
    episode = rollout(env, policy, seed, success_hold_steps=1, record=False, stop_when_done=False, on_step=grabber)
    if grabber is not None:
        write_video(grabber.frames, video_path, getattr(env, "unwrapped", env).control_freq)
    return EpisodeResult(
        seed=int(seed), success=episode.success, length=episode.num_samples, return_=float(episode.rewards.sum())
    )
