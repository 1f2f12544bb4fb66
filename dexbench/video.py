"""Videos of rollouts: grab a camera's frames while an episode runs, write them as mp4 or gif."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MIN_FRAME_SIZE = 16  # px: a side below this is refused (ffmpeg cannot encode it)


class FrameGrabber:
    """An `on_step` callback for `dexbench.rollout.rollout` that keeps one camera's frames;
    with `progress`, a progress bar over the `total` frames expected (`close()` ends it)."""

    def __init__(
        self,
        env,
        camera: str = "agentview",
        size: int = 256,
        progress: bool = False,
        total: int | None = None,
        desc: str = "video",
    ) -> None:
        env = getattr(env, "unwrapped", env)
        if camera not in env.available_cameras():
            raise ValueError(f"unknown camera {camera!r}; {env.env_id} has {', '.join(env.available_cameras())}")
        check_frame_size(size)
        self.camera, self.size = camera, int(size)
        self.frames: list[np.ndarray] = []
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True)

    def __call__(self, env) -> None:
        self.frames.append(env.render_camera_image(self.camera, (self.size, self.size)))
        if self.bar is not None:
            self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def check_frame_size(size: int) -> None:
    if not MIN_FRAME_SIZE <= int(size) <= 1024:
        raise ValueError(
            f"frame size {size} px is out of range: give a side from {MIN_FRAME_SIZE} to 1024 px (e.g. --size 256)"
        )


def check_video_path(path: str | os.PathLike) -> Path:
    """Refuse a video path that cannot be written before any frame is rendered."""
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"{path}: a video is written as .mp4 or .gif; give one of those suffixes")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name such as {path / 'replay.mp4'}")
    return path


def write_video(frames: list[np.ndarray], path: str | os.PathLike, fps: float) -> Path:
    """Write frames to `path` (mp4 via imageio-ffmpeg, or gif by the suffix); an empty result is
    an error, never a silently missing file."""
    import imageio.v2 as imageio

    path = Path(path)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the output (same suffix: imageio picks the format by it), then renamed: an
    # interrupted write leaves the old video, never half a new one.
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        if path.suffix.lower() == ".gif":
            imageio.mimsave(partial, frames, duration=1000.0 / fps)
        else:
            imageio.mimsave(partial, frames, fps=fps, macro_block_size=1)
        if not partial.is_file() or partial.stat().st_size == 0:
            raise OSError(f"writing {path} produced no file; check the disk and the file name's suffix (.mp4 or .gif)")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
