"""Reading datasets (the layout is in `dexbench.datasets.hdf5`), with clear errors for files
that are not DexBench datasets."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import mujoco
import numpy as np

from dexbench.datasets.hdf5 import DEMO_KEY_RE, MODEL_MJB_PATH, DatasetError, demo_index
from dexbench.episode import Episode

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_regular_file(path: str | os.PathLike) -> None:
    """Refuse a dataset input that is not a regular file (a FIFO, a device such as /dev/zero, a
    socket; through a symlink too) before anything opens it: reading one would block or never
    end. Every dataset reader opens its input through `DatasetReader`, which calls this."""
    try:
        mode = os.stat(path).st_mode  # follows symlinks: a link to /dev/zero is /dev/zero
    except OSError:
        return  # missing or unreadable: the caller's own error says which
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
    target = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
    raise DatasetError(
        f"{path}{target}: {what}, not a dataset file; reading it would block or never end. Give a "
        "regular .hdf5 file (copy the data into one first)"
    )


def _read_group(group: h5py.Group) -> dict[str, np.ndarray]:
    return {k: group[k][()] for k in group if isinstance(group[k], h5py.Dataset)}


class DatasetReader:
    """Read-only access to a DexBench (or robomimic-layout) HDF5 dataset.

    `keys` / iteration: demo keys in index order; `demo_attrs(key)`; `array(key, "obs/x")`;
    `episode(key) -> Episode`; `attrs` (the /data attrs), `env_args`, `env_id`, `env_kwargs`,
    `masks`, `model_xml`, `load_model()`. Raises DatasetError for anything unreadable.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            hint = ""
            for suffix in (".partial", ".tmp"):
                other = self.path.with_name(self.path.name + suffix)
                if other.exists():
                    hint = f" ({other} exists: a run that did not finish kept its demos there)"
            raise DatasetError(
                f"{self.path}: no such file{hint}. Check the path, or record demos with "
                "`dexbench demo --env ID -n N --out FILE`."
            )
        if self.path.is_dir():
            raise DatasetError(f"{self.path} is a directory, not a dataset file: give the .hdf5 file in it")
        check_regular_file(self.path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise DatasetError(
                f"{self.path}: not a readable HDF5 file ({err}). It is truncated, corrupt or in another "
                "format. DexBench writes datasets atomically, so a finished write is never partial: "
                "regenerate the file (or copy it again if it was downloaded)."
            ) from err
        try:
            self._validate()
        except BaseException:
            self._file.close()
            raise

    def _fail(self, problem: str, fix: str) -> DatasetError:
        return DatasetError(f"{self.path}: {problem}. {fix}")

    def _validate(self) -> None:
        f = self._file
        if "data" not in f or not isinstance(f["data"], h5py.Group):
            raise self._fail(
                "no /data group, so this is not a DexBench/robomimic dataset",
                "Give a file written by DexBench (`dexbench demo`, DatasetWriter).",
            )
        data = f["data"]
        if "env_args" not in data.attrs:
            raise self._fail(
                "/data has no env_args attribute (not a DexBench/robomimic dataset)",
                "Give a file written by DexBench, or add the env_args JSON attribute.",
            )
        try:
            self.env_args = json.loads(data.attrs["env_args"])
        except (TypeError, ValueError) as err:
            raise self._fail(
                f"/data env_args is not valid JSON ({err})",
                "Rewrite it as a JSON object with env_name, type and env_kwargs.",
            ) from err
        if not isinstance(self.env_args, dict) or "env_name" not in self.env_args:
            raise self._fail("/data env_args has no env_name", "Rewrite env_args with the env id as env_name.")
        keys = [k for k in data if DEMO_KEY_RE.match(k) and isinstance(data[k], h5py.Group)]
        self._keys = sorted(keys, key=demo_index)
        for key in self._keys:
            grp = data[key]
            if "actions" not in grp:
                raise self._fail(f"/data/{key} has no actions", "The demo is incomplete: regenerate the dataset.")
            T = grp["actions"].shape[0]
            declared = grp.attrs.get("num_samples", T)
            if int(declared) != T:
                raise self._fail(
                    f"/data/{key} declares num_samples={declared} but has {T} actions",
                    "The demo is inconsistent: regenerate the dataset.",
                )
            for name in ("states", "rewards", "dones"):
                if name in grp and grp[name].shape[0] != T:
                    raise self._fail(
                        f"/data/{key}/{name} has {grp[name].shape[0]} rows, actions have {T}",
                        "The demo is inconsistent: regenerate the dataset.",
                    )

    # -- metadata -------------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._file["data"].attrs.items()}

    @property
    def env_id(self) -> str:
        return self.env_args["env_name"]

    @property
    def env_kwargs(self) -> dict[str, Any]:
        return dict(self.env_args.get("env_kwargs", {}))

    @property
    def total(self) -> int:
        return int(self._file["data"].attrs.get("total", len(self._keys)))

    @property
    def attempts(self) -> int | None:
        value = self._file["data"].attrs.get("attempts")
        return None if value is None else int(value)

    @property
    def complete(self) -> bool:
        return bool(self._file["data"].attrs.get("complete", True))

    @property
    def model_xml(self) -> str | None:
        value = self._file["data"].attrs.get("model_xml")
        return value.decode() if isinstance(value, bytes) else value

    @property
    def keys(self) -> list[str]:
        return list(self._keys)

    demo_keys = keys

    @property
    def masks(self) -> dict[str, list[str]]:
        """Named lists of demo keys (robomimic's filter keys); a mask naming a demo the file does
        not hold is refused (robomimic would fail on it later, mid-training)."""
        if "mask" not in self._file:
            return {}
        masks = {
            name: [k.decode() if isinstance(k, bytes) else str(k) for k in ds[()]]
            for name, ds in self._file["mask"].items()
        }
        for name, keys in masks.items():
            missing = [k for k in keys if k not in self._keys]
            if missing:
                raise self._fail(
                    f"mask {name!r} names demos the file does not hold ({', '.join(missing[:3])})",
                    "Rewrite the mask, or regenerate the dataset.",
                )
        return masks

    def demo_attrs(self, key: str) -> dict[str, Any]:
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self.group(key).attrs.items()}

    def num_samples(self, key: str) -> int:
        return int(self.group(key)["actions"].shape[0])

    # -- data -----------------------------------------------------------------------------
    def group(self, key: str) -> h5py.Group:
        """Demo `key`'s HDF5 group (read-only): shapes, dtypes and single rows without whole arrays."""
        if not self._file:  # h5py's closed File is falsy
            raise DatasetError(f"{self.path} is closed; read demos inside `with load_dataset(...)` or before close()")
        if key not in self._keys:
            raise KeyError(
                f"{self.path} has no demo {key!r}; it has {len(self._keys)} demos "
                f"({', '.join(self._keys[:5])}{', ...' if len(self._keys) > 5 else ''})"
            )
        return self._file["data"][key]

    def has(self, key: str, name: str) -> bool:
        """Whether demo `key` holds `name` (e.g. "states", "next_obs", "obs/agentview_image")."""
        return name in self.group(key)

    def array(self, key: str, name: str) -> np.ndarray:
        """One dataset of a demo, e.g. `array("demo_0", "obs/right_eef_pos")`."""
        grp = self.group(key)
        if name not in grp:
            raise KeyError(f"{self.path}: /data/{key} has no {name!r}")
        try:
            return grp[name][()]
        except OSError as err:
            raise self._fail(
                f"cannot read /data/{key}/{name} ({err}): the file is damaged",
                "Regenerate the dataset (or copy it again if it was downloaded).",
            ) from err

    def obs_keys(self, key: str | None = None) -> list[str]:
        key = key or (self._keys[0] if self._keys else None)
        if key is None or "obs" not in self.group(key):
            return []
        return list(self.group(key)["obs"])

    def episode(self, key: str) -> Episode:
        """A demo as an Episode (all arrays loaded)."""
        try:
            return self._episode(key)
        except OSError as err:
            raise self._fail(
                f"cannot read /data/{key} ({err}): the file is damaged",
                "Regenerate the dataset (or copy it again if it was downloaded).",
            ) from err

    def _episode(self, key: str) -> Episode:
        grp = self.group(key)
        attrs = self.demo_attrs(key)
        actions = grp["actions"][()]
        states = grp["states"][()] if "states" in grp else np.zeros((len(actions), 0))
        obs = _read_group(grp["obs"]) if "obs" in grp else {}
        final_obs = {k: v[-1] for k, v in _read_group(grp["next_obs"]).items()} if "next_obs" in grp else None
        datagen: dict[str, dict[str, np.ndarray]] = {}
        if "datagen_info" in grp:
            for name, sub in grp["datagen_info"].items():
                datagen[name] = _read_group(sub)
            if "subtask_signals" in datagen:
                datagen["subtask_signals"] = {k: v.astype(bool) for k, v in datagen["subtask_signals"].items()}
        seed = int(attrs.get("seed", -1))
        return Episode(
            env_id=self.env_id,
            layout=str(attrs.get("variant", "")),
            seed=None if seed < 0 else seed,
            actions=actions,
            states=states,
            rewards=grp["rewards"][()] if "rewards" in grp else np.zeros(len(actions)),
            dones=grp["dones"][()] if "dones" in grp else np.zeros(len(actions), dtype=np.uint8),
            obs=obs,
            datagen_info=datagen,
            success=bool(attrs.get("success", True)),
            initial_state=states[0] if len(states) else np.zeros(0),
            final_obs=final_obs,
            generator=str(attrs.get("generator", "")),
            source_demo=int(attrs.get("source_demo", -1)),
            end_reason=str(attrs.get("end_reason", "")),
        )

    def load_model(self) -> mujoco.MjModel:
        """The recorded compiled model: the exact binary when this mujoco matches the recording
        one, else the XML (with a warning: replay may drift across versions)."""
        data = self._file["data"]
        recorded = data.attrs.get("mujoco_version")
        stored = self._file.get(MODEL_MJB_PATH, data.get("model_mjb"))  # format 1 kept it in /data
        if stored is not None and recorded == mujoco.__version__:
            with tempfile.TemporaryDirectory() as tmp:
                mjb = Path(tmp) / "model.mjb"
                mjb.write_bytes(stored[()].tobytes())
                return mujoco.MjModel.from_binary_path(str(mjb))
        if self.model_xml is None:
            raise self._fail("the dataset stores no model", "Rebuild the env from env_args instead.")
        if recorded != mujoco.__version__:
            warnings.warn(
                f"{self.path} was recorded with mujoco {recorded}, this is {mujoco.__version__}: "
                "loading the model from XML; exact replay is not guaranteed",
                stacklevel=2,
            )
        return mujoco.MjModel.from_xml_string(self.model_xml)

    # -- container protocol -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DatasetReader({str(self.path)!r}, env={self.env_id!r}, demos={len(self)})"


def load_dataset(path: str | os.PathLike) -> DatasetReader:
    """Open a dataset for reading (use as a context manager or call `.close()`)."""
    return DatasetReader(path)
