"""Export to a LeRobot dataset (https://github.com/huggingface/lerobot, format v3.0), written
with the lerobot package (`LeRobotDataset.create`, `add_frame`, `save_episode`, `finalize`).

`out` is the dataset root: `out/{meta/info.json, data/chunk-000/*.parquet, ...}`. Load it with
`LeRobotDataset("dexbench/<out name>", root="out")` (the repo id is only a name; nothing is
fetched from the Hub).

Mapping: one LeRobot episode per demo, one frame per step at the env's control rate (20 fps).
LeRobot's policies read `observation.state` and `observation.images.<camera>`, so:
- `observation.state` (float32): every stored non-image observation, flattened and concatenated
  in key order; its `names` say which element is which (`right_joint_pos_0`, ...), and
  `info["dexbench"]["state_layout"]` gives each key's slice.
- `observation.images.<camera>`: each `<camera>_image` observation as a LeRobot `image` feature
  (PNG in the parquet files: lossless, so the export's pixels are the dataset's).
- `action` (float32, named by the env's action layout), `next.reward` (float32), `next.done`
  (bool, true on the last frame).
- `task`: the task's one-line description (its module docstring's first line).
A LeRobot frame holds the observation *before* its action, so the observation after the last
action (Minari keeps it) has no frame and is left out, as in LeRobot's own simulation datasets.
LeRobot has one done flag; whether each demo ended in success (terminated) or was cut short
(truncated) is kept per episode in `info["dexbench"]["episodes"]`, with its demo key, seed,
variant and generator, beside the provenance (env id, env kwargs, suite version, source path
and SHA-256).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from tqdm import tqdm

from dexbench.datasets.export import ExportSource

REPO_NAMESPACE = "dexbench"  # LeRobot ids are "<namespace>/<name>", as on the Hub
IMAGE_SUFFIX = "_image"  # DexEnv names a camera's observation "<camera>_image"
INFO_PATH = Path("meta") / "info.json"


def _task_text(source: ExportSource) -> str:
    """The task's one-line description: its module docstring's first line, without the name."""
    doc = sys.modules[type(source.env.task).__module__].__doc__ or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return first.partition(": ")[2].strip() or first.strip() or source.env_id


def _element_names(key: str, size: int) -> list[str]:
    return [key] if size == 1 else [f"{key}_{i}" for i in range(size)]


def _layout(source: ExportSource) -> tuple[list[str], list[str], dict[str, list[int]], list[str]]:
    """Image keys, state keys, each state key's [start, stop) in observation.state, and its names."""
    images, state, slices, names = [], [], {}, []
    for key, space in source.observation_space.spaces.items():
        if source.is_image(key):
            images.append(key)
            continue
        size = int(np.prod(space.shape))
        slices[key] = [len(names), len(names) + size]
        names += _element_names(key, size)
        state.append(key)
    return images, state, slices, names


def _action_names(source: ExportSource) -> list[str]:
    size = int(np.prod(source.action_space.shape))
    names = [""] * size
    for slot, s in getattr(source.env, "action_layout", {}).items():
        for i, index in enumerate(range(*s.indices(size))):
            names[index] = f"{slot}_{i}"
    return names if all(names) else _element_names("action", size)


def export(source: ExportSource, out: Path, final: Path, progress: bool = False) -> dict[str, Any]:
    """Write the export into `out` (a staging path, renamed to `final` once complete)."""
    name = final.name
    repo_id = f"{REPO_NAMESPACE}/{name}"
    images, state_keys, slices, state_names = _layout(source)
    camera_of = {key: key.removesuffix(IMAGE_SUFFIX) for key in images}
    features: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": (len(state_names),), "names": state_names},
        "action": {"dtype": "float32", "shape": source.action_space.shape, "names": _action_names(source)},
        "next.reward": {"dtype": "float32", "shape": (1,), "names": None},
        "next.done": {"dtype": "bool", "shape": (1,), "names": None},
    }
    for key in images:
        features[f"observation.images.{camera_of[key]}"] = {
            "dtype": "image",
            "shape": source.observation_space[key].shape,
            "names": ["height", "width", "channels"],
        }
    if not state_keys:
        del features["observation.state"]
    fps = float(source.env.control_freq)
    if not fps.is_integer():
        raise ValueError(f"LeRobot needs a whole number of frames per second; {source.env_id} steps at {fps:g} Hz")
    dataset = LeRobotDataset.create(
        repo_id, fps=int(fps), features=features, root=out, robot_type=source.entry.embodiment, use_videos=False
    )
    task = _task_text(source)
    episodes = []
    try:
        for episode in tqdm(source.episodes(), total=len(source.reader), desc="lerobot", disable=not progress):
            T = episode.num_steps
            state = (
                np.concatenate([episode.observations[k][:T].reshape(T, -1) for k in state_keys], axis=1).astype(
                    np.float32
                )
                if state_keys
                else None
            )
            actions = episode.actions.astype(np.float32)
            for t in range(T):
                frame = {
                    "action": actions[t],
                    "next.reward": np.float32([episode.rewards[t]]),
                    "next.done": np.array([t == T - 1]),
                    "task": task,
                }
                if state is not None:
                    frame["observation.state"] = state[t]
                for key in images:
                    frame[f"observation.images.{camera_of[key]}"] = episode.observations[key][t]
                dataset.add_frame(frame)
            dataset.save_episode()
            attrs = episode.attrs
            episodes.append(
                {
                    "demo": episode.key,
                    "length": T,
                    "seed": attrs.get("seed"),
                    "variant": attrs.get("variant"),
                    "generator": attrs.get("generator"),
                    "success": attrs.get("success"),
                    "end_reason": attrs.get("end_reason"),
                    "terminated": bool(episode.terminations[-1]),
                    "truncated": bool(episode.truncations[-1]),
                }
            )
    finally:
        dataset.finalize()
    info_path = out / INFO_PATH
    info = json.loads(info_path.read_text())
    info["dexbench"] = {
        **source.metadata(),
        "task": task,
        "state_layout": slices,
        "image_keys": {camera_of[k]: k for k in images},
        "episodes": episodes,
    }
    info_path.write_text(json.dumps(info, indent=4, default=_json_default))
    return {"repo_id": repo_id, "state_keys": state_keys, "load": f"LeRobotDataset({repo_id!r}, root={str(final)!r})"}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
