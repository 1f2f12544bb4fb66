"""HDF5 datasets in the robomimic-compatible layout of DESIGN.md section 7.

```
/data                 attrs: env_args (JSON: env_name, type=2, env_kwargs, dexbench_version),
                      total, attempts, mujoco_version, dexbench_version, model_xml,
                      format_version, complete
/data/model_mjb       the compiled model as MuJoCo binary (uint8): exact for the same mujoco
/data/demo_<i>        attrs: num_samples, variant, generator, source_demo, seed, success, end_reason
                      (+ any `Episode.info` items named in the writer's `info_attrs`, and the
                      `attrs` given to `add_episode`; non-scalars as JSON text)
  actions (T,A) states (T,S) rewards (T,) dones (T,)
  obs/<key> (T,...)   next_obs/<key> (T,...) (optional; robomimic loads it by default)
  datagen_info/eef_pose/<arm> (T,4,4)  target_pose/<arm> (T,4,4)  hand_action/<arm> (T,k)
               object_pose/<obj> (T,4,4)  subtask_signals/<name> (T,)
               (+ any other group of `Episode.datagen_info`, e.g. subtask_index/<arm> (T,))
/mask/<name>          optional lists of demo keys (e.g. train, valid)
```

Writing is atomic: `DatasetWriter` writes `<path>.tmp`, flushes after every demo, and renames it
to `<path>` on `close()`. If the `with` block raises, the demos already written are kept in
`<path>.partial` (a readable dataset with `complete = False`) and `<path>` is not created, so
nothing complete is lost and nothing incomplete looks finished.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import mujoco
import numpy as np

from dexbench.datasets.recorder import Episode

FORMAT_VERSION = 1
GYM_ENV_TYPE = 2  # robomimic's EnvType.GYM_TYPE
DATAGEN_GROUPS = ("eef_pose", "target_pose", "hand_action", "object_pose", "subtask_signals")
COMPRESS_MIN_BYTES = 16 * 1024  # smaller arrays are stored plain (compression costs more than it saves)
H5_LIBVER = ("v108", "v108")  # readable by any HDF5 >= 1.8; allows attributes > 64 KiB (model_xml)
_DEMO_RE = re.compile(r"^demo_(\d+)$")


class DatasetError(Exception):
    """A file that is not a readable DexBench dataset; the message names the file, the problem
    and the fix."""


def _version() -> str:
    from dexbench import __version__

    return __version__


def env_kwargs_of(env) -> dict[str, Any]:
    """The constructor kwargs that rebuild `env` (a DexEnv or a wrapper) with
    `gymnasium.make(env_id, **kwargs)`: JSON-serialisable."""
    env = getattr(env, "unwrapped", env)
    return {
        "obs_mode": env.obs_mode,
        "camera_names": list(env.camera_names),
        "image_size": list(env.image_size),
        "control_freq": float(env.control_freq),
        "horizon": int(env.horizon),
        "reward_type": env.reward_type,
        "action_mode": env.action_mode,
        "terminate_on_success": bool(env.terminate_on_success),
    }


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


def _demo_index(key: str) -> int:
    match = _DEMO_RE.match(key)
    return int(match.group(1)) if match else -1


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def attr_value(value: Any) -> Any:
    """An HDF5 attribute value: scalars (bool, int, float, str) as they are, anything else
    (dicts, lists, arrays) as JSON text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, default=_json_default)


