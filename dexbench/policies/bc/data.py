"""Behaviour-cloning data: a dataset's state observations and actions as flat float arrays.

Observations are the env's state keys (no images), concatenated in sorted key order; the order
and the normalisation statistics travel with the checkpoint, so the policy rebuilds the same
vector from a live observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexbench.datasets import load_dataset

STD_FLOOR = 1e-2  # dims that barely move in the data (a constant quaternion) are not blown up


@dataclass
class DemoArrays:
    obs: list[np.ndarray]  # per demo (T, obs_dim) float32
    actions: list[np.ndarray]  # per demo (T, act_dim) float32
    obs_keys: list[str]
    env_id: str
    env_kwargs: dict

    @property
    def num_samples(self) -> int:
        return int(sum(len(a) for a in self.actions))

    def stats(self) -> dict[str, np.ndarray]:
        """Mean and std of observations and actions over all samples."""
        obs = np.concatenate(self.obs)
        act = np.concatenate(self.actions)
        return {"obs_mean": obs.mean(0), "obs_std": np.maximum(obs.std(0), STD_FLOOR),
                "act_mean": act.mean(0), "act_std": np.maximum(act.std(0), STD_FLOOR)}


def state_obs_keys(keys) -> list[str]:
    """The state keys among observation keys (images are left out), sorted."""
    return sorted(k for k in keys if not k.endswith("_image"))


def flatten_obs(obs: dict[str, np.ndarray], keys: list[str]) -> np.ndarray:
    missing = [k for k in keys if k not in obs]
    if missing:
        raise KeyError(f"observation lacks {missing}; the policy was trained on {keys}")
    return np.concatenate([np.asarray(obs[k], dtype=np.float32).reshape(-1) for k in keys])


def load_demo_arrays(path: str | Path, max_demos: int | None = None) -> DemoArrays:
    """All (or the first `max_demos`) demos of a dataset as flat state-observation/action arrays."""
    with load_dataset(path) as ds:
        keys = ds.keys[: max_demos] if max_demos else ds.keys
        if not keys:
            raise ValueError(f"{path} holds no demos to train on")
        obs_keys = state_obs_keys(ds.obs_keys(keys[0]))
        if not obs_keys:
            raise ValueError(f"{path} has no state observations (obs/<key>); record it with obs_mode 'state'")
        obs, actions = [], []
        for key in keys:
            obs.append(np.concatenate([ds.array(key, f"obs/{k}").reshape(ds.num_samples(key), -1)
                                       for k in obs_keys], axis=1).astype(np.float32))
            actions.append(ds.array(key, "actions").astype(np.float32))
        return DemoArrays(obs=obs, actions=actions, obs_keys=obs_keys, env_id=ds.env_id, env_kwargs=ds.env_kwargs)
