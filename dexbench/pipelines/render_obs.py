"""Deferred image observations (robomimic's `dataset_states_to_obs`): camera images for a
state-only dataset, rendered from its stored states.

Generating state-only and rendering afterwards keeps pixels out of generation (an image costs
more than an env step) and lets one dataset be rendered with other cameras or sizes later.
For every demo, `obs/<camera>_image[t]` is the image of `states[t]`; when the dataset has
`next_obs`, `next_obs/<camera>_image[t]` is `obs[t + 1]`, and the last one the image after
replaying the last action from the last state (what robomimic does; replay is exact).

Atomic and resumable: the work lives in `<out>.render-obs/` (beside the output). Each finished
demo is one file there, written as `.tmp` and renamed, so a file with a demo's name is a
complete demo. When all demos are there, the source is copied to a temporary file in that
folder, the images are copied in and `env_args` records the cameras, size, preset and looks;
only then is the copy renamed to `<out>` and the folder removed. A run killed at any point leaves
no `<out>` that looks complete (with `out` = the source, the source is untouched), and the next
run with the same settings renders only the demos not yet done.

Randomised looks (`visual_factors`, envs/appearance.py): each demo is rendered with the look its
own reset seed draws (`reset(seed=<the demo's seed>)`, then the states replayed with `reset_to`,
which keeps that look): the look an env made with those factors drew for the demo's episode.
So a pixel policy trains on randomised appearances from state-only generation.

Images are the same bits whatever the number of workers, runs or demo order: rendering reads
only the state (and, for a randomised look, the demo's own seed), and every worker renders with
the same settings.

Worker w of W renders the demos w, w + W, ... of those left to do (`parallel.run_workers`). A
worker process writes each demo's file into the work folder; with the `ray` backend a worker is
a Ray task, sent its demos' states, actions and seeds, that writes each file on its own node and
sends it back as bytes, which this process puts in the work folder (no shared filesystem needed;
a stopped run keeps the demos that came back).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np

from dexbench.backends import PROCESS, Backend, connect_ray
from dexbench.datasets.hdf5 import DatasetError
from dexbench.datasets.reader import load_dataset
from dexbench.datasets.writer import write_array
from dexbench.stages import check_same, differences, digest, suite_version

WORKDIR_SUFFIX = ".render-obs"
SETTINGS_FILE = "settings.json"


class RenderObsError(RuntimeError):
    """A render-obs run stopped by a failing worker; the finished demos are kept for the next run."""


@dataclass(frozen=True)
class RenderObsSettings:
    """What a run renders, and the source it renders from: a resumed run must match all of it."""

    source: str  # absolute path of the dataset rendered from
    env_id: str
    demo_lengths: dict[str, int]  # demo key -> steps: the source's identity
    cameras: list[str]
    size: int  # image side, px
    preset: str
    next_obs: bool  # the source has next_obs, so the images go there too
    compression_level: int
    visual_factors: list[str]  # the looks drawn per demo from its reset seed; [] = the published look
    source_sha256: str  # the source's content: the same path rewritten is another source
    suite_version: str


def image_key(camera: str) -> str:
    return f"{camera}_image"


def workdir_of(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(out.name + WORKDIR_SUFFIX)


def render_obs(
    path: str | os.PathLike,
    cameras: list[str] | tuple[str, ...],
    size: int = 84,
    *,
    out: str | os.PathLike | None = None,
    workers: int = 1,
    preset: str = "fast",
    overwrite: bool = False,
    compression_level: int = 4,
    visual_factors: str | Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    backend: Backend = PROCESS,
) -> Path:
    """Add `obs/<camera>_image` (uint8 T,H,W,3; gzip, one chunk per frame) for `cameras` at
    `size` px to the dataset at `path`, written to `out` (default: `path` itself, replaced once
    complete). Returns the output path. `progress(demo_key)` is called as each demo finishes.
    `overwrite`: replace an existing `out` and images the dataset already has.
    `visual_factors`: factor names (envs/appearance.py), "all", or () for the published look; each
    demo gets the look its reset seed draws. Default None: the dataset's own (its env_args).
    `backend`: where the workers run (processes here, or Ray tasks: the same file)."""
    from dexbench.envs.rendering import preset_by_name
    from dexbench.envs.scene import MAX_RENDER_SIZE
    from dexbench.workers import check_workers

    path = Path(path)
    out = Path(out) if out is not None else path
    cameras = list(dict.fromkeys(cameras))  # each camera once, in the order given
    if not cameras:
        raise ValueError("no cameras given; name at least one, e.g. --cameras agentview")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= MAX_RENDER_SIZE:
        raise ValueError(
            f"image size {size!r} is out of range: give a side from 1 to {MAX_RENDER_SIZE} px "
            "(84 is the papers' observation size)"
        )
    preset = preset_by_name(preset).name
    check_workers(workers, local=not backend.is_ray)
    settings = _settings(path, out, cameras, int(size), preset, overwrite, compression_level, visual_factors)
    if backend.is_ray:
        connect_ray(backend.address)  # no Ray, or no cluster there: said before any work

    workdir = workdir_of(out)
    done = _prepare_workdir(workdir, settings, discard_other=overwrite)
    todo = [key for key in settings.demo_lengths if key not in done]
    if todo:
        _render(settings, workdir, todo, workers, progress, backend)
    _merge(settings, workdir, out)
    return out


# ----------------------------------------------------------------------------- checks
def _settings(
    path: Path,
    out: Path,
    cameras: list[str],
    size: int,
    preset: str,
    overwrite: bool,
    compression_level: int,
    visual_factors: str | Sequence[str] | None,
) -> RenderObsSettings:
    """The run's settings, after every check that needs no rendering (bad input fails here)."""
    from dexbench.envs.appearance import check_factors
    from dexbench.envs.registry import lookup

    if out.is_dir():
        raise IsADirectoryError(f"{out} is a directory; give a file path such as {out / 'demos_images.hdf5'}")
    if out.resolve() != path.resolve() and out.exists() and not overwrite:
        raise FileExistsError(
            f"{out} already exists; choose another --out, or pass --overwrite to replace it "
            "(replaced only once the new file is complete)"
        )
    with load_dataset(path) as ds:
        keys = ds.keys
        if not keys:
            raise DatasetError(f"{path} holds no demos: nothing to render")
        no_states = [k for k in keys if not ds.has(k, "states")]
        if no_states:
            raise DatasetError(
                f"{path}: {', '.join(no_states[:3])} {'has' if len(no_states) == 1 else 'have'} no "
                "stored states, and images are rendered from states. Record the dataset with "
                "DexBench (`dexbench demo` / `dexbench generate` store states), or render images "
                "while generating (--obs-mode state+rgb)"
            )
        existing = [image_key(c) for c in cameras if ds.has(keys[0], f"obs/{image_key(c)}")]
        if existing and not overwrite:
            raise FileExistsError(
                f"{path} already has {', '.join(existing)}; pass --overwrite to render "
                "them again, or name other cameras"
            )
        env_id, env_kwargs = ds.env_id, ds.env_kwargs
        lengths = {k: ds.num_samples(k) for k in keys}
        next_obs = ds.has(keys[0], "next_obs")
        factors = list(
            check_factors(env_kwargs.get("visual_factors", ()) if visual_factors is None else visual_factors)
        )
        if factors:
            _check_seeds(path, {k: int(ds.demo_attrs(k).get("seed", -1)) for k in keys})
    try:
        lookup(env_id)
    except Exception:  # noqa: BLE001 - gymnasium's error for an unknown id
        raise DatasetError(
            f"{path}: its env {env_id!r} is not a DexBench env; was it written by another suite or a newer DexBench?"
        ) from None
    check_cameras(env_id, cameras, _state_env_kwargs(env_kwargs))
    _check_existing_image_size(env_kwargs, cameras, size, path)
    _check_existing_image_look(env_kwargs, cameras, factors, path)
    return RenderObsSettings(
        source=str(path.resolve()),
        env_id=env_id,
        demo_lengths=lengths,
        cameras=cameras,
        size=size,
        preset=preset,
        next_obs=next_obs,
        compression_level=int(compression_level),
        visual_factors=factors,
        source_sha256=digest(path),
        suite_version=suite_version(),
    )


