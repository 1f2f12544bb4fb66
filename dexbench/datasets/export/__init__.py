"""Exporting a DexBench dataset to another library's format, through that library itself:
Minari (`to_minari.py`) and LeRobot (`to_lerobot.py`), each an optional extra.

What every format gets from here (`ExportSource`): per demo its observations with the final one
appended (T + 1 rows: the stored `next_obs`, or else the last stored state restored and the last
action stepped again, which reproduces it exactly), actions, rewards, terminations and
truncations (on the last step, from the demo's `end_reason`), the demo's attrs; the observation
and action spaces (the env's bounds; observations in the stored dtypes, actions in the env's
action dtype, float32, as a policy for the env gives them); and the provenance recorded in every
export (env id, env kwargs, suite version, source path and SHA-256). `export_dataset` writes into
a temporary directory beside the output and renames it into place when complete, so an output
is either whole or absent.
"""

from __future__ import annotations

import functools
import glob
import importlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dexbench.datasets.hdf5 import DatasetError, dexbench_version
from dexbench.datasets.reader import DatasetReader
from dexbench.jsonio import file_sha256

# format -> (module with `export(source, staging, final, progress) -> details`, the package it
# needs, the pip extra)
FORMATS: dict[str, tuple[str, str, str]] = {
    "minari": ("dexbench.datasets.export.to_minari", "minari", "minari"),
    "lerobot": ("dexbench.datasets.export.to_lerobot", "lerobot", "lerobot"),
}
# How to install a format's package where the plain extra would break the current venv.
INSTALL_ADVICE: dict[str, str] = {
    "lerobot": (
        "lerobot 0.4 pins torch<2.11 and numpy<2.3, so installing it here would replace this venv's "
        "torch and downgrade numpy; give it a venv of its own: python -m venv .venv-lerobot && "
        ". .venv-lerobot/bin/activate && pip install -e '.[lerobot]', then run the export there"
    ),
}
TERMINAL_END_REASONS = ("success", "terminated")  # the task ended; anything else was cut short
# What an export of a format holds at its top level, and the JSON file in it that carries our
# provenance (a "dexbench" entry): --overwrite replaces only a folder like that.
EXPORT_LAYOUTS: dict[str, tuple[frozenset[str], Path]] = {
    "minari": (frozenset({"data"}), Path("data") / "metadata.json"),
    "lerobot": (frozenset({"meta", "data", "videos", "images"}), Path("meta") / "info.json"),
}


class MissingExportPackage(ImportError):
    """The package a format is written with is not installed; the message names the pip extra."""


@dataclass
class ExportEpisode:
    """One demo, ready for a format: `observations` key -> (T + 1, ...), the rest (T, ...)."""

    key: str
    observations: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return len(self.actions)


@dataclass
class ExportResult:
    format: str
    out: Path
    episodes: int
    steps: int
    final_obs: str  # where the final observations came from: "next_obs" or "replay"
    details: dict[str, Any] = field(default_factory=dict)  # what a format adds (e.g. its dataset id)


