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
    demo_keys: list[str] | None = None  # the dataset's demo names, so errors can point at one

    def demo_name(self, i: int) -> str:
        return self.demo_keys[i] if self.demo_keys else f"demo #{i}"

    def check_trainable(self, source: str) -> None:
        """Refuse data that would crash training deep inside numpy, or train to a NaN loss and
        a NaN checkpoint: no demos, empty demos, ragged widths, NaN or infinite values.
        `source` (the file, or "in-memory demos") is named in the message."""
        if not self.actions:
            raise ValueError(f"{source} holds no demos to train on; generate or record some first")
        obs_dim, act_dim = self.obs[0].shape[-1], self.actions[0].shape[-1]
        for i, (obs, act) in enumerate(zip(self.obs, self.actions)):
            name = self.demo_name(i)
            if len(act) == 0:
                raise ValueError(f"{source}: {name} has no steps; drop it from the dataset")
            if obs.ndim != 2 or act.ndim != 2 or len(obs) != len(act):
                raise ValueError(f"{source}: {name} has observations {obs.shape} and actions {act.shape}; "
                                 "they must be (T, dim) with the same T; regenerate the dataset")
            if obs.shape[1] != obs_dim or act.shape[1] != act_dim:
                raise ValueError(f"{source}: {name} has {obs.shape[1]}-D observations and {act.shape[1]}-D "
                                 f"actions, the first demo {obs_dim}-D and {act_dim}-D; one dataset, one env")
            _check_finite(source, name, "observations", obs)
            _check_finite(source, name, "actions", act)

    @property
    def num_samples(self) -> int:
        return int(sum(len(a) for a in self.actions))

    def stats(self) -> dict[str, np.ndarray]:
        """Mean and std of observations and actions over all samples."""
        obs = np.concatenate(self.obs)
        act = np.concatenate(self.actions)
        return {"obs_mean": obs.mean(0), "obs_std": np.maximum(obs.std(0), STD_FLOOR),
                "act_mean": act.mean(0), "act_std": np.maximum(act.std(0), STD_FLOOR)}


def _check_finite(source: str, demo: str, what: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        step, col = (int(x) for x in np.argwhere(bad)[0])
        raise ValueError(f"{source}: {demo} has {int(bad.sum())} non-finite value(s) (NaN or inf) in its {what}, "
                         f"first at step {step}, column {col}; training on them gives a NaN policy: "
                         "regenerate the dataset or drop that demo")


def state_obs_keys(keys) -> list[str]:
    """The state keys among observation keys (images are left out), sorted."""
    return sorted(k for k in keys if not k.endswith("_image"))


def flatten_obs(obs: dict[str, np.ndarray], keys: list[str]) -> np.ndarray:
    missing = [k for k in keys if k not in obs]
    if missing:
        raise KeyError(f"observation lacks {missing}; the policy was trained on {keys}")
    return np.concatenate([np.asarray(obs[k], dtype=np.float32).reshape(-1) for k in keys])


def check_max_demos(max_demos: int | None) -> None:
    # 0 used to mean "all demos" (keys[:0] is falsy) and -1 "all but the last", both silently.
    if max_demos is not None and (isinstance(max_demos, bool) or not isinstance(max_demos, (int, np.integer))
                                  or max_demos < 1):
        raise ValueError(f"max_demos (--max-demos) must be an integer >= 1 (or left out for all demos), "
                         f"got {max_demos!r}")


def load_demo_arrays(path: str | Path, max_demos: int | None = None) -> DemoArrays:
    """All (or the first `max_demos`) demos of a dataset as flat state-observation/action arrays."""
    check_max_demos(max_demos)
    with load_dataset(path) as ds:
        keys = list(ds.keys[:max_demos] if max_demos else ds.keys)
        if not keys:
            raise ValueError(f"{path} holds no demos to train on; generate or record some first")
        obs_keys = state_obs_keys(ds.obs_keys(keys[0]))
        if not obs_keys:
            raise ValueError(f"{path} has no state observations (obs/<key>); record it with obs_mode 'state'")
        obs, actions = [], []
        for key in keys:
            obs.append(np.concatenate([ds.array(key, f"obs/{k}").reshape(ds.num_samples(key), -1)
                                       for k in obs_keys], axis=1).astype(np.float32))
            actions.append(ds.array(key, "actions").astype(np.float32))
        return DemoArrays(obs=obs, actions=actions, obs_keys=obs_keys, env_id=ds.env_id, env_kwargs=ds.env_kwargs,
                          demo_keys=keys)
