"""DexBench: bimanual dexterous manipulation benchmark on MuJoCo and Gymnasium.

`import dexbench` registers every `DexMG/<Task>-<Embodiment>-D<k>` id with Gymnasium.
"""

import os

__version__ = "0.1.0"

# Headless by default: offscreen rendering through EGL unless the user chose a backend.
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"

from dexbench.envs.registry import ENV_TABLE, lookup, make_env, register_all

register_all()


def make(env_id: str, **kwargs):
    """`gymnasium.make` with DexBench's error for unknown ids (lists the closest ones)."""
    import gymnasium as gym

    entry = lookup(env_id)
    return gym.make(entry.env_id, **kwargs)


__all__ = ["ENV_TABLE", "__version__", "lookup", "make", "make_env", "register_all"]
