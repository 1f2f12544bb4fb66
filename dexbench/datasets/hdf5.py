"""HDF5 datasets in the robomimic-compatible layout (docs/design.md, "Data format").

```
/data                 attrs: env_args (JSON: env_name, type=2, env_kwargs, dexbench_version),
                      total, attempts, mujoco_version, dexbench_version, model_xml,
                      format_version, complete
/model_mjb            the compiled model as MuJoCo binary (uint8): exact for the same mujoco
                      (files before format 2: /data/model_mjb)
/data/demo_<i>        attrs: num_samples, variant (the layout), generator, source_demo, seed, success, end_reason
                      (+ any `Episode.info` items named in the writer's `info_attrs`, and the
                      `attrs` given to `add_episode`; non-scalars as JSON text)
  actions (T,A) states (T,S) rewards (T,) dones (T,)
  obs/<key> (T,...)   next_obs/<key> (T,...) (optional; robomimic loads it by default)
  datagen_info/eef_pose/<arm> (T,4,4)  target_pose/<arm> (T,4,4)  hand_action/<arm> (T,k)
               object_pose/<obj> (T,4,4)  subtask_signals/<name> (T,)
               (+ any other group of `Episode.datagen_info`, e.g. subtask_index/<arm> (T,))
/mask/<name>          lists of demo keys: `train` and `valid` (90/10, robomimic's filter keys)
                      in every complete file, plus any the writer was given
```

This module holds the format (constants, errors, attribute encoding); `writer.py` writes it
(atomically) and `reader.py` reads it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 2  # 2: the compiled model moved out of /data (robomimic reads /data as demos)
MODEL_MJB_PATH = "model_mjb"
VALID_FRACTION = 0.1  # robomimic's split_train_val default
GYM_ENV_TYPE = 2  # robomimic's EnvType.GYM_TYPE
DATAGEN_GROUPS = ("eef_pose", "target_pose", "hand_action", "object_pose", "subtask_signals")
COMPRESS_MIN_BYTES = 16 * 1024  # smaller arrays are stored plain (compression costs more than it saves)
H5_LIBVER = ("v108", "v108")  # readable by any HDF5 >= 1.8; allows attributes > 64 KiB (model_xml)
DEMO_KEY_RE = re.compile(r"^demo_(\d+)$")


class DatasetError(Exception):
    """A file that is not a readable DexBench dataset; the message names the file, the problem
    and the fix."""


def default_masks(num_demos: int) -> dict[str, list[str]]:
    """robomimic's `train` / `valid` filter keys: a fixed 10 % of the demos held out (the same
    demos for the same count, as robomimic's split_train_val draws them at random). A file of
    2-9 demos holds out one (10 % rounds down to none there); from 10 demos on the split is
    the 10 % it always was, so published datasets keep their masks."""
    n_valid = int(VALID_FRACTION * num_demos)
    if num_demos >= 2:
        n_valid = max(1, n_valid)
    held_out = set(np.random.default_rng(0).permutation(num_demos)[:n_valid].tolist())
    keys = [f"demo_{i}" for i in range(num_demos)]
    return {
        "train": [k for i, k in enumerate(keys) if i not in held_out],
        "valid": [k for i, k in enumerate(keys) if i in held_out],
    }


def dexbench_version() -> str:
    from dexbench import __version__

    return __version__


def demo_digest(actions: Any, states: Any) -> str:
    """The SHA-256 of a demo's actions and states as they are stored (dtype, shape and bytes):
    what a generator submission records per attempt, so that a re-run attempt is checked bit
    for bit. An in-memory episode and the demo written from it give the same digest."""
    h = hashlib.sha256()
    for name, value in (("actions", actions), ("states", states)):
        array = np.ascontiguousarray(np.asarray(value))
        h.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def demo_index(key: str) -> int:
    match = DEMO_KEY_RE.match(key)
    return int(match.group(1)) if match else -1


def json_default(value: Any) -> Any:
    """`json.dumps(default=...)` for numpy arrays and scalars and paths."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def attr_value(value: Any) -> Any:
    """An HDF5 attribute value: scalars (bool, int, float, str) as they are, anything else
    (dicts, lists, arrays) as JSON text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, default=json_default)
