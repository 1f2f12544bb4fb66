"""Writing datasets (the layout is in `dexbench.datasets.hdf5`): atomically, demo by demo.

`DatasetWriter` writes `<path>.tmp`, flushes after every demo, and renames it to `<path>` on
`close()`. If the `with` block raises, the demos already written are kept in `<path>.partial`
(a readable dataset with `complete = False`) and `<path>` is not created, so nothing complete is
lost and nothing incomplete looks finished.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import h5py
import mujoco
import numpy as np

from dexbench.datasets.hdf5 import (
    COMPRESS_MIN_BYTES,
    DATAGEN_GROUPS,
    FORMAT_VERSION,
    GYM_ENV_TYPE,
    H5_LIBVER,
    MODEL_MJB_PATH,
    attr_value,
    default_masks,
    dexbench_version,
)
from dexbench.episode import Episode

FREE_SPACE_MARGIN_BYTES = 4 * 2**20  # left free for the file's own bookkeeping (attrs, masks, close)


def env_kwargs_of(env) -> dict[str, Any]:
    """The constructor kwargs that rebuild `env` (a DexEnv or a wrapper) with
    `gymnasium.make(env_id, **kwargs)`: JSON-serialisable (`EnvOptions.recorded`)."""
    return getattr(env, "unwrapped", env).options.recorded()


def model_xml_of(env) -> str:
    """The compiled model as MJCF text. `mj_saveLastXML` only works for models loaded from XML,
    and DexEnv builds its model with MjSpec, so this uses `MjSpec.to_xml()`."""
    env = getattr(env, "unwrapped", env)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return env.mj_spec.to_xml()


def model_mjb_of(env) -> np.ndarray:
    """The compiled model in MuJoCo's binary format (exact, but only for the same mujoco)."""
    model = getattr(env, "unwrapped", env).model
    buffer = np.zeros(mujoco.mj_sizeModel(model), dtype=np.uint8)
    mujoco.mj_saveModel(model, None, buffer)
    return buffer


def write_array(group: h5py.Group, name: str, array: np.ndarray, level: int) -> None:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype == np.uint8 and array.ndim >= 3:  # images (T, H, W, C): one chunk per frame
        group.create_dataset(name, data=array, chunks=(1, *array.shape[1:]), compression="gzip", compression_opts=level)
    elif array.nbytes >= COMPRESS_MIN_BYTES:
        group.create_dataset(name, data=array, compression="gzip", compression_opts=level, shuffle=True)
    else:
        group.create_dataset(name, data=array)


# ============================================================================ writer


