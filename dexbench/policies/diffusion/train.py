"""Train a Diffusion Policy on a dataset's state observations (`dexbench train diffusion`).

Data and action representation are BC's (`policies/bc`): the same demos, split by the same
seed, absolute rotations as 6-D (`actions.py`), observations normalised by their mean and std
(`data.py`). Actions are scaled by their range to [-1, 1] per dimension, as in Chi et al.'s code,
so DDIM can clip its x0 estimate at 1 (`action_range_stats`). A sample is one step t of a demo:
the observations t-n_obs+1 .. t and the `horizon` actions t-n_obs+1 .. t-n_obs+horizon (indices
clamped into the demo: the first observation and the last action repeat at its ends). Training
adds DDPM noise at a random step of `diffusion_steps` and regresses the clean actions
(`prediction` "sample", the default) or the noise ("epsilon") with an MSE; AdamW, a linear
warm-up then cosine decay of the learning rate; the checkpoint holds an EMA of the weights
(power schedule, as in Chi et al.'s code: decay = min(ema_max, 1 - (1 + step)^-ema_power)).
Same data, config and seed on the CPU: the same weights.

The output directory holds `model.pt` (the EMA network's state_dict: tensors only),
`config.json` (format "dexbench-diffusion-checkpoint") and `train_log.json`, replaced atomically
(BC's `CheckpointWriter`); options are checked before any data is read (`DiffusionConfig.check`).
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

from dexbench.policies.bc.data import DemoArrays, check_max_demos
from dexbench.policies.bc.train import _check_stats, training_demos, training_table
from dexbench.policies.checkpoint_folders import CheckpointWriter
from dexbench.policies.device import resolve_device
from dexbench.policies.diffusion.model import GROUPS, PREDICTIONS, NoiseSchedule, TemporalUNet, count_parameters
from dexbench.policies.learner_options import check_options, is_integer

CHECKPOINT_FORMAT = "dexbench-diffusion-checkpoint"
CHECKPOINT_VERSION = 1
MAX_HORIZON = 256
MAX_CHANNELS = 4_096
MAX_PARAMETERS = 300_000_000  # (256, 512, 1024), the paper's size, is 65M on a 30-D action
ACTION_RANGE_FLOOR = 1e-4  # half-range of an action dimension that does not move (env action units)


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
    # What the network predicts: "sample" (the clean action window, x0) or "epsilon" (the noise,
    # Chi et al.'s choice). On 2 demos, 800 steps: sample 0.044 from the demos, epsilon 0.66
    # (epsilon learns the observations' effect slowly: 0.10 after 4,000 steps); docs/evaluation.md.
    prediction: str = "sample"
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

    def __post_init__(self) -> None:
        # Refuses, when made, values that would crash, hang or silently train something else, so a
        # bad option fails before any data is read. Each message names the option (and its flag),
        # the allowed range and the value.
        check_options(self, _INT_RANGES, _FLOAT_RANGES, _FLAGS)
        if self.prediction not in PREDICTIONS:
            raise ValueError(
                f"prediction (--prediction) must be one of {', '.join(PREDICTIONS)}, got {self.prediction!r}"
            )
        channels = self.channels
        if (
            not isinstance(channels, (tuple, list))
            or not 1 <= len(channels) <= 6
            or not all(is_integer(c) and GROUPS <= c <= MAX_CHANNELS and c % GROUPS == 0 for c in channels)
        ):
            raise ValueError(
                f"channels (--channels) must be 1 to 6 widths, each a multiple of {GROUPS} in "
                f"{GROUPS}..{MAX_CHANNELS} (e.g. 64,128,256), got {channels!r}"
            )
        levels = 2 ** (len(channels) - 1)
        if self.horizon % levels:
            raise ValueError(
                f"horizon (--horizon) must be a multiple of {levels} for {len(channels)} U-Net levels "
                f"(each halves the sequence), got {self.horizon}"
            )
        if self.n_obs - 1 + self.n_action > self.horizon:
            raise ValueError(
                f"n_obs - 1 + n_action (--n-obs {self.n_obs}, --n-action {self.n_action}) must be at "
                f"most horizon (--horizon {self.horizon}): the executed actions lie in the window"
            )
        if self.ddim_steps > self.diffusion_steps:
            raise ValueError(
                f"ddim_steps (--ddim-steps) must be at most the {self.diffusion_steps} diffusion "
                f"steps, got {self.ddim_steps}"
            )

    def model_kwargs(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "n_obs": self.n_obs,
            "n_action": self.n_action,
            "channels": list(self.channels),
        }


_INT_RANGES = [
    ("steps", 1, 10**9),
    ("batch_size", 1, 1_000_000),
    ("warmup", 0, 10**9),
    ("horizon", 1, MAX_HORIZON),
    ("n_obs", 1, MAX_HORIZON),
    ("n_action", 1, MAX_HORIZON),
    ("diffusion_steps", 2, 10_000),
    ("ddim_steps", 1, 10_000),
    ("seed", 0, 2**63 - 1),
    ("log_every", 1, None),
    ("checkpoint_every", 1, None),
    ("keep_checkpoints", 0, None),
    ("threads", 0, 1_024),
]
_FLOAT_RANGES = [
    ("lr", "> 0", lambda x: x > 0),
    ("weight_decay", ">= 0", lambda x: x >= 0),
    ("ema_power", "> 0", lambda x: x > 0),
    ("ema_max", "in [0, 1)", lambda x: 0 <= x < 1),
    ("val_fraction", "in [0, 1) (some demos must be left to train on)", lambda x: 0 <= x < 1),
]
_FLAGS = {
    "steps": "--steps",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "horizon": "--horizon",
    "n_obs": "--n-obs",
    "n_action": "--n-action",
    "ddim_steps": "--ddim-steps",
    "seed": "--seed",
    "threads": "--threads",
    "keep_checkpoints": "--checkpoints",
    "channels": "--channels",
    "device": "--device",
    "prediction": "--prediction",
}


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
        return training_table(
            [("output", self.out), ("device", self.device), ("parameters", f"{self.parameters:,}")],
            self,
            "denoising MSE",
        )


def action_range_stats(data: DemoArrays) -> dict[str, np.ndarray]:
    """BC's observation mean and std; for the actions, the centre and half-range of each dimension
    over the training demos (as "act_mean" and "act_std", so `Normalizer` maps them onto [-1, 1]).
    Chi et al. scale actions to [-1, 1] by their limits and clip DDIM's x0 estimate at 1; BC's
    mean/std leaves the bound loose (|z| up to ~7), and the first, noisiest steps' x0 estimates go
    there and the chain does not recover. A dimension that does not move keeps a half-range of
    ACTION_RANGE_FLOOR, so it stays within that of its value."""
    stats = data.stats()
    act = np.concatenate(data.actions)
    low, high = act.min(0), act.max(0)
    return {**stats, "act_mean": (high + low) / 2, "act_std": np.maximum((high - low) / 2, ACTION_RANGE_FLOOR)}


class Windows:
    """Every step of the given demos as a sample: (n_obs, obs_dim) normalised observations and
    (horizon, act_dim) normalised actions, gathered per batch from the flat arrays."""

    def __init__(
        self, data: DemoArrays, demos: list[int], config: DiffusionConfig, stats: dict[str, np.ndarray]
    ) -> None:
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

    def to(self, device: torch.device) -> Windows:
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


def diffusion_loss(
    model: TemporalUNet, schedule: NoiseSchedule, obs: torch.Tensor, act: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """The denoising MSE (of the clean actions or of the noise, as `schedule` predicts) at random
    diffusion steps (noise and steps drawn on the CPU from `gen`)."""
    noise = torch.randn(act.shape, generator=gen).to(act.device)
    t = torch.randint(schedule.train_steps, (act.shape[0],), generator=gen).to(act.device)
    return F.mse_loss(model(schedule.add_noise(act, noise, t), t, obs), schedule.target(act, noise))


def train_diffusion(
    data_path: str | Path | DemoArrays,
    out: str | Path,
    config: DiffusionConfig | None = None,
    progress: bool = True,
    max_demos: int | None = None,
) -> TrainReport:
    """Train a Diffusion Policy on the dataset `data_path` (a file, or demos already loaded);
    write the checkpoint to the directory `out`."""
    from tqdm import tqdm

    config = dataclasses.replace(config or DiffusionConfig())  # a copy, checked again as it is made
    check_max_demos(max_demos)
    device = torch.device(resolve_device(config.device))
    config.channels = list(config.channels)
    config.model = config.model_kwargs()
    if config.threads:
        torch.set_num_threads(config.threads)
    start = time.perf_counter()
    demos = training_demos(data_path, config.seed, config.val_fraction, max_demos)
    stats = action_range_stats(demos.train_data)
    _check_stats(stats)
    train_set = Windows(demos.data, demos.train_demos, config, stats).to(device)
    val_set = Windows(demos.data, demos.val_demos, config, stats).to(device) if demos.val_demos else None

    config_json = {
        **demos.checkpoint_config(CHECKPOINT_FORMAT, CHECKPOINT_VERSION),
        "model": config.model,
        "diffusion": {
            "train_steps": config.diffusion_steps,
            "schedule": "squaredcos_cap_v2",
            "prediction": config.prediction,
            "ddim_steps": config.ddim_steps,
            "actions": "min-max to [-1, 1], x0 clipped at 1",
        },
        "train": dataclasses.asdict(config),
    }
    obs_dim, act_dim = config_json["obs_dim"], config_json["act_dim"]
    parameters = count_parameters(config.model, obs_dim, act_dim)
    if parameters > MAX_PARAMETERS:
        raise ValueError(
            f"channels (--channels) {config.channels} make a {parameters:,}-parameter network, more "
            f"than {MAX_PARAMETERS:,}; use narrower levels (default 64,128,256)"
        )
    config_json["parameters"] = parameters

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = TemporalUNet(obs_dim, act_dim, **config.model)
    model.obs_norm.set(stats["obs_mean"], stats["obs_std"])
    model.act_norm.set(stats["act_mean"], stats["act_std"])
    model.to(device)
    ema = EMA(model, config.ema_power, config.ema_max)
    schedule = NoiseSchedule(config.diffusion_steps, config.prediction)
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.95, 0.999), weight_decay=config.weight_decay)
    warmup = min(config.warmup, config.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: _lr_factor(s, warmup, config.steps))
    log: dict[str, Any] = {"step": [], "train_loss": [], "val_loss": [], "lr": []}
    out = Path(out)
    writer = CheckpointWriter(out, config_json, config, config.checkpoint_every)
    running, val_loss = None, None
    bar = tqdm(range(1, config.steps + 1), desc="train diffusion", unit="step", disable=not progress)
    for step in bar:
        model.train()
        obs, act = train_set.at(torch.randint(len(train_set), (config.batch_size,), generator=gen))
        loss = diffusion_loss(model, schedule, obs, act, gen)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise writer.diverged(step, loss_value)
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
        writer.after_step(step, ema.model, log)
    bar.close()
    return TrainReport(
        out=str(out),
        device=str(device),
        parameters=parameters,
        train_demos=len(demos.train_demos),
        val_demos=len(demos.val_demos),
        samples=len(train_set),
        steps=config.steps,
        final_train_loss=float(running),
        val_loss=val_loss,
        wall_s=time.perf_counter() - start,
    )


@torch.no_grad()
def validation_loss(
    model: TemporalUNet, schedule: NoiseSchedule, val_set: Windows | None, seed: int, max_samples: int = 2048
) -> float | None:
    """The denoising MSE on held-out demos, with noise and steps fixed by the seed (comparable over training)."""
    if val_set is None:
        return None
    model.eval()
    samples = torch.arange(0, len(val_set), max(1, len(val_set) // max_samples))
    obs, act = val_set.at(samples)
    return float(diffusion_loss(model, schedule, obs, act, torch.Generator().manual_seed(seed + 1)).item())
