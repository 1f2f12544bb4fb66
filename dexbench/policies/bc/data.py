"""Behaviour-cloning data: a dataset's observations and actions as arrays.

State BC reads the env's state keys (no images), concatenated in sorted key order; the order
and the normalisation statistics travel with the checkpoint, so the policy rebuilds the same
vector from a live observation. Pixel BC (`obs="rgb"`) reads the camera images a dataset got
from `dexbench dataset render-obs`, kept as uint8 in memory (normalised per batch, by the
encoder), plus the proprioception (`PROPRIOCEPTION`) as the flat vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexbench.datasets import load_dataset
from dexbench.envs.embodiments.base import ARMS

STD_FLOOR = 1e-2  # dims that barely move in the data (a constant quaternion) are not blown up

# Proprioception: the robot's own state (the per-arm keys of `DexEnv.observation`), what pixel
# BC reads besides its images. Object poses, articulations (`<joint>_pos`), choices and object
# variants are left out: a pixel policy has to see them (CanSort's colour is the can's paint).
PROPRIOCEPTION = tuple(f"{arm}_{part}" for arm in ARMS
                       for part in ("joint_pos", "joint_vel", "eef_pos", "eef_quat", "hand_qpos"))
RENDER_HINT = ("add them with `dexbench dataset render-obs FILE --cameras agentview --size 84 --out IMAGES.hdf5` "
               "and train on IMAGES.hdf5")


@dataclass
class DemoArrays:
    obs: list[np.ndarray]  # per demo (T, obs_dim) float32
    actions: list[np.ndarray]  # per demo (T, act_dim) float32
    obs_keys: list[str]
    env_id: str
    env_kwargs: dict
    demo_keys: list[str] | None = None  # the dataset's demo names, so errors can point at one
    images: list[np.ndarray] | None = None  # pixel BC: per demo (T, cameras, H, W, 3) uint8
    cameras: list[str] | None = None  # pixel BC: the cameras of `images`, in order

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
        if self.images is not None:
            self._check_images(source)

    def _check_images(self, source: str) -> None:
        first = self.images[0].shape[1:] if self.images else None
        for i, (images, act) in enumerate(zip(self.images, self.actions)):
            if (images.dtype != np.uint8 or images.ndim != 5 or images.shape[0] != len(act)
                    or images.shape[1] != len(self.cameras or []) or images.shape[-1] != 3):
                raise ValueError(f"{source}: {self.demo_name(i)} has images {images.shape} ({images.dtype}); pixel BC "
                                 f"needs uint8 (T, {len(self.cameras or [])} cameras, H, W, 3) with T = "
                                 f"{len(act)} steps: render them again with `dexbench dataset render-obs`")
            if images.shape[1:] != first:
                raise ValueError(f"{source}: {self.demo_name(i)} has images {images.shape[1:]}, the first demo "
                                 f"{first}; one image size per dataset")
        if first is not None and first[1] != first[2]:
            raise ValueError(f"{source}: images are {first[1]}x{first[2]} px; pixel BC reads square images "
                             "(`dexbench dataset render-obs --size N`)")

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


def image_cameras(env_kwargs: dict, obs_keys: list[str]) -> list[str]:
    """The cameras whose images a dataset holds (`obs/<camera>_image`), in the order its env
    kwargs name them (render-obs records them there)."""
    held = {k[:-len("_image")] for k in obs_keys if k.endswith("_image")}
    named = [c for c in env_kwargs.get("camera_names", []) if c in held]
    return named + sorted(held - set(named))


def load_demo_arrays(path: str | Path, max_demos: int | None = None, obs: str = "state") -> DemoArrays:
    """All (or the first `max_demos`) demos of a dataset as flat observation/action arrays: the
    state keys (`obs="state"`), or the proprioception plus every camera's images (`"rgb"`)."""
    check_max_demos(max_demos)
    if obs not in ("state", "rgb"):
        raise ValueError(f"obs (--obs) must be 'state' or 'rgb', got {obs!r}")
    with load_dataset(path) as ds:
        keys = list(ds.keys[:max_demos] if max_demos else ds.keys)
        if not keys:
            raise ValueError(f"{path} holds no demos to train on; generate or record some first")
        obs_keys = state_obs_keys(ds.obs_keys(keys[0]))
        if not obs_keys:
            raise ValueError(f"{path} has no state observations (obs/<key>); record it with obs_mode 'state'")
        cameras = None
        if obs == "rgb":
            obs_keys = [k for k in obs_keys if k in PROPRIOCEPTION]
            if not obs_keys:
                raise ValueError(f"{path} has none of the robot's own observations ({', '.join(PROPRIOCEPTION[:2])}, "
                                 "...) that pixel BC reads beside the images; record it with DexBench")
            cameras = image_cameras(ds.env_kwargs, ds.obs_keys(keys[0]))
            if not cameras:
                raise ValueError(f"{path} has no camera images (obs/<camera>_image) for pixel BC (--obs rgb); "
                                 + RENDER_HINT)
        flat, actions, images = [], [], []
        for key in keys:
            flat.append(np.concatenate([ds.array(key, f"obs/{k}").reshape(ds.num_samples(key), -1)
                                        for k in obs_keys], axis=1).astype(np.float32))
            actions.append(ds.array(key, "actions").astype(np.float32))
            if cameras:
                missing = [c for c in cameras if not ds.has(key, f"obs/{c}_image")]
                if missing:
                    raise ValueError(f"{path}: {key} lacks the images of {', '.join(missing)}; " + RENDER_HINT)
                images.append(np.stack([ds.array(key, f"obs/{c}_image") for c in cameras], axis=1))
        return DemoArrays(obs=flat, actions=actions, obs_keys=obs_keys, env_id=ds.env_id, env_kwargs=ds.env_kwargs,
                          demo_keys=keys, images=images if cameras else None, cameras=cameras)