def check_cameras(env_id: str, cameras: list[str], env_kwargs: dict | None = None, flag: str = "") -> None:
    """Refuse cameras the env does not have, naming the ones it has (`flag`: the option they came
    from, shown in the message)."""
    from dexbench.envs.registry import build_env

    env = build_env(env_id, **(env_kwargs or {}))
    try:
        valid = env.available_cameras()
    finally:
        env.close()
    unknown = [c for c in cameras if c not in valid]
    if unknown:
        raise ValueError(
            f"unknown camera{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
            f"{f' ({flag})' if flag else ''}; {env_id} has {', '.join(valid)}"
        )


def _state_env_kwargs(env_kwargs: dict, visual_factors: list[str] | tuple[str, ...] = ()) -> dict:
    """The dataset's env kwargs with state observations only (`reset_to` must not render: the
    images are rendered once, by the renderer of this run) and the looks this run renders."""
    return {**env_kwargs, "obs_mode": "state", "visual_factors": list(visual_factors)}


def _check_seeds(path: Path, seeds: dict[str, int]) -> None:
    """A randomised look is drawn from the demo's reset seed, so every demo needs one."""
    unseeded = [k for k, seed in seeds.items() if seed < 0]
    if unseeded:
        listed = ", ".join(unseeded[:3]) + (f" and {len(unseeded) - 3} more" if len(unseeded) > 3 else "")
        raise DatasetError(
            f"{path}: {listed} {'has' if len(unseeded) == 1 else 'have'} no recorded reset seed "
            "(attrs['seed'] is -1), and a randomised look is drawn from the demo's reset seed. "
            "Render the published look (--visual-factors none), or record the demos with "
            "DexBench (`dexbench demo` / `dexbench generate` store each demo's seed)"
        )