def _write_array(group: h5py.Group, name: str, array: np.ndarray, level: int) -> None:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype == np.uint8 and array.ndim >= 3:  # images (T, H, W, C): one chunk per frame
        group.create_dataset(name, data=array, chunks=(1, *array.shape[1:]),
                             compression="gzip", compression_opts=level)
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

    def __init__(self, path: str | os.PathLike, env, *, env_kwargs: dict[str, Any] | None = None,
                 generator: str = "scripted", next_obs: bool = True, overwrite: bool = False,
                 compression_level: int = 4, info_attrs: tuple[str, ...] | list[str] = ()) -> None:
        self.path = Path(path)
        self.tmp_path = self.path.with_name(self.path.name + ".tmp")
        self.partial_path = self.path.with_name(self.path.name + ".partial")
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a directory; give a file path such as {self.path / 'demos.hdf5'}")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} already exists; choose another path or pass overwrite=True "
                                  "(CLI: --overwrite); the old file is replaced only once the new one is complete")
        if self.tmp_path.exists():
            if not overwrite:
                raise FileExistsError(
                    f"{self.tmp_path} exists: another writer is using it, or a run was killed while writing "
                    "(it may still hold finished demos: open it with dexbench.datasets.load_dataset). "
                    "Move or delete it, or pass overwrite=True to discard it")
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
        env_args = {"env_name": self.env_id, "type": GYM_ENV_TYPE, "env_kwargs": kwargs,
                    "dexbench_version": _version()}
        self._file = h5py.File(self.tmp_path, "w", libver=H5_LIBVER)
        try:
            data = self._file.create_group("data")
            data.attrs["env_args"] = json.dumps(env_args)
            data.attrs["mujoco_version"] = mujoco.__version__
            data.attrs["dexbench_version"] = _version()
            data.attrs["format_version"] = FORMAT_VERSION
            data.attrs["model_xml"] = model_xml_of(unwrapped)
            data.create_dataset("model_mjb", data=model_mjb_of(unwrapped), compression="gzip",
                                compression_opts=self.level)
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

    def add_episode(self, episode: Episode, *, generator: str | None = None,
                    source_demo: int | None = None, attrs: dict[str, Any] | None = None) -> str:
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
        key = f"demo_{self._num_demos}"
        grp = self._file["data"].create_group(key)
        try:
            grp.attrs["num_samples"] = T
            grp.attrs["variant"] = episode.variant
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
                _write_array(grp, name, array, self.level)
            obs = grp.create_group("obs")
            for k, v in episode.obs.items():
                _write_array(obs, k, v, self.level)
            if self.next_obs and episode.final_obs is not None and episode.obs:
                nxt = grp.create_group("next_obs")
                for k, v in episode.obs.items():
                    _write_array(nxt, k, np.concatenate([v[1:], np.asarray(episode.final_obs[k])[None]]), self.level)
            dg = grp.create_group("datagen_info")
            extra_groups = [g for g in episode.datagen_info if g not in DATAGEN_GROUPS]
            for group_name in (*DATAGEN_GROUPS, *extra_groups):
                sub = dg.create_group(group_name)
                for k, v in episode.datagen_info.get(group_name, {}).items():
                    _write_array(sub, k, v, self.level)
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

    def set_attrs(self, **attrs: Any) -> None:
        """Set /data attrs (non-scalars as JSON) and flush, e.g. a generator's progress."""
        if self._closed:
            raise RuntimeError(f"DatasetWriter for {self.path} is closed")
        for name, value in attrs.items():
            self._file["data"].attrs[name] = attr_value(value)
        self._write_counts(complete=False)
        self._file.flush()

    def set_mask(self, name: str, demo_keys: list[str]) -> None:
        """A named list of demo keys (robomimic filter keys, e.g. "train", "valid")."""
        self._masks[name] = list(demo_keys)

    def _write_counts(self, complete: bool) -> None:
        data = self._file["data"]
        data.attrs["total"] = self._num_demos
        data.attrs["attempts"] = self._num_demos if self.attempts is None else int(self.attempts)
        data.attrs["complete"] = complete

    def _finish(self, complete: bool) -> None:
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


def write_dataset(path: str | os.PathLike, env, episodes: list[Episode], *, attempts: int | None = None,
                  masks: dict[str, list[str]] | None = None, **writer_kwargs) -> Path:
    """Write `episodes` to `path` in one go (see DatasetWriter for the kwargs)."""
    with DatasetWriter(path, env, **writer_kwargs) as writer:
        for episode in episodes:
            writer.add_episode(episode)
        writer.attempts = attempts
        for name, keys in (masks or {}).items():
            writer.set_mask(name, keys)
    return writer.path