class ExportSource:
    """A DexBench dataset opened for export: checks that it is ours, holds the env its demos
    ran in (for the spaces and for final observations not stored)."""

    def __init__(self, path: str | os.PathLike) -> None:
        from dexbench.envs.registry import build_env, lookup

        self.reader = DatasetReader(path)
        self.path = self.reader.path
        try:
            try:
                self.entry = lookup(self.reader.env_id)  # task, embodiment, layout
            except gym.error.Error as err:
                raise DatasetError(
                    f"{self.path}: not a DexBench dataset: its env {self.reader.env_id!r} is not a "
                    f"DexBench id ({err}). Export only exports datasets DexBench wrote."
                ) from err
            self.env_id = self.entry.env_id
            if not self.reader.keys:
                raise DatasetError(f"{self.path}: the dataset holds no demos; there is nothing to export")
            first = self.reader.keys[0]
            self.obs_keys = self.reader.obs_keys(first)
            if not self.obs_keys:
                raise DatasetError(
                    f"{self.path}: /data/{first} has no observations (obs/); both formats store "
                    "observations, so regenerate the dataset with observations"
                )
            self.env_kwargs = self.reader.env_kwargs
            try:
                self.env = build_env(self.env_id, **self.env_kwargs)
            except (TypeError, ValueError) as err:
                raise DatasetError(
                    f"{self.path}: its env kwargs {self.env_kwargs} do not build {self.env_id} ({err})"
                ) from err
        except BaseException:
            self.reader.close()
            raise
        self._sha256: str | None = None

    # -- spaces -----------------------------------------------------------------------------
    @functools.cached_property
    def observation_space(self) -> gym.spaces.Dict:
        """The env's observation space restricted to the stored keys, with the stored dtypes
        (datasets keep float64; an export reproduces the file, not the env's casts)."""
        stored = self.reader.group(self.reader.keys[0])["obs"]  # shapes and dtypes only: no data read
        return gym.spaces.Dict(
            {
                k: self._box(self.env.observation_space.spaces.get(k), stored[k].shape[1:], stored[k].dtype)
                for k in self.obs_keys
            }
        )

    @functools.cached_property
    def action_space(self) -> gym.spaces.Box:
        """The env's action space, in the env's dtype (float32): what a policy for the env emits
        (the file stores float64, as robomimic does)."""
        stored = self.reader.group(self.reader.keys[0])["actions"]
        return self._box(self.env.action_space, stored.shape[1:], self.env.action_space.dtype)

    @staticmethod
    def _box(space: gym.Space | None, shape: tuple[int, ...], dtype: np.dtype) -> gym.spaces.Box:
        if isinstance(space, gym.spaces.Box) and space.shape == shape:
            return gym.spaces.Box(space.low.astype(dtype), space.high.astype(dtype), shape, dtype)
        if dtype == np.uint8:  # an image the env kwargs do not declare (rendered afterwards)
            return gym.spaces.Box(0, 255, shape, dtype)
        return gym.spaces.Box(-np.inf, np.inf, shape, dtype)

    def is_image(self, key: str) -> bool:
        space = self.observation_space.spaces[key]
        return space.dtype == np.uint8 and len(space.shape) == 3 and space.shape[-1] in (1, 3, 4)

    # -- metadata ---------------------------------------------------------------------------
    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    @property
    def final_obs_from(self) -> str:
        return "next_obs" if all("next_obs" in self.reader.group(k) for k in self.reader.keys) else "replay"

    def metadata(self) -> dict[str, Any]:
        """Provenance recorded in every export (JSON-serialisable)."""
        attrs = self.reader.attrs
        return {
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "suite_version": dexbench_version(),
            "dataset_dexbench_version": attrs.get("dexbench_version"),
            "mujoco_version": attrs.get("mujoco_version"),
            "source_path": str(self.path.resolve()),
            "source_sha256": self.sha256,
            "demo_keys": self.reader.keys,
            "final_obs": self.final_obs_from,
        }

    def env_spec(self) -> gym.envs.registration.EnvSpec:
        """The Gymnasium spec that makes this env with the dataset's kwargs (`gymnasium.make(spec)`)."""
        import dataclasses

        spec = gym.spec(self.env_id)
        return dataclasses.replace(spec, kwargs={**spec.kwargs, **self.env_kwargs})

    # -- episodes ---------------------------------------------------------------------------
    def episodes(self) -> Iterator[ExportEpisode]:
        for key in self.reader.keys:
            yield self.episode(key)

    def episode(self, key: str) -> ExportEpisode:
        r = self.reader
        T = r.num_samples(key)
        keys = r.obs_keys(key)
        if sorted(keys) != sorted(self.obs_keys):
            raise DatasetError(
                f"{self.path}: /data/{key} observes {sorted(keys)}, the first demo "
                f"{sorted(self.obs_keys)}; an export needs one observation layout"
            )
        obs = {k: r.array(key, f"obs/{k}") for k in self.obs_keys}
        final = self._final_obs(key)
        observations = {
            k: np.concatenate([obs[k], np.asarray(final[k], dtype=obs[k].dtype)[None]]) for k in self.obs_keys
        }
        attrs = r.demo_attrs(key)
        end_reason = str(attrs.get("end_reason", "success" if attrs.get("success", True) else "max_steps"))
        terminations = np.zeros(T, dtype=bool)
        truncations = np.zeros(T, dtype=bool)
        if end_reason in TERMINAL_END_REASONS:
            terminations[-1] = True
        else:
            truncations[-1] = True
        rewards = r.array(key, "rewards") if "rewards" in self.reader.group(key) else np.zeros(T)
        actions = np.asarray(r.array(key, "actions"), dtype=self.action_space.dtype)
        return ExportEpisode(
            key=key,
            observations=observations,
            actions=actions,
            rewards=np.asarray(rewards, dtype=np.float64),
            terminations=terminations,
            truncations=truncations,
            attrs=attrs,
        )

    def _final_obs(self, key: str) -> dict[str, np.ndarray]:
        """The observation after the last action: stored in next_obs, or by stepping the last
        action again from the last stored state (exact: replay deviates by 0, design §7)."""
        grp = self.reader.group(key)
        if "next_obs" in grp and all(k in grp["next_obs"] for k in self.obs_keys):
            return {k: grp["next_obs"][k][-1] for k in self.obs_keys}
        if "states" not in grp:
            raise DatasetError(
                f"{self.path}: /data/{key} stores neither next_obs nor states, so its final "
                "observation is unknown; regenerate the dataset (DatasetWriter writes both)"
            )
        self.env.reset_to(grp["states"][-1])
        obs, *_ = self.env.step(grp["actions"][-1])
        missing = [k for k in self.obs_keys if k not in obs]
        if missing:
            raise DatasetError(
                f"{self.path}: /data/{key} has no next_obs and the env made with the dataset's "
                f"kwargs does not observe {missing}; store next_obs for them"
            )
        return obs

    def close(self) -> None:
        self.env.close()
        self.reader.close()

    def __enter__(self) -> ExportSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def exporter_module(fmt: str):
    """The module that writes `fmt`; clear errors for an unknown format or a missing package."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    module, package, extra = FORMATS[fmt]
    try:
        importlib.import_module(package)
    except ImportError as err:
        raise MissingExportPackage(
            f"exporting to {fmt} needs the {package} package, which is not importable "
            f"({err}): " + INSTALL_ADVICE.get(fmt, f"pip install 'dexbench[{extra}]'")
        ) from err
    return importlib.import_module(module)


@contextmanager
def staged_output(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yields a path (not yet existing) in a temporary directory beside `out`; when the block
    completes it is renamed to `out` (an old `out` is removed only then), when it raises it is
    deleted. `out` itself never holds a half-written export."""
    from dexbench.outputs import is_empty_folder

    if out.exists() and not overwrite and not is_empty_folder(out):
        raise FileExistsError(
            f"{out} already exists; choose another --out or pass --overwrite (the old export "
            "is replaced only once the new one is complete)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_staging(out)
    # The pid in the name tells a later export whether the run that made it is still going.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp / out.name
        old = None
        if out.exists():
            old = tmp / (out.name + ".old")
            os.replace(out, old)
        os.replace(tmp / out.name, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def is_export(path: Path, fmt: str) -> bool:
    """`path` is a folder `export_dataset` wrote in `fmt`: only the format's entries at its top,
    and its metadata file holds DexBench's provenance."""
    import json

    entries, marker = EXPORT_LAYOUTS[fmt]
    if not path.is_dir() or path.is_symlink() or not {p.name for p in path.iterdir()} <= entries:
        return False
    try:
        meta = json.loads((path / marker).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(meta, dict) and isinstance(meta.get("dexbench"), dict) and "env_id" in meta["dexbench"]


def _remove_abandoned_staging(out: Path) -> None:
    """Remove the staging folders of earlier exports to `out` whose process is gone (killed with
    SIGKILL, or the machine went down), so they do not pile up beside it."""
    for staging in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        pid = staging.name[len(out.name) + 2 :].split(".", 1)[0]
        if not pid.isdigit() or not staging.is_dir() or staging.is_symlink():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(staging, ignore_errors=True)
        except (PermissionError, OverflowError):  # another user's live process, or not a pid
            pass


def export_dataset(
    path: str | os.PathLike, fmt: str, out: str | os.PathLike, *, overwrite: bool = False, progress: bool = False
) -> ExportResult:
    """Export the DexBench dataset `path` to `fmt` ("minari" or "lerobot") at the directory `out`.

    Raises ValueError (unknown format), MissingExportPackage (its package is not installed; the
    message names the pip extra), FileExistsError (`out` exists and not `overwrite`), ValueError
    (with `overwrite`, an `out` that is not an export of `fmt` dexbench wrote: it is never
    replaced; or the current folder), OSError (`out`'s folder cannot be written) and
    DatasetError (not a DexBench dataset, or one that cannot be exported).
    """
    from dexbench.outputs import check_output

    module = exporter_module(fmt)
    out = Path(out)
    source_path = Path(path)
    if (
        source_path.exists()
        and out.exists()
        and (out.resolve() == source_path.resolve() or out.resolve() in source_path.resolve().parents)
    ):
        raise FileExistsError(f"--out {out} is (or holds) the source dataset {path}; choose another path")
    # Before opening the source: fail fast. The old export is replaced only once the new one is complete.
    check_output(out, overwrite=overwrite, ours=lambda p: is_export(p, fmt), what=f"a {fmt} export")
    with ExportSource(path) as source:
        # Absolute: the exporters' libraries join a relative path with the folder they work in.
        with staged_output(out.absolute(), overwrite) as staging:
            details = module.export(source, staging, final=out.absolute(), progress=progress)
        lengths = [source.reader.num_samples(k) for k in source.reader.keys]
        return ExportResult(
            format=fmt,
            out=out,
            episodes=len(lengths),
            steps=int(sum(lengths)),
            final_obs=source.final_obs_from,
            details=details or {},
        )
