"""Render the task images in docs/images: each task on each embodiment, at reset and mid-demo.

    python docs/render_images.py
"""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np

from dexbench.envs.registry import make_env
from dexbench.generators.scripted import make_demonstrator

OUT = Path(__file__).resolve().parent / "images"
SIZE = (360, 480)  # (height, width)
MID_DEMO_STEP = {"TrayLift": 230, "Pouring": 120}  # a telling moment of each scripted demo


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for task in ("TrayLift", "Pouring"):
        row = []
        for embodiment in ("Panda", "PandaDex", "GR1"):
            env = make_env(task, embodiment, "D0")
            env.reset(seed=0)
            start = env.render_camera_image("agentview", SIZE)
            demo = make_demonstrator(env, np.random.default_rng(0))
            demo.reset()
            for _ in range(MID_DEMO_STEP[task]):
                env.step(demo.act())
            middle = env.render_camera_image("agentview", SIZE)
            imageio.imwrite(OUT / f"{task}-{embodiment}.png", start)
            row.append(np.concatenate([start, middle], axis=0))
            env.close()
        imageio.imwrite(OUT / f"{task}.png", np.concatenate(row, axis=1))
        print("wrote", OUT / f"{task}.png")


if __name__ == "__main__":
    main()
