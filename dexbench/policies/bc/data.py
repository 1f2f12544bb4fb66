"""Behaviour-cloning data: a dataset's observations and actions as arrays.

State BC reads the env's state keys (no images), concatenated in sorted key order; the order
and the normalisation statistics travel with the checkpoint, so the policy rebuilds the same
vector from a live observation. Pixel BC (`obs="rgb"`) reads the camera images a dataset got
from `dexbench dataset render-obs`, kept as uint8 in memory (normalised per batch, by the
encoder), plus the proprioception (`PROPRIOCEPTION`) as the flat vector. Images larger in all
than `IMAGES_IN_MEMORY_BYTES` stay in the file and a batch reads its frames from it (`FileFrames`):
a 1,000-demo dataset with four cameras would not fit in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexbench.datasets import load_dataset
from dexbench.envs.embodiments.base import ARMS

STD_FLOOR = 1e-2  # dims that barely move in the data (a constant quaternion) are not blown up
# Pixel BC holds a dataset's images in memory up to this size (uncompressed); above it, frames are
# read from the file per batch (one compressed chunk per frame: about a tenth more per step).
IMAGES_IN_MEMORY_BYTES = 4 * 2**30

# Proprioception: the robot's own state (the per-arm keys of `DexEnv.observation`), what pixel
# BC reads besides its images. Object poses, articulations (`<joint>_pos`), choices and object
# variants are left out: a pixel policy has to see them (CanSort's colour is the can's paint).
PROPRIOCEPTION = tuple(
    f"{arm}_{part}" for arm in ARMS for part in ("joint_pos", "joint_vel", "eef_pos", "eef_quat", "hand_qpos")
)
RENDER_HINT = (
    "add them with `dexbench dataset render-obs FILE --cameras agentview --size 84 --out IMAGES.hdf5` "
    "and train on IMAGES.hdf5"
)


@dataclass
class DemoArrays:
    obs: list[np.ndarray]  # per demo (T, obs_dim) float32
    actions: list[np.ndarray]  # per demo (T, act_dim) float32
    obs_keys: list[str]
    env_id: str
    env_kwargs: dict
    demo_keys: list[str] | None = None  # the dataset's demo names, so errors can point at one
    images: list[np.ndarray] | None = None  # pixel BC: per demo (T, cameras, H, W, 3) uint8 (or FileFrames)
    cameras: list[str] | None = None  # pixel BC: the cameras of `images`, in order
    reader: object | None = None  # the open dataset `FileFrames` read from (close() closes it)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

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
                raise ValueError(
                    f"{source}: {name} has observations {obs.shape} and actions {act.shape}; "
                    "they must be (T, dim) with the same T; regenerate the dataset"
                )
            if obs.shape[1] != obs_dim or act.shape[1] != act_dim:
                raise ValueError(
                    f"{source}: {name} has {obs.shape[1]}-D observations and {act.shape[1]}-D "
                    f"actions, the first demo {obs_dim}-D and {act_dim}-D; one dataset, one env"
                )
            _check_finite(source, name, "observations", obs)
            _check_finite(source, name, "actions", act)
        if self.images is not None:
            self._check_images(source)

    def _check_images(self, source: str) -> None:
        first = self.images[0].shape[1:] if self.images else None
        for i, (images, act) in enumerate(zip(self.images, self.actions)):
            if (
                images.dtype != np.uint8
                or images.ndim != 5
                or images.shape[0] != len(act)
                or images.shape[1] != len(self.cameras or [])
                or images.shape[-1] != 3
            ):
                raise ValueError(
                    f"{source}: {self.demo_name(i)} has images {images.shape} ({images.dtype}); pixel BC "
                    f"needs uint8 (T, {len(self.cameras or [])} cameras, H, W, 3) with T = "
                    f"{len(act)} steps: render them again with `dexbench dataset render-obs`"
                )
            if images.shape[1:] != first:
                raise ValueError(
                    f"{source}: {self.demo_name(i)} has images {images.shape[1:]}, the first demo "
                    f"{first}; one image size per dataset"
                )
        if first is not None and first[1] != first[2]:
            raise ValueError(
                f"{source}: images are {first[1]}x{first[2]} px; pixel BC reads square images "
                "(`dexbench dataset render-obs --size N`)"
            )

    @property
    def num_samples(self) -> int:
        return int(sum(len(a) for a in self.actions))

    def stats(self) -> dict[str, np.ndarray]:
        """Mean and std of observations and actions over all samples."""
        obs = np.concatenate(self.obs)
        act = np.concatenate(self.actions)
        return {
            "obs_mean": obs.mean(0),
            "obs_std": np.maximum(obs.std(0), STD_FLOOR),
            "act_mean": act.mean(0),
            "act_std": np.maximum(act.std(0), STD_FLOOR),
        }


class FileFrames:
    """One demo's camera images left in the dataset file: `frames[t]` reads frame t of every
    camera, (cameras, H, W, 3) uint8, as the in-memory array's row would be."""

    def __init__(self, reader, key: str, cameras: list[str]) -> None:
        self._reader, self._key = reader, key
        self._sets = [reader.group(key)[f"obs/{c}_image"] for c in cameras]
        shapes = {s.shape for s in self._sets}
        if len(shapes) != 1:
            raise ValueError(
                f"{reader.path}: {key} has camera images of different shapes {sorted(shapes)}; "
                "render them again with `dexbench dataset render-obs`"
            )
        first = self._sets[0]
        self.shape = (first.shape[0], len(cameras)) + tuple(first.shape[1:])
        self.dtype, self.ndim = first.dtype, len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t) -> np.ndarray:
        try:
            return np.stack([s[t] for s in self._sets])
        except OSError as err:
            raise ValueError(
                f"{self._reader.path}: cannot read frame {t} of {self._key}'s images ({err}): the file "
                "is damaged or was changed during training; render the images again"
            ) from err


