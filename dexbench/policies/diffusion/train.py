"""Train a Diffusion Policy on a dataset's state observations (`dexbench train diffusion`).

Data, action representation and normalisation are BC's (`policies/bc`): absolute rotations as
6-D (`actions.py`), observations and actions normalised by their mean and std over the training
demos (`data.py`). A sample is one step t of a demo: the observations t-n_obs+1 .. t and the
`horizon` actions t-n_obs+1 .. t-n_obs+horizon (indices clamped into the demo: the first
observation and the last action repeat at its ends). Training adds DDPM noise at a random step
of `diffusion_steps` and regresses the noise (MSE); AdamW, a linear warm-up then cosine decay of
the learning rate; the checkpoint holds an EMA of the weights (power schedule, as in Chi et
al.'s code: decay = min(ema_max, 1 - (1 + step)^-ema_power)). Same data, config and seed on the
CPU: the same weights.

The output directory holds `model.pt` (the EMA network's state_dict: tensors only),
`config.json` (format "dexbench-diffusion-checkpoint") and `train_log.json`, replaced atomically
(BC's `_save`); options are checked before any data is read (`DiffusionConfig.check`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dexbench.policies.bc.actions import encode
from dexbench.policies.bc.data import DemoArrays, check_max_demos, load_demo_arrays
from dexbench.policies.bc.train import (
    TrainingDiverged,
    _check_stats,
    _rotation_slots_of,
    _save,
    snapshot_schedule,
)
from dexbench.policies.diffusion.model import GROUPS, NoiseSchedule, TemporalUNet, count_parameters

CHECKPOINT_FORMAT = "dexbench-diffusion-checkpoint"
CHECKPOINT_VERSION = 1
MAX_HORIZON = 256
MAX_CHANNELS = 4_096
MAX_PARAMETERS = 300_000_000  # (256, 512, 1024), the paper's size, is 65M on a 30-D action
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class DiffusionConfig:
    steps: int = 5_000  # gradient steps
    batch_size: int = 256
    lr: float = 1e-4
    weight_decay: float = 1e-6
    warmup: int = 500  # learning-rate warm-up steps (at most a tenth of `steps`)
    horizon: int = 16  # actions predicted per sample
    n_obs: int = 2  # observations conditioned on (the last n_obs)
    n_action: int = 8  # actions executed per prediction
    channels: tuple[int, ...] = (64, 128, 256)  # U-Net widths per level; the paper's: (256, 512, 1024)
    diffusion_steps: int = 100  # DDPM training steps
    ddim_steps: int = 10  # DDIM steps at inference
    ema_power: float = 0.75
    ema_max: float = 0.9999
    val_fraction: float = 0.1
    seed: int = 0
    log_every: int = 500
    checkpoint_every: int = 1_000
    keep_checkpoints: int = 0  # also keep this many evenly spaced checkpoints in `<out>/step_<N>/`
    threads: int = 0  # torch CPU threads (0: torch's default)
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda"
    model: dict[str, Any] = field(default_factory=dict)  # filled in from the above

    def check(self) -> None:
        """Refuse values that would crash, hang or silently train something else, before any data
        is read. Each message names the option (and its flag), the allowed range and the value."""
        for name, lo, hi in _INT_RANGES:
            _check_int(name, getattr(self, name), lo, hi)
        for name, allowed, ok in _FLOAT_RANGES:
            value = getattr(self, name)
            number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not ok(value):
                raise ValueError(f"{_option(name)} must be a finite number {allowed}, got {value!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device (--device) must be one of {', '.join(DEVICES)}, got {self.device!r}")
        channels = self.channels
        if (not isinstance(channels, (tuple, list)) or not 1 <= len(channels) <= 6
                or not all(_is_int(c) and GROUPS <= c <= MAX_CHANNELS and c % GROUPS == 0 for c in channels)):
            raise ValueError(f"channels (--channels) must be 1 to 6 widths, each a multiple of {GROUPS} in "
                             f"{GROUPS}..{MAX_CHANNELS} (e.g. 64,128,256), got {channels!r}")
        levels = 2 ** (len(channels) - 1)
        if self.horizon % levels:
            raise ValueError(f"horizon (--horizon) must be a multiple of {levels} for {len(channels)} U-Net levels "
                             f"(each halves the sequence), got {self.horizon}")
        if self.n_obs - 1 + self.n_action > self.horizon:
            raise ValueError(f"n_obs - 1 + n_action (--n-obs {self.n_obs}, --n-action {self.n_action}) must be at "
                             f"most horizon (--horizon {self.horizon}): the executed actions lie in the window")
        if self.ddim_steps > self.diffusion_steps:
            raise ValueError(f"ddim_steps (--ddim-steps) must be at most the {self.diffusion_steps} diffusion "
                             f"steps, got {self.ddim_steps}")
        snapshot_schedule(self.steps, self.keep_checkpoints)

    def model_kwargs(self) -> dict[str, Any]:
        return {"horizon": self.horizon, "n_obs": self.n_obs, "n_action": self.n_action,
                "channels": list(self.channels)}


_INT_RANGES = [("steps", 1, 10**9), ("batch_size", 1, 1_000_000), ("warmup", 0, 10**9),
               ("horizon", 1, MAX_HORIZON), ("n_obs", 1, MAX_HORIZON), ("n_action", 1, MAX_HORIZON),
               ("diffusion_steps", 2, 10_000), ("ddim_steps", 1, 10_000), ("seed", 0, 2**63 - 1),
               ("log_every", 1, None), ("checkpoint_every", 1, None), ("keep_checkpoints", 0, None),
               ("threads", 0, 1_024)]
_FLOAT_RANGES = [("lr", "> 0", lambda x: x > 0), ("weight_decay", ">= 0", lambda x: x >= 0),
                 ("ema_power", "> 0", lambda x: x > 0), ("ema_max", "in [0, 1)", lambda x: 0 <= x < 1),
                 ("val_fraction", "in [0, 1) (some demos must be left to train on)", lambda x: 0 <= x < 1)]
_FLAGS = {"steps": "--steps", "batch_size": "--batch-size", "lr": "--lr", "horizon": "--horizon",
          "n_obs": "--n-obs", "n_action": "--n-action", "ddim_steps": "--ddim-steps", "seed": "--seed",
          "threads": "--threads", "keep_checkpoints": "--checkpoints", "channels": "--channels", "device": "--device"}


def _option(name: str) -> str:
    return f"{name} ({_FLAGS[name]})" if name in _FLAGS else name


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_int(name: str, value: Any, lo: int, hi: int | None) -> None:
    allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
    if not _is_int(value) or not (lo <= value and (hi is None or value <= hi)):
        raise ValueError(f"{_option(name)} must be an integer in {allowed}, got {value!r}")


def resolve_device(device: str) -> torch.device:
    """"auto": CUDA when torch sees a GPU, else the CPU; "cuda" without one is an error."""
    if device not in DEVICES:
        raise ValueError(f"device (--device) must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: this torch sees no CUDA GPU (torch.cuda.is_available() is False; "
                         f"torch {torch.__version__}); use --device cpu or auto, or install a CUDA build of torch")
    return torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")


@dataclass
class TrainReport:
    out: str
    device: str
    parameters: int
    train_demos: int
    val_demos: int
    samples: int
    steps: int
    final_train_loss: float
    val_loss: float | None
    wall_s: float

    def table(self) -> str:
        rows = [("output", self.out), ("device", self.device), ("parameters", f"{self.parameters:,}"),
                ("demos", f"{self.train_demos} train, {self.val_demos} validation ({self.samples} samples)"),
                ("gradient steps", str(self.steps)),
                ("train loss (noise MSE)", f"{self.final_train_loss:.4f}"),
                ("validation loss", "-" if self.val_loss is None else f"{self.val_loss:.4f}"),
                ("wall time", f"{self.wall_s:.1f} s")]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


class Windows:
    """Every step of the given demos as a sample: (n_obs, obs_dim) normalised observations and
    (horizon, act_dim) normalised actions, gathered per batch from the flat arrays."""

    def __init__(self, data: DemoArrays, demos: list[int], config: DiffusionConfig,
                 stats: dict[str, np.ndarray]) -> None:
        obs = [(data.obs[i] - stats["obs_mean"]) / stats["obs_std"] for i in demos]
        act = [(data.actions[i] - stats["act_mean"]) / stats["act_std"] for i in demos]
        self.obs = torch.as_tensor(np.concatenate(obs), dtype=torch.float32)
        self.act = torch.as_tensor(np.concatenate(act), dtype=torch.float32)
        obs_idx, act_idx, offset = [], [], 0
        for a in act:
            n = len(a)
            first = np.arange(n)[:, None] - (config.n_obs - 1)  # the window's first step, per current step
            obs_idx.append(offset + np.clip(first + np.arange(config.n_obs), 0, n - 1))
            act_idx.append(offset + np.clip(first + np.arange(config.horizon), 0, n - 1))
            offset += n
        self.obs_idx = torch.as_tensor(np.concatenate(obs_idx))
        self.act_idx = torch.as_tensor(np.concatenate(act_idx))

    def __len__(self) -> int:
        return len(self.obs_idx)

    def to(self, device: torch.device) -> "Windows":
        for name in ("obs", "act", "obs_idx", "act_idx"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def at(self, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_obs * obs_dim) flattened observations, (B, horizon, act_dim) actions."""
        samples = samples.to(self.obs_idx.device)
        return self.obs[self.obs_idx[samples]].flatten(1), self.act[self.act_idx[samples]]