# ============================================================================ reader
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
            raise DatasetError(f"{self.path}: no such file{hint}. Check the path, or record demos with "
                               "`dexbench demo --env ID -n N --out FILE`.")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise DatasetError(
                f"{self.path}: not a readable HDF5 file ({err}). It is truncated, corrupt or in another "
                "format. DexBench writes datasets atomically, so a finished write is never partial: "
                "regenerate the file (or copy it again if it was downloaded).") from err
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
            raise self._fail("no /data group, so this is not a DexBench/robomimic dataset",
                             "Give a file written by DexBench (`dexbench demo`, DatasetWriter).")
        data = f["data"]
        if "env_args" not in data.attrs:
            raise self._fail("/data has no env_args attribute (not a DexBench/robomimic dataset)",
                             "Give a file written by DexBench, or add the env_args JSON attribute.")
        try:
            self.env_args = json.loads(data.attrs["env_args"])
        except (TypeError, ValueError) as err:
            raise self._fail(f"/data env_args is not valid JSON ({err})",
                             "Rewrite it as a JSON object with env_name, type and env_kwargs.") from err
        if not isinstance(self.env_args, dict) or "env_name" not in self.env_args:
            raise self._fail("/data env_args has no env_name", "Rewrite env_args with the env id as env_name.")
        keys = [k for k in data if _DEMO_RE.match(k) and isinstance(data[k], h5py.Group)]
        self._keys = sorted(keys, key=_demo_index)
        for key in self._keys:
            grp = data[key]
            if "actions" not in grp:
                raise self._fail(f"/data/{key} has no actions", "The demo is incomplete: regenerate the dataset.")
            T = grp["actions"].shape[0]
            declared = grp.attrs.get("num_samples", T)
            if int(declared) != T:
                raise self._fail(f"/data/{key} declares num_samples={declared} but has {T} actions",
                                 "The demo is inconsistent: regenerate the dataset.")
            for name in ("states", "rewards", "dones"):
                if name in grp and grp[name].shape[0] != T:
                    raise self._fail(f"/data/{key}/{name} has {grp[name].shape[0]} rows, actions have {T}",
                                     "The demo is inconsistent: regenerate the dataset.")

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
        if "mask" not in self._file:
            return {}
        return {name: [k.decode() if isinstance(k, bytes) else str(k) for k in ds[()]]
                for name, ds in self._file["mask"].items()}

    def demo_attrs(self, key: str) -> dict[str, Any]:
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._group(key).attrs.items()}

    def num_samples(self, key: str) -> int:
        return int(self._group(key)["actions"].shape[0])

    # -- data -----------------------------------------------------------------------------
    def _group(self, key: str) -> h5py.Group:
        if key not in self._keys:
            raise KeyError(f"{self.path} has no demo {key!r}; it has {len(self._keys)} demos "
                           f"({', '.join(self._keys[:5])}{', ...' if len(self._keys) > 5 else ''})")
        return self._file["data"][key]

    def array(self, key: str, name: str) -> np.ndarray:
        """One dataset of a demo, e.g. `array("demo_0", "obs/right_eef_pos")`."""
        grp = self._group(key)
        if name not in grp:
            raise KeyError(f"{self.path}: /data/{key} has no {name!r}")
        try:
            return grp[name][()]
        except OSError as err:
            raise self._fail(f"cannot read /data/{key}/{name} ({err}): the file is damaged",
                             "Regenerate the dataset (or copy it again if it was downloaded).") from err

    def obs_keys(self, key: str | None = None) -> list[str]:
        key = key or (self._keys[0] if self._keys else None)
        if key is None or "obs" not in self._group(key):
            return []
        return list(self._group(key)["obs"])

    def episode(self, key: str) -> Episode:
        """A demo as an Episode (all arrays loaded)."""
        try:
            return self._episode(key)
        except OSError as err:
            raise self._fail(f"cannot read /data/{key} ({err}): the file is damaged",
                             "Regenerate the dataset (or copy it again if it was downloaded).") from err

    def _episode(self, key: str) -> Episode:
        grp = self._group(key)
        attrs = self.demo_attrs(key)
        actions = grp["actions"][()]
        states = grp["states"][()] if "states" in grp else np.zeros((len(actions), 0))
        obs = _read_group(grp["obs"]) if "obs" in grp else {}
        final_obs = ({k: v[-1] for k, v in _read_group(grp["next_obs"]).items()} if "next_obs" in grp else None)
        datagen: dict[str, dict[str, np.ndarray]] = {}
        if "datagen_info" in grp:
            for name, sub in grp["datagen_info"].items():
                datagen[name] = _read_group(sub)
            if "subtask_signals" in datagen:
                datagen["subtask_signals"] = {k: v.astype(bool) for k, v in datagen["subtask_signals"].items()}
        seed = int(attrs.get("seed", -1))
        return Episode(
            env_id=self.env_id,
            variant=str(attrs.get("variant", "")),
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
        if "model_mjb" in data and recorded == mujoco.__version__:
            with tempfile.TemporaryDirectory() as tmp:
                mjb = Path(tmp) / "model.mjb"
                mjb.write_bytes(data["model_mjb"][()].tobytes())
                return mujoco.MjModel.from_binary_path(str(mjb))
        if self.model_xml is None:
            raise self._fail("the dataset stores no model", "Rebuild the env from env_args instead.")
        if recorded != mujoco.__version__:
            warnings.warn(f"{self.path} was recorded with mujoco {recorded}, this is {mujoco.__version__}: "
                          "loading the model from XML; exact replay is not guaranteed", stacklevel=2)
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