def _check_finite(source: str, demo: str, what: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        step, col = (int(x) for x in np.argwhere(bad)[0])
        raise ValueError(
            f"{source}: {demo} has {int(bad.sum())} non-finite value(s) (NaN or inf) in its {what}, "
            f"first at step {step}, column {col}; training on them gives a NaN policy: "
            "regenerate the dataset or drop that demo"
        )


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
    if max_demos is not None and (
        isinstance(max_demos, bool) or not isinstance(max_demos, (int, np.integer)) or max_demos < 1
    ):
        raise ValueError(
            f"max_demos (--max-demos) must be an integer >= 1 (or left out for all demos), got {max_demos!r}"
        )


def image_cameras(env_kwargs: dict, obs_keys: list[str]) -> list[str]:
    """The cameras whose images a dataset holds (`obs/<camera>_image`), in the order its env
    kwargs name them (render-obs records them there)."""
    held = {k[: -len("_image")] for k in obs_keys if k.endswith("_image")}
    named = [c for c in env_kwargs.get("camera_names", []) if c in held]
    return named + sorted(held - set(named))


def load_demo_arrays(
    path: str | Path,
    max_demos: int | None = None,
    obs: str = "state",
    images_in_memory_bytes: int = IMAGES_IN_MEMORY_BYTES,
) -> DemoArrays:
    """All (or the first `max_demos`) demos of a dataset as flat observation/action arrays: the
    state keys (`obs="state"`), or the proprioception plus every camera's images (`"rgb"`; left
    in the file, which then stays open until `close()`, when they are larger than
    `images_in_memory_bytes`)."""
    check_max_demos(max_demos)
    if obs not in ("state", "rgb"):
        raise ValueError(f"obs (--obs) must be 'state' or 'rgb', got {obs!r}")
    ds = load_dataset(path)
    try:
        data = _read_demo_arrays(ds, path, max_demos, obs, images_in_memory_bytes)
    except BaseException:
        ds.close()
        raise
    if data.reader is None:
        ds.close()
    return data


def _read_demo_arrays(ds, path, max_demos: int | None, obs: str, images_in_memory_bytes: int) -> DemoArrays:
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
            raise ValueError(
                f"{path} has none of the robot's own observations ({', '.join(PROPRIOCEPTION[:2])}, "
                "...) that pixel BC reads beside the images; record it with DexBench"
            )
        cameras = image_cameras(ds.env_kwargs, ds.obs_keys(keys[0]))
        if not cameras:
            raise ValueError(
                f"{path} has no camera images (obs/<camera>_image) for pixel BC (--obs rgb); " + RENDER_HINT
            )
        for key in keys:
            missing = [c for c in cameras if not ds.has(key, f"obs/{c}_image")]
            if missing:
                raise ValueError(f"{path}: {key} lacks the images of {', '.join(missing)}; " + RENDER_HINT)
    in_file = (
        bool(cameras)
        and sum(int(np.prod(ds.group(key)[f"obs/{c}_image"].shape)) for key in keys for c in cameras)
        > images_in_memory_bytes
    )
    flat, actions, images = [], [], []
    for key in keys:
        flat.append(
            np.concatenate(
                [ds.array(key, f"obs/{k}").reshape(ds.num_samples(key), -1) for k in obs_keys], axis=1
            ).astype(np.float32)
        )
        actions.append(ds.array(key, "actions").astype(np.float32))
        if cameras:
            images.append(
                FileFrames(ds, key, cameras)
                if in_file
                else np.stack([ds.array(key, f"obs/{c}_image") for c in cameras], axis=1)
            )
    return DemoArrays(
        obs=flat,
        actions=actions,
        obs_keys=obs_keys,
        env_id=ds.env_id,
        env_kwargs=ds.env_kwargs,
        demo_keys=keys,
        images=images if cameras else None,
        cameras=cameras,
        reader=ds if in_file else None,
    )
