"""What a learner writes, when, and what a checkpoint folder may hold: shared by every learner
(BC, pixel BC, the Diffusion Policy).

A checkpoint folder holds `model.pt` (a `state_dict`: tensors only), `config.json` and
`train_log.json`, each replaced atomically, so an interrupted run leaves the last checkpoint
whole; kept checkpoints sit in `step_<N>/` (and `train bc --train-seeds` runs in `seed_<N>/`).
Weights gone NaN or infinite are never written, and no JSON file holds NaN.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from dexbench.jsonio import check_writable, write_json_atomic


class TrainingDiverged(ValueError):
    """The loss or the weights became NaN or infinite; no checkpoint of that state is written."""


def _diverged_message(step: int, loss: float, config, out: Path, last_saved: int | None) -> str:
    kept = (
        f"the last good checkpoint (step {last_saved}) is kept in {out}"
        if last_saved
        else f"no checkpoint of this run was written to {out}"
    )
    return (
        f"training diverged at step {step} (loss {loss}); {kept}. Lower the learning rate "
        f"(--lr, now {config.lr:g}) or check the dataset for extreme values"
    )


def _weights_finite(model) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values())


def _json_text(path: Path, obj: Any) -> str:
    """`obj` as strict JSON: NaN and Infinity are not JSON, and a reader (or jq) would reject the file."""
    try:
        return json.dumps(obj, indent=1, allow_nan=False) + "\n"
    except ValueError as err:
        raise ValueError(f"refusing to write {path}: it would hold NaN or Infinity ({err})") from err


def save_checkpoint(out: Path, model, config_json: dict[str, Any], log: dict[str, Any]) -> None:
    # Both JSON files are checked before anything is replaced, so a refusal leaves the last
    # checkpoint whole rather than a new model.pt beside an old config.json.
    _json_text(out / "config.json", config_json)
    _json_text(out / "train_log.json", log)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.pt.tmp"
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, out / "model.pt")
    write_json_atomic(out / "config.json", config_json)
    write_json_atomic(out / "train_log.json", log)


CHECKPOINT_FILES = ("model.pt", "config.json", "train_log.json")  # what `save_checkpoint` writes in a checkpoint folder
CHECKPOINT_FOLDER_RE = re.compile(r"(step|seed)_\d+")  # kept checkpoints; `train bc --train-seeds` folders


def _not_a_checkpoint(folder: Path) -> Path | None:
    """The first entry of `folder` that `train bc` does not write (None: the folder is one of ours)."""
    for entry in sorted(folder.iterdir()):
        name = entry.name.removesuffix(".tmp")
        if entry.is_symlink():
            return entry
        if entry.is_file() and name in CHECKPOINT_FILES:
            continue
        if entry.is_dir() and CHECKPOINT_FOLDER_RE.fullmatch(entry.name):
            inner = _not_a_checkpoint(entry)
            if inner is None:
                continue
            return inner
        return entry
    return None


def check_checkpoint_out(out: str | Path, overwrite: bool = False, flag: str = "--out") -> Path:
    """Before any training: refuse a checkpoint folder `out` that holds files (without
    `overwrite`), that holds anything `train bc` does not write or is the current folder (even
    with it), or that cannot be written (jsonio.check_writable, the check `eval` and `generate`
    make; folders it makes for the probe are removed again). Raises FileExistsError / ValueError
    / OSError naming the fix."""
    out = Path(out)
    if os.path.lexists(out) and not out.is_dir():
        raise ValueError(f"{flag} {out}: a file, not a folder. Give a folder for the checkpoint, e.g. runs/bc")
    if out.is_dir() and any(out.iterdir()):
        here = Path.cwd().resolve()
        if out.resolve() == here or out.resolve() in here.parents:
            raise ValueError(
                f"{flag} {out} is the current folder (or holds it); give the checkpoint a folder of "
                "its own, e.g. runs/bc"
            )
        if not overwrite:
            raise FileExistsError(
                f"{flag} {out} already holds files; pass --overwrite to replace the checkpoint "
                f"in it, or give another {flag}"
            )
        foreign = _not_a_checkpoint(out)
        if foreign is not None:
            raise ValueError(
                f"{flag} {out} holds {foreign.relative_to(out)}, which train bc does not write, so it "
                f"is not a checkpoint folder and --overwrite does not replace it; give another {flag}"
            )
    made = [p for p in (out, *out.parents) if not os.path.lexists(p)]
    try:
        check_writable(out / CHECKPOINT_FILES[0])
    finally:
        for folder in made:  # deepest first: the probe leaves nothing behind
            with contextlib.suppress(OSError):
                folder.rmdir()
    return out


def clear_checkpoint(out: str | Path) -> None:
    """Remove what `train bc` wrote in `out` (checked by `check_checkpoint_out`), so an
    --overwrite run does not leave the old run's step_<N>/ beside its own."""
    out = Path(out)
    if not out.is_dir() or _not_a_checkpoint(out) is not None:
        return
    for entry in out.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def snapshot_schedule(steps: int, count: int) -> list[int]:
    """The steps at which `count` checkpoints are kept: evenly spaced, the last at the end."""
    if count < 0 or count > steps:
        raise ValueError(f"keep_checkpoints must be in 0..steps ({steps}), got {count}")
    return [round(steps * (k + 1) / count) for k in range(count)]