class DatasetWriter:
    """Writes demos of one env to `path` atomically (see the module docstring).

    Args:
        path: the final file (conventionally `*.hdf5`).
        env: the DexEnv (or wrapper) the demos come from: env id, kwargs, compiled model.
        env_kwargs: overrides of the recorded env kwargs (default: read back from `env`).
        generator: default `generator` attr of the demos.
        next_obs: also write `next_obs/<key>` (robomimic loads it unless
            `hdf5_load_next_obs=False`); needs `Episode.final_obs`.
        overwrite: replace an existing `path` (only when this writer completes) and discard a
            stale `<path>.tmp` left by a killed run.
        compression_level: gzip level for images and large arrays.
        info_attrs: keys of `Episode.info` written as demo attrs when present (non-scalars as
            JSON), e.g. ("attempt", "source_demos") for generated demos.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        env,
        *,
        env_kwargs: dict[str, Any] | None = None,
        generator: str = "scripted",
        next_obs: bool = True,
        overwrite: bool = False,
        compression_level: int = 4,
        info_attrs: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.path = Path(path)
        self.tmp_path = self.path.with_name(self.path.name + ".tmp")
        self.partial_path = self.path.with_name(self.path.name + ".partial")
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a directory; give a file path such as {self.path / 'demos.hdf5'}")
        if self.path.exists() and not overwrite:
            raise FileExistsError(
                f"{self.path} already exists; choose another path or pass overwrite=True "
                "(CLI: --overwrite); the old file is replaced only once the new one is complete"
            )
        if self.tmp_path.exists():
            if not overwrite:
                raise FileExistsError(
                    f"{self.tmp_path} exists: another writer is using it, or a run was killed while writing "
                    "(it may still hold finished demos: open it with dexbench.datasets.load_dataset). "
                    "Move or delete it, or pass overwrite=True to discard it"
                )
            self.tmp_path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        unwrapped = getattr(env, "unwrapped", env)
        self.env_id = unwrapped.env_id
        self.generator = generator
        self.next_obs = next_obs
        self.level = int(compression_level)
        self.info_attrs = tuple(info_attrs)
        self.attempts: int | None = None  # set by the caller; defaults to the number of demos
        self._masks: dict[str, list[str]] = {}
        self._num_demos = 0
        self._closed = False

        kwargs = env_kwargs_of(unwrapped)
        kwargs.update(env_kwargs or {})
        env_args = {
            "env_name": self.env_id,
            "type": GYM_ENV_TYPE,
            "env_kwargs": kwargs,
            "dexbench_version": dexbench_version(),
        }
        self._file = h5py.File(self.tmp_path, "w", libver=H5_LIBVER)
        try:
            data = self._file.create_group("data")
            data.attrs["env_args"] = json.dumps(env_args)
            data.attrs["mujoco_version"] = mujoco.__version__
            data.attrs["dexbench_version"] = dexbench_version()
            data.attrs["format_version"] = FORMAT_VERSION
            data.attrs["model_xml"] = model_xml_of(unwrapped)
            # Beside /data, not in it: robomimic lists every key under /data as a demo.
            self._file.create_dataset(
                MODEL_MJB_PATH, data=model_mjb_of(unwrapped), compression="gzip", compression_opts=self.level
            )
            self._write_counts(complete=False)
            self._file.flush()
        except BaseException:
            self._file.close()
            self.tmp_path.unlink(missing_ok=True)
            raise

    # -- writing ---------------------------------------------------------------------------
    @property
    def num_demos(self) -> int:
        return self._num_demos

    def add_episode(
        self,
        episode: Episode,
        *,
        generator: str | None = None,
        source_demo: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> str:
        """Write one episode as the next `demo_<i>`; returns its key. The file is flushed after
        every demo, so a crash loses at most the demo in flight. `attrs`: extra demo attrs
        (non-scalars as JSON), on top of the `Episode.info` items named in `info_attrs`."""
        if self._closed:
            raise RuntimeError(f"DatasetWriter for {self.path} is closed")
        if episode.env_id is not None and self.env_id is not None and episode.env_id != self.env_id:
            raise ValueError(f"episode of {episode.env_id} cannot go into a dataset of {self.env_id}")
        T = episode.num_samples
        if T < 1:
            raise ValueError("an episode needs at least one step")
        self._ensure_room(_episode_nbytes(episode))
        key = f"demo_{self._num_demos}"
        grp = self._file["data"].create_group(key)
        try:
            grp.attrs["num_samples"] = T
            grp.attrs["variant"] = episode.layout
            grp.attrs["generator"] = generator or episode.generator or self.generator
            grp.attrs["source_demo"] = int(episode.source_demo if source_demo is None else source_demo)
            grp.attrs["seed"] = -1 if episode.seed is None else int(episode.seed)
            grp.attrs["success"] = bool(episode.success)
            grp.attrs["end_reason"] = episode.end_reason
            extra = {k: episode.info[k] for k in self.info_attrs if k in episode.info}
            extra.update(attrs or {})
            for name, value in extra.items():
                grp.attrs[name] = attr_value(value)
            for name in ("actions", "states", "rewards", "dones"):
                array = np.asarray(getattr(episode, name))
                if array.shape[0] != T:
                    raise ValueError(f"episode {name} has {array.shape[0]} rows, actions have {T}")
                write_array(grp, name, array, self.level)
            obs = grp.create_group("obs")
            for k, v in episode.obs.items():
                write_array(obs, k, v, self.level)
            if self.next_obs and episode.final_obs is not None and episode.obs:
                nxt = grp.create_group("next_obs")
                for k, v in episode.obs.items():
                    write_array(nxt, k, np.concatenate([v[1:], np.asarray(episode.final_obs[k])[None]]), self.level)
            dg = grp.create_group("datagen_info")
            extra_groups = [g for g in episode.datagen_info if g not in DATAGEN_GROUPS]
            for group_name in (*DATAGEN_GROUPS, *extra_groups):
                sub = dg.create_group(group_name)
                for k, v in episode.datagen_info.get(group_name, {}).items():
                    write_array(sub, k, v, self.level)
        except BaseException:
            del self._file["data"][key]  # no half-written demo in the file
            raise
        self._num_demos += 1
        self._write_counts(complete=False)
        self._file.flush()
        return key

    def copy_demo(self, source: h5py.Group, attrs: dict[str, Any] | None = None) -> str:
        """Copy a demo group of another (open) DexBench file as the next `demo_<i>`, unchanged
        but for `attrs` (merging shards, resuming); returns its key. Flushed like add_episode."""
        if self._closed:
            raise RuntimeError(f"DatasetWriter for {self.path} is closed")
        sizes: list[int] = []
        source.visititems(
            lambda _, obj: sizes.append(obj.id.get_storage_size()) if isinstance(obj, h5py.Dataset) else None
        )
        self._ensure_room(sum(sizes))
        key = f"demo_{self._num_demos}"
        try:
            self._file.copy(source, self._file["data"], name=key)
            for name, value in (attrs or {}).items():
                self._file["data"][key].attrs[name] = attr_value(value)
        except BaseException:
            if key in self._file["data"]:
                del self._file["data"][key]
            raise
        self._num_demos += 1
        self._write_counts(complete=False)
        self._file.flush()
        return key

    def _ensure_room(self, nbytes: int) -> None:
        """Refuse a demo the disk has no room for, before HDF5 runs into the full disk: HDF5
        cannot recover from a failed write (the file can then neither be flushed nor closed)."""
        need = 2 * nbytes + FREE_SPACE_MARGIN_BYTES  # uncompressed size, twice: HDF5's own overhead
        free = shutil.disk_usage(self.tmp_path.parent).free
        if free < need:
            raise OSError(
                errno.ENOSPC,
                f"No space left on device for the next demo in {self.tmp_path.parent}: "
                f"{free / 2**20:.1f} MiB free, {need / 2**20:.1f} MiB needed",
            )

    def set_attrs(self, **attrs: Any) -> None:
        """Set /data attrs (non-scalars as JSON) and flush, e.g. a generator's progress."""
        if self._closed:
            raise RuntimeError(f"DatasetWriter for {self.path} is closed")
        for name, value in attrs.items():
            self._file["data"].attrs[name] = attr_value(value)
        self._write_counts(complete=False)
        self._file.flush()

    def demo_attr_values(self, name: str) -> list:
        """The attr `name` of each demo written so far, in order (e.g. the attempt indices a
        resumed shard already holds)."""
        data = self._file["data"]
        return [data[f"demo_{i}"].attrs[name].item() for i in range(self._num_demos)]

    def append_line(self, name: str, line: str) -> None:
        """Append `line` to the text dataset `name` beside /data (a run's record of every
        attempt: robomimic reads only /data and /mask); written out with the next flush."""
        if self._closed:
            raise RuntimeError(f"DatasetWriter for {self.path} is closed")
        if name not in self._file:
            self._file.create_dataset(name, shape=(0,), maxshape=(None,), dtype=h5py.string_dtype(), chunks=(1024,))
        log = self._file[name]
        log.resize((log.shape[0] + 1,))
        log[-1] = line

    def set_mask(self, name: str, demo_keys: list[str]) -> None:
        """A named list of demo keys (robomimic filter keys, e.g. "train", "valid")."""
        self._masks[name] = list(demo_keys)

    def _write_counts(self, complete: bool) -> None:
        data = self._file["data"]
        data.attrs["total"] = self._num_demos
        data.attrs["attempts"] = self._num_demos if self.attempts is None else int(self.attempts)
        data.attrs["complete"] = complete

    def _finish(self, complete: bool) -> None:
        if complete:
            for name, keys in default_masks(self._num_demos).items():
                self._masks.setdefault(name, keys)
        if self._masks:
            mask = self._file.require_group("mask")
            for name, keys in self._masks.items():
                missing = [k for k in keys if k not in self._file["data"]]
                if missing and complete:
                    raise ValueError(f"mask {name!r} names demos that are not in the dataset: {missing[:5]}")
                if name in mask:
                    del mask[name]
                mask.create_dataset(name, data=np.array(keys, dtype="S"))
        self._write_counts(complete=complete)
        self._file.flush()
        self._file.close()
        self._closed = True

    def close(self) -> Path:
        """Finish the file and move it to `path` atomically; returns `path`."""
        if self._closed:
            return self.path
        try:
            self._finish(complete=True)
        except BaseException:
            self.abort()
            raise
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self, keep_empty: bool = False) -> Path | None:
        """Stop writing and keep what was written in `<path>.partial` (returned), `path`
        untouched. A run that wrote no demo leaves no file, unless `keep_empty` (its /data attrs
        may still matter, e.g. a generator's progress)."""
        if not self._closed:
            try:
                self._finish(complete=False)
            except Exception:  # noqa: BLE001 - keep the bytes even if the attrs fail to update
                try:
                    self._file.close()
                except Exception:  # noqa: BLE001
                    pass
                self._closed = True
                _release_quietly(self)
        if not self.tmp_path.exists():
            return None
        if self._num_demos == 0 and not keep_empty:
            self.tmp_path.unlink()
            return None
        os.replace(self.tmp_path, self.partial_path)
        return self.partial_path

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            kept = self.abort()
            if kept is not None and exc is not None and hasattr(exc, "add_note"):
                exc.add_note(f"dexbench: the {self._num_demos} demos written before the error are in {kept}")
        return False


def _episode_nbytes(episode: Episode) -> int:
    arrays = [episode.actions, episode.states, episode.rewards, *episode.obs.values()]
    arrays += [a for group in episode.datagen_info.values() for a in group.values()]
    return int(sum(np.asarray(a).nbytes for a in arrays)) * (2 if episode.final_obs is not None else 1)


def _release_quietly(writer: DatasetWriter) -> None:
    """Drop a file h5py could not close (e.g. on a full disk) now, without the wall of "Exception
    ignored" messages its objects would print when collected later: the error was reported."""
    import gc
    import sys

    writer._file = None
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook


def write_dataset(
    path: str | os.PathLike,
    env,
    episodes: list[Episode],
    *,
    attempts: int | None = None,
    masks: dict[str, list[str]] | None = None,
    **writer_kwargs,
) -> Path:
    """Write `episodes` to `path` in one go (see DatasetWriter for the kwargs)."""
    with DatasetWriter(path, env, **writer_kwargs) as writer:
        for episode in episodes:
            writer.add_episode(episode)
        writer.attempts = attempts
        for name, keys in (masks or {}).items():
            writer.set_mask(name, keys)
    return writer.path


# ============================================================================ reader