def _check_existing_image_look(env_kwargs: dict, cameras: list[str], factors: list[str], path: Path) -> None:
    """One look per dataset: the images of every camera come from the same episodes' looks, as
    env_args' single `visual_factors` says."""
    if "rgb" not in env_kwargs.get("obs_mode", "state"):
        return
    others = [c for c in env_kwargs.get("camera_names", []) if c not in cameras]
    recorded = list(env_kwargs.get("visual_factors", []))
    if others and recorded != factors:
        raise ValueError(
            f"{path} already has images of {', '.join(others)} with visual factors "
            f"{','.join(recorded) or 'none'}; render with --visual-factors {','.join(recorded) or 'none'} "
            "(one look per dataset), or start from a state-only dataset"
        )


def _check_existing_image_size(env_kwargs: dict, cameras: list[str], size: int, path: Path) -> None:
    """One image size per dataset: robomimic stacks a dataset's images of one key into one array,
    and a policy reads every camera at the size env_args names."""
    if "rgb" not in env_kwargs.get("obs_mode", "state"):
        return
    others = [c for c in env_kwargs.get("camera_names", []) if c not in cameras]
    recorded = tuple(env_kwargs.get("image_size", (size, size)))
    if others and recorded != (size, size):
        raise ValueError(
            f"{path} already has {recorded[0]}x{recorded[1]} images of {', '.join(others)}; render at "
            f"--size {recorded[0]} (one image size per dataset), or start from a state-only dataset"
        )


