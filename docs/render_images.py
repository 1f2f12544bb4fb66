"""Render the task images in docs/images: every task on each of its embodiments, at reset and
part-way through a scripted demo (images/<Task>-<Embodiment>.png and the strip images/<Task>.png).

    python docs/render_images.py [TASK ...]      (default: every task)
"""

from __future__ import annotations

import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np

from dexbench.envs.registry import make_env
from dexbench.envs.tasks import TASKS
from dexbench.generators.scripted import make_demonstrator
from dexbench.rollout import rollout

OUT = Path(__file__).resolve().parent / "images"
SIZE = (360, 480)  # (height, width)
MID_DEMO_FRACTION = 0.45  # the second image: this far through the scripted demo


def main(tasks: list[str]) -> None:
    OUT.mkdir(exist_ok=True)
    for task in tasks:
        row = []
        for embodiment in TASKS[task].embodiments:
            env = make_env(task, embodiment, "D0")
            episode = rollout(env, make_demonstrator(env), 0)
            env.reset_to(episode.states[0])
            start = env.render_camera_image("agentview", SIZE)
            env.reset_to(episode.states[int(MID_DEMO_FRACTION * episode.num_samples)])
            middle = env.render_camera_image("agentview", SIZE)
            imageio.imwrite(OUT / f"{task}-{embodiment}.png", start)
            row.append(np.concatenate([start, middle], axis=0))
            env.close()
        imageio.imwrite(OUT / f"{task}.png", np.concatenate(row, axis=1))
        print("wrote", OUT / f"{task}.png")


if __name__ == "__main__":
    main(sys.argv[1:] or list(TASKS))