def finished_training(out: str | Path, config) -> bool:
    """Whether `out` holds a finished training with exactly this config (a resumable pipeline
    reuses it instead of training again)."""
    path = Path(out) / "config.json"
    if not path.is_file() or not (Path(out) / "model.pt").is_file():
        return False
    saved = json.loads(path.read_text())
    train = saved.get("train") if isinstance(saved.get("train"), dict) else None
    if train is not None and hasattr(config, "obs"):
        train = {"obs": "state", **train}  # BC checkpoints from before pixel BC trained on the state
    # Where it trained is not what it learnt (and checkpoints from before --device have no device).
    wanted = {k: v for k, v in dataclasses.asdict(config).items() if k != "device"}
    return (
        saved.get("steps_done") == config.steps
        and train is not None
        and {k: v for k, v in train.items() if k != "device"} == wanted
    )


def kept_checkpoints(out: str | Path) -> list[Path]:
    """The checkpoints `train_bc` kept in `out` (`step_<N>/`, in training order), or [out]."""
    kept = sorted(Path(out).glob("step_*/model.pt"), key=lambda p: int(p.parent.name.split("_")[1]))
    return [p.parent for p in kept] or [Path(out)]


class CheckpointWriter:
    """Where and when a training run writes its checkpoint: `out` every `every` steps and at the
    last, and `keep` more, evenly spaced, in `out/step_<N>/` (each loadable); weights gone NaN or
    infinite are never written (`TrainingDiverged`, naming the last good checkpoint). A network
    on a GPU is written from a CPU copy, so every checkpoint loads anywhere."""

    def __init__(self, out: Path, config_json: dict[str, Any], config, every: int) -> None:
        self.out, self.config_json, self.config, self.every = out, config_json, config, every
        self.snapshots = set(snapshot_schedule(config.steps, config.keep_checkpoints))
        self.last_saved: int | None = None

    def diverged(self, step: int, loss: float) -> TrainingDiverged:
        return TrainingDiverged(_diverged_message(step, loss, self.config, self.out, self.last_saved))

    def after_step(self, step: int, model, log: dict[str, Any]) -> None:
        saving = step % self.every == 0 or step == self.config.steps
        if not saving and step not in self.snapshots:
            return
        # The loss was finite before this step's update; the update itself may not have been.
        if not _weights_finite(model):
            raise self.diverged(step, float("nan"))
        if next(model.parameters()).device.type != "cpu":
            model = copy.deepcopy(model).to("cpu")
        config_json = {**self.config_json, "steps_done": step}
        if saving:
            save_checkpoint(self.out, model, config_json, log)
            self.last_saved = step
        if step in self.snapshots:
            save_checkpoint(self.out / f"step_{step}", model, config_json, log)