# ----------------------------------------------------------------------------- work folder
def _prepare_workdir(workdir: Path, settings: RenderObsSettings, discard_other: bool) -> set[str]:
    """Make the work folder, or check that an existing one belongs to the same run (another
    run's is discarded with `discard_other`, else refused: its finished demos are work the user
    did not ask to redo); returns the demos rendered there."""
    settings_path = workdir / SETTINGS_FILE
    wanted = asdict(settings)
    if workdir.exists() and discard_other and differences(_read_json(settings_path), wanted):
        shutil.rmtree(workdir)
    if workdir.exists():
        check_same(
            _read_json(settings_path),
            wanted,
            f"{workdir} holds an unfinished render-obs run with other settings (or of another dataset)",
            f"Run that command again to finish it, or pass --overwrite (or delete {workdir}) to start over",
            error=FileExistsError,
        )
    else:
        workdir.mkdir(parents=True)
        tmp = settings_path.with_name(SETTINGS_FILE + ".tmp")
        tmp.write_text(json.dumps(wanted, indent=1))
        os.replace(tmp, settings_path)
    return {p.stem for p in workdir.glob("demo_*.hdf5")}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class _DemoRenderer:
    """Renders demos of one dataset into the work folder: one env and one renderer, reused."""

    def __init__(self, settings: RenderObsSettings, workdir: Path, env_kwargs: dict | None = None) -> None:
        from dexbench.envs.registry import build_env

        self.settings, self.workdir = settings, workdir
        if env_kwargs is None:
            with load_dataset(settings.source) as ds:
                env_kwargs = ds.env_kwargs
        self.env = build_env(settings.env_id, **_state_env_kwargs(env_kwargs, settings.visual_factors))
        self.renderer = self.env.camera_renderer((settings.size, settings.size), settings.preset)

    def images(self, states: np.ndarray, last_action: np.ndarray) -> np.ndarray:
        """(T + 1, cameras, H, W, 3): the image of every state, then of the state after the last
        action (the last `next_obs`)."""
        frames = []
        for state in states:
            self.env.reset_to(state)
            frames.append(self.renderer.render(self.env.data, self.settings.cameras))
        self.env.reset_to(states[-1])
        self.env.step(last_action)
        frames.append(self.renderer.render(self.env.data, self.settings.cameras))
        return np.asarray(frames, dtype=np.uint8)

    def render_demo(self, key: str) -> str:
        with load_dataset(self.settings.source) as ds:
            states, actions = ds.array(key, "states"), ds.array(key, "actions")
            seed = int(ds.demo_attrs(key).get("seed", -1))
        self.write_demo(key, states, actions, seed)
        return key

    def write_demo(self, key: str, states: np.ndarray, actions: np.ndarray, seed: int) -> Path:
        """Render one demo from its states, actions and reset seed into `<workdir>/<key>.hdf5`."""
        if self.settings.visual_factors:
            # The demo's own look, whatever was rendered before: `reset_to` keeps the look of this reset.
            self.env.reset(seed=seed)
        frames = self.images(states, actions[-1])
        final = self.workdir / f"{key}.hdf5"
        tmp = final.with_name(final.name + ".tmp")
        with h5py.File(tmp, "w") as f:
            groups = ("obs", "next_obs") if self.settings.next_obs else ("obs",)
            for i, camera in enumerate(self.settings.cameras):
                for group in groups:
                    shift = 1 if group == "next_obs" else 0
                    frames_of_group = frames[shift : shift + len(states), i]
                    write_array(
                        f.require_group(group), image_key(camera), frames_of_group, self.settings.compression_level
                    )
        os.replace(tmp, final)  # the demo's name appears only once its file is complete
        return final

    def close(self) -> None:
        self.env.close()


def _render_job(job: tuple[RenderObsSettings, dict, str | None, list], emit) -> None:
    """A worker under `parallel.run_workers`: render its demos with one env. With a work folder
    (processes on this machine) a demo is a key, read from the source and written there, and
    ("demo", key, None) is sent; without one (a Ray task, maybe on another machine) it comes as
    (key, states, actions, seed), is rendered in a folder of this node and sent back as
    ("demo", key, file bytes)."""
    import contextlib
    import tempfile

    settings, env_kwargs, workdir, demos = job
    with contextlib.nullcontext(workdir) if workdir else tempfile.TemporaryDirectory(prefix="dexbench-render-") as here:
        renderer = _DemoRenderer(settings, Path(here), env_kwargs)
        try:
            for demo in demos:
                if workdir:
                    emit(("demo", renderer.render_demo(demo), None))
                    continue
                key, states, actions, seed = demo
                path = renderer.write_demo(key, states, actions, seed)
                data = path.read_bytes()
                path.unlink()
                emit(("demo", key, data))
        finally:
            renderer.close()


