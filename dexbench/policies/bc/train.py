"""Train the BC baseline on a dataset's state observations (`dexbench train bc`).

Absolute rotations are learned as 6-D rotations (`actions.py`). The MLP learns
`obs_t -> a_t .. a_{t+chunk-1}` (the chunk padded with the demo's last action),
the LSTM learns windows of `seq_len` steps; both with an L1 loss on normalised actions, AdamW
and a cosine learning-rate decay. A tenth of the demos (at least one, when there are 10 or
more) is held out for a validation loss. Same data, config and seed: the same weights.

The output directory holds `model.pt` (a `state_dict`: tensors only), `config.json` (what
rebuilds and feeds the network: architecture, observation keys, env id and kwargs) and
`train_log.json` (losses). Files are replaced atomically, so an interrupted run leaves the last
checkpoint whole.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dexbench.jsonio import write_json_atomic
from dexbench.policies.bc.actions import encode, rotation_slots
from dexbench.policies.bc.data import DemoArrays, load_demo_arrays
from dexbench.policies.bc.model import build_model

CHECKPOINT_FORMAT = "dexbench-bc-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class BCConfig:
    arch: str = "mlp"  # "mlp" (action chunking) | "rnn" (LSTM)
    steps: int = 5_000  # gradient steps
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    chunk: int = 10  # mlp: actions predicted per observation
    seq_len: int = 10  # rnn: training window (and hidden-state reset period at rollout)
    hidden: int = 256  # a CPU budget: 10k steps of 256-wide nets train in minutes on 2 cores
    layers: int = 3  # the CLI uses 2 for the LSTM
    obs_noise: float = 0.0  # std of Gaussian noise on normalised observations during training
    val_fraction: float = 0.1
    seed: int = 0
    log_every: int = 500
    checkpoint_every: int = 1_000
    # Also keep this many checkpoints, evenly spaced over training, in `<out>/step_<N>/` (each a
    # loadable checkpoint): the papers report the best checkpoint of each training seed.
    keep_checkpoints: int = 0
    threads: int = 0  # torch CPU threads (0: torch's default)
    model: dict[str, Any] = field(default_factory=dict)  # filled in from the above

    def model_kwargs(self) -> dict[str, Any]:
        if self.arch == "mlp":
            return {"chunk": self.chunk, "hidden": self.hidden, "layers": self.layers}
        return {"hidden": self.hidden, "layers": self.layers}


@dataclass
class TrainReport:
    out: str
    arch: str
    train_demos: int
    val_demos: int
    samples: int
    steps: int
    final_train_loss: float
    val_loss: float | None
    wall_s: float

    def table(self) -> str:
        rows = [("output", self.out), ("architecture", self.arch),
                ("demos", f"{self.train_demos} train, {self.val_demos} validation ({self.samples} samples)"),
                ("gradient steps", str(self.steps)), ("train loss (L1, normalised)", f"{self.final_train_loss:.4f}"),
                ("validation loss", "-" if self.val_loss is None else f"{self.val_loss:.4f}"),
                ("wall time", f"{self.wall_s:.1f} s")]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


class _Batches:
    """Training samples as tensors, drawn uniformly over steps."""

    def __init__(self, data: DemoArrays, demos: list[int], config: BCConfig, stats: dict[str, np.ndarray]) -> None:
        self.config = config
        obs = [(data.obs[i] - stats["obs_mean"]) / stats["obs_std"] for i in demos]
        act = [(data.actions[i] - stats["act_mean"]) / stats["act_std"] for i in demos]
        if config.arch == "mlp":
            idx = [np.minimum(np.arange(len(a))[:, None] + np.arange(config.chunk), len(a) - 1) for a in act]
            self.inputs = torch.as_tensor(np.concatenate(obs), dtype=torch.float32)
            self.targets = torch.as_tensor(np.concatenate([a[i] for a, i in zip(act, idx)]), dtype=torch.float32)
        else:
            # Windows of seq_len steps; a demo shorter than that is padded with its last step.
            L = config.seq_len
            starts = [np.arange(max(1, len(a) - L + 1)) for a in act]
            win = [np.minimum(s[:, None] + np.arange(L), len(a) - 1) for s, a in zip(starts, act)]
            self.inputs = torch.as_tensor(np.concatenate([o[w] for o, w in zip(obs, win)]), dtype=torch.float32)
            self.targets = torch.as_tensor(np.concatenate([a[w] for a, w in zip(act, win)]), dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.inputs)

    def sample(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        i = torch.randint(len(self.inputs), (self.config.batch_size,), generator=gen)
        return self.inputs[i], self.targets[i]


def _loss(model, arch: str, obs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    pred = model(obs) if arch == "mlp" else model(obs)[0]
    return F.l1_loss(pred, target)


def _save(out: Path, model, config_json: dict[str, Any], log: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.pt.tmp"
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, out / "model.pt")
    write_json_atomic(out / "config.json", config_json)
    write_json_atomic(out / "train_log.json", log)


def snapshot_schedule(steps: int, count: int) -> list[int]:
    """The steps at which `count` checkpoints are kept: evenly spaced, the last at the end."""
    if count < 0 or count > steps:
        raise ValueError(f"keep_checkpoints must be in 0..steps ({steps}), got {count}")
    return [round(steps * (k + 1) / count) for k in range(count)]


def kept_checkpoints(out: str | Path) -> list[Path]:
    """The checkpoints `train_bc` kept in `out` (`step_<N>/`, in training order), or [out]."""
    kept = sorted(Path(out).glob("step_*/model.pt"), key=lambda p: int(p.parent.name.split("_")[1]))
    return [p.parent for p in kept] or [Path(out)]


def train_bc(data_path: str | Path | DemoArrays, out: str | Path, config: BCConfig | None = None,
             progress: bool = True, max_demos: int | None = None) -> TrainReport:
    """Train a BC policy on the dataset `data_path` (a file, or demos already loaded); write the
    checkpoint to the directory `out`."""
    from tqdm import tqdm

    import dexbench

    config = dataclasses.replace(config or BCConfig())
    if config.arch not in ("mlp", "rnn"):
        raise ValueError(f"unknown BC architecture {config.arch!r}; use mlp or rnn")
    if config.steps < 1 or config.batch_size < 1:
        raise ValueError("steps and batch_size must be >= 1")
    config.model = config.model_kwargs()
    if config.threads:
        torch.set_num_threads(config.threads)
    start = time.perf_counter()
    data = data_path if isinstance(data_path, DemoArrays) else load_demo_arrays(data_path, max_demos=max_demos)
    slots = _rotation_slots_of(data)
    env_act_dim = data.actions[0].shape[1]
    data = dataclasses.replace(data, actions=[encode(a, slots) for a in data.actions])
    n = len(data.actions)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(n)
    n_val = int(round(config.val_fraction * n)) if n >= 10 else 0
    val_demos, train_demos = sorted(order[:n_val].tolist()), sorted(order[n_val:].tolist())
    train_data = DemoArrays([data.obs[i] for i in train_demos], [data.actions[i] for i in train_demos],
                            data.obs_keys, data.env_id, data.env_kwargs)
    stats = train_data.stats()
    train_set = _Batches(data, train_demos, config, stats)
    val_set = _Batches(data, val_demos, config, stats) if val_demos else None

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    obs_dim, act_dim = data.obs[0].shape[1], data.actions[0].shape[1]
    config_json = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
                   "suite_version": dexbench.__version__, "torch_version": torch.__version__,
                   "arch": config.arch, "obs_dim": int(obs_dim), "act_dim": int(act_dim), "model": config.model,
                   "env_act_dim": int(env_act_dim), "rotation_slots": [list(x) for x in slots],
                   "obs_keys": data.obs_keys, "env_id": data.env_id, "env_kwargs": data.env_kwargs,
                   "dataset": str(data_path) if not isinstance(data_path, DemoArrays) else "(in memory)", "train_demos": len(train_demos), "val_demos": len(val_demos),
                   "train": dataclasses.asdict(config)}
    model = build_model(config_json)
    model.obs_norm.set(stats["obs_mean"], stats["obs_std"])
    model.act_norm.set(stats["act_mean"], stats["act_std"])
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=config.steps)
    log: dict[str, Any] = {"step": [], "train_loss": [], "val_loss": []}
    out = Path(out)
    snapshot_steps = set(snapshot_schedule(config.steps, config.keep_checkpoints))
    running, val_loss = None, None
    bar = tqdm(range(1, config.steps + 1), desc=f"train bc-{config.arch}", unit="step", disable=not progress)
    for step in bar:
        model.train()
        obs, target = train_set.sample(gen)
        if config.obs_noise > 0:
            obs = obs + config.obs_noise * torch.randn(obs.shape, generator=gen)
        loss = _loss(model, config.arch, obs, target)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % config.log_every == 0 or step == config.steps:
            val_loss = _validation_loss(model, config.arch, val_set)
            log["step"].append(step)
            log["train_loss"].append(running)
            log["val_loss"].append(val_loss)
            bar.set_postfix(loss=f"{running:.4f}", val="-" if val_loss is None else f"{val_loss:.4f}", refresh=False)
        if step % config.checkpoint_every == 0 or step == config.steps:
            _save(out, model, {**config_json, "steps_done": step}, log)
        if step in snapshot_steps:
            _save(out / f"step_{step}", model, {**config_json, "steps_done": step}, log)
    bar.close()
    return TrainReport(out=str(out), arch=config.arch, train_demos=len(train_demos), val_demos=len(val_demos),
                       samples=len(train_set), steps=config.steps, final_train_loss=float(running),
                       val_loss=val_loss, wall_s=time.perf_counter() - start)


def _rotation_slots_of(data: DemoArrays) -> list[tuple[int, int]]:
    """Where the absolute axis-angle rotations sit in the dataset env's actions."""
    from dexbench.envs.registry import build_env

    env = build_env(data.env_id, **data.env_kwargs)
    try:
        return rotation_slots(env.action_layout, env.action_mode)
    finally:
        env.close()


@torch.no_grad()
def _validation_loss(model, arch: str, val_set: _Batches | None, max_samples: int = 4096) -> float | None:
    if val_set is None:
        return None
    model.eval()
    stride = max(1, len(val_set) // max_samples)
    return float(_loss(model, arch, val_set.inputs[::stride], val_set.targets[::stride]).item())
