"""Render docs/images/visual_factors.png: the agentview observation (fast preset, as a pixel
policy sees it) of one env under each visual factor, one row per factor (the published look
first), one column per reset seed.

    python docs/render_visual_factors.py [ENV_ID]      (default DexMG/TrayLift-Panda-D0)
"""

from __future__ import annotations

import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np

from dexbench.envs.appearance import FACTORS
from dexbench.envs.registry import build_env

OUT = Path(__file__).resolve().parent / "images" / "visual_factors.png"
SEEDS = (0, 1, 2, 3)
SIZE = 128  # px, square
GAP_PX = 2  # white lines between the images


def main(env_id: str) -> None:
    rows = []
    for factors in [()] + [(f,) for f in FACTORS] + [FACTORS]:
        env = build_env(env_id, obs_mode="rgb", image_size=SIZE, visual_factors=factors)
        images = [env.reset(seed=seed)[0]["agentview_image"] for seed in SEEDS]
        rows.append(_join(images, axis=1))
        env.close()
    OUT.parent.mkdir(exist_ok=True)
    imageio.imwrite(OUT, _join(rows, axis=0), optimize=True)
    print("wrote", OUT, "rows:", ", ".join(["none", *FACTORS, "all"]))


def _join(images: list[np.ndarray], axis: int) -> np.ndarray:
    shape = list(images[0].shape)
    shape[axis] = GAP_PX
    gap = np.full(shape, 255, dtype=np.uint8)
    parts = [part for image in images for part in (image, gap)][:-1]
    return np.concatenate(parts, axis=axis)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "DexMG/TrayLift-Panda-D0")