class EMA:
    """An exponential moving average of a network's parameters (buffers copied)."""

    def __init__(self, model: torch.nn.Module, power: float, max_decay: float) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.power, self.max_decay, self.updates = power, max_decay, 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        decay = min(self.max_decay, 1 - (1 + self.updates) ** -self.power)
        self.updates += 1
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.mul_(decay).add_(p.detach(), alpha=1 - decay)
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def diffusion_loss(model: TemporalUNet, schedule: NoiseSchedule, obs: torch.Tensor, act: torch.Tensor,
                   gen: torch.Generator) -> torch.Tensor:
    """Noise-prediction MSE at random diffusion steps (noise and steps drawn on the CPU from `gen`)."""
    noise = torch.randn(act.shape, generator=gen).to(act.device)
    t = torch.randint(schedule.train_steps, (act.shape[0],), generator=gen).to(act.device)
    return F.mse_loss(model(schedule.add_noise(act, noise, t), t, obs), noise)


def train_diffusion(data_path: str | Path | DemoArrays, out: str | Path, config: DiffusionConfig | None = None,
                    progress: bool = True, max_demos: int | None = None) -> TrainReport:
    """Train a Diffusion Policy on the dataset `data_path` (a file, or demos already loaded);
    write the checkpoint to the directory `out`."""
    from tqdm import tqdm

    import dexbench

    config = dataclasses.replace(config or DiffusionConfig())
    config.check()
    check_max_demos(max_demos)
    device = resolve_device(config.device)
    config.channels = list(config.channels)
    config.model = config.model_kwargs()
    if config.threads:
        torch.set_num_threads(config.threads)
    start = time.perf_counter()
    data = data_path if isinstance(data_path, DemoArrays) else load_demo_arrays(data_path, max_demos=max_demos)
    source = str(data_path) if not isinstance(data_path, DemoArrays) else "the in-memory demos"
    data.check_trainable(source)
    slots = _rotation_slots_of(data)
    env_act_dim = data.actions[0].shape[1]
    data = dataclasses.replace(data, actions=[encode(a, slots) for a in data.actions])
    n = len(data.actions)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(n)
    n_val = min(int(round(config.val_fraction * n)), n - 1) if n >= 10 else 0
    val_demos, train_demos = sorted(order[:n_val].tolist()), sorted(order[n_val:].tolist())
    train_data = DemoArrays([data.obs[i] for i in train_demos], [data.actions[i] for i in train_demos],
                            data.obs_keys, data.env_id, data.env_kwargs)
    stats = train_data.stats()
    _check_stats(stats)
    train_set = Windows(data, train_demos, config, stats).to(device)
    val_set = Windows(data, val_demos, config, stats).to(device) if val_demos else None

    obs_dim, act_dim = int(data.obs[0].shape[1]), int(data.actions[0].shape[1])
    parameters = count_parameters(config.model, obs_dim, act_dim)
    if parameters > MAX_PARAMETERS:
        raise ValueError(f"channels (--channels) {config.channels} make a {parameters:,}-parameter network, more "
                         f"than {MAX_PARAMETERS:,}; use narrower levels (default 64,128,256)")
    config_json = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
                   "suite_version": dexbench.__version__, "torch_version": torch.__version__,
                   "obs_dim": obs_dim, "act_dim": act_dim, "model": config.model,
                   "diffusion": {"train_steps": config.diffusion_steps, "schedule": "squaredcos_cap_v2",
                                 "prediction": "epsilon", "ddim_steps": config.ddim_steps},
                   "parameters": parameters, "env_act_dim": int(env_act_dim),
                   "rotation_slots": [list(x) for x in slots], "obs_keys": data.obs_keys, "env_id": data.env_id,
                   "env_kwargs": data.env_kwargs,
                   "dataset": str(data_path) if not isinstance(data_path, DemoArrays) else "(in memory)",
                   "train_demos": len(train_demos), "val_demos": len(val_demos),
                   "train": dataclasses.asdict(config)}

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = TemporalUNet(obs_dim, act_dim, **config.model)
    model.obs_norm.set(stats["obs_mean"], stats["obs_std"])
    model.act_norm.set(stats["act_mean"], stats["act_std"])
    bound = float(train_set.act.abs().max()) * 1.1 + 0.1  # DDIM clips its x0 estimate to the data's range
    model.action_bound.fill_(bound)
    model.to(device)
    ema = EMA(model, config.ema_power, config.ema_max)
    schedule = NoiseSchedule(config.diffusion_steps)
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.95, 0.999), weight_decay=config.weight_decay)
    warmup = min(config.warmup, config.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: _lr_factor(s, warmup, config.steps))
    log: dict[str, Any] = {"step": [], "train_loss": [], "val_loss": [], "lr": []}
    out = Path(out)
    snapshot_steps = set(snapshot_schedule(config.steps, config.keep_checkpoints))
    running, val_loss, last_saved = None, None, None
    bar = tqdm(range(1, config.steps + 1), desc="train diffusion", unit="step", disable=not progress)
    for step in bar:
        model.train()
        obs, act = train_set.at(torch.randint(len(train_set), (config.batch_size,), generator=gen))
        loss = diffusion_loss(model, schedule, obs, act, gen)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingDiverged(_diverged(step, loss_value, config, out, last_saved))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
        ema.update(model)
        running = loss_value if running is None else 0.98 * running + 0.02 * loss_value
        if step % config.log_every == 0 or step == config.steps:
            val_loss = validation_loss(ema.model, schedule, val_set, config.seed)
            log["step"].append(step)
            log["train_loss"].append(running)
            log["val_loss"].append(val_loss)
            log["lr"].append(sched.get_last_lr()[0])
            bar.set_postfix(loss=f"{running:.4f}", val="-" if val_loss is None else f"{val_loss:.4f}", refresh=False)
        saving = step % config.checkpoint_every == 0 or step == config.steps
        if (saving or step in snapshot_steps) and not all(bool(torch.isfinite(t).all())
                                                          for t in ema.model.state_dict().values()):
            raise TrainingDiverged(_diverged(step, float("nan"), config, out, last_saved))
        if saving or step in snapshot_steps:
            cpu_model = copy.deepcopy(ema.model).to("cpu")
            if saving:
                _save(out, cpu_model, {**config_json, "steps_done": step}, log)
                last_saved = step
            if step in snapshot_steps:
                _save(out / f"step_{step}", cpu_model, {**config_json, "steps_done": step}, log)
    bar.close()
    return TrainReport(out=str(out), device=str(device), parameters=parameters, train_demos=len(train_demos),
                       val_demos=len(val_demos), samples=len(train_set), steps=config.steps,
                       final_train_loss=float(running), val_loss=val_loss, wall_s=time.perf_counter() - start)


def _diverged(step: int, loss: float, config: DiffusionConfig, out: Path, last_saved: int | None) -> str:
    kept = (f"the last good checkpoint (step {last_saved}) is kept in {out}" if last_saved
            else f"no checkpoint of this run was written to {out}")
    return (f"training diverged at step {step} (loss {loss}); {kept}. Lower the learning rate "
            f"(--lr, now {config.lr:g}) or check the dataset for extreme values")


@torch.no_grad()
def validation_loss(model: TemporalUNet, schedule: NoiseSchedule, val_set: Windows | None, seed: int,
                    max_samples: int = 2048) -> float | None:
    """The noise MSE on held-out demos, with noise and steps fixed by the seed (comparable over training)."""
    if val_set is None:
        return None
    model.eval()
    samples = torch.arange(0, len(val_set), max(1, len(val_set) // max_samples))
    obs, act = val_set.at(samples)
    return float(diffusion_loss(model, schedule, obs, act, torch.Generator().manual_seed(seed + 1)).item())