def _render(
    settings: RenderObsSettings, workdir: Path, keys: list[str], workers: int, progress, backend: Backend
) -> None:
    """Demos dealt round-robin to `workers` workers (each builds its env once; one worker and no
    Ray: here); a demo's file is in the work folder as soon as it is done."""
    from dexbench.parallel import WorkerError, run_workers

    workers = min(workers, len(keys))
    with load_dataset(settings.source) as ds:
        env_kwargs = ds.env_kwargs
        if backend.is_ray:  # the states travel with the task: the node may not see this file
            shares = [
                [
                    (key, ds.array(key, "states"), ds.array(key, "actions"), int(ds.demo_attrs(key).get("seed", -1)))
                    for key in keys[w::workers]
                ]
                for w in range(workers)
            ]
        else:
            shares = [keys[w::workers] for w in range(workers)]
    jobs = [(settings, env_kwargs, None if backend.is_ray else str(workdir), share) for share in shares]

    def receive(event: tuple) -> None:
        _, key, data = event
        if data is not None:
            final = workdir / f"{key}.hdf5"
            tmp = final.with_name(final.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, final)
        if progress:
            progress(key)

    if workers == 1 and not backend.is_ray:
        _render_job(jobs[0], receive)
        return
    try:
        run_workers(_render_job, jobs, receive, backend, stop_grace_s=0.0)  # every finished demo is on disk
    except WorkerError as err:
        raise RenderObsError(
            f"{err}. The demos finished so far are kept in {workdir}; fix the problem and run the "
            "same command again to continue"
        ) from None


# ----------------------------------------------------------------------------- merge
def _merge(settings: RenderObsSettings, workdir: Path, out: Path) -> None:
    """Copy the source with every demo's images into `out`, atomically, then drop the work folder."""
    tmp = workdir / "merged.hdf5.tmp"
    shutil.copyfile(settings.source, tmp)  # a stale copy from a killed merge is simply replaced
    with h5py.File(tmp, "r+") as f:
        data = f["data"]
        for key in settings.demo_lengths:
            with h5py.File(workdir / f"{key}.hdf5", "r") as shard:
                for group_name, group in shard.items():
                    target = data[key].require_group(group_name)
                    for name in group:
                        if name in target:  # --overwrite: images rendered before are replaced
                            del target[name]
                        shard.copy(group[name], target, name=name)  # the compressed chunks as they are
        env_args = json.loads(data.attrs["env_args"])
        env_args["env_kwargs"] = _image_env_kwargs(env_args.get("env_kwargs", {}), settings)
        data.attrs["env_args"] = json.dumps(env_args)
    os.replace(tmp, out)
    shutil.rmtree(workdir)


def _image_env_kwargs(env_kwargs: dict, settings: RenderObsSettings) -> dict:
    """The env kwargs that make an env observe what the dataset now holds: its state keys plus
    these images, so policies trained on it see the same cameras, size and look (`visual_factors`
    only when on, as the writer records it)."""
    had_images = "rgb" in env_kwargs.get("obs_mode", "state")
    earlier = list(env_kwargs.get("camera_names", [])) if had_images else []
    looks = {"visual_factors": settings.visual_factors} if settings.visual_factors else {}
    return {
        **{k: v for k, v in env_kwargs.items() if k != "visual_factors"},
        **looks,
        "obs_mode": "state+rgb" if "state" in env_kwargs.get("obs_mode", "state") else "rgb",
        "camera_names": earlier + [c for c in settings.cameras if c not in earlier],
        "image_size": [settings.size, settings.size],
        "render_preset": settings.preset,
    }
