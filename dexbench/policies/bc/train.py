"""Train the BC baseline on a dataset's state observations, or on its camera images plus the
robot's proprioception (`obs="rgb"`, pixel BC: `vision.py`) (`dexbench train bc`).

Absolute rotations are learned as 6-D rotations (`actions.py`). The MLP learns
`obs_t -> a_t .. a_{t+chunk-1}` (the chunk padded with the demo's last action),
the LSTM learns windows of `seq_len` steps; both with an L1 loss on normalised actions, AdamW
and a cosine learning-rate decay. A tenth of the demos (at least one, when there are 10 or
more) is held out for a validation loss. Same data, config and seed: the same weights.

The output directory is a checkpoint folder (`policies/checkpoint_folders.py`: `model.pt`,
`config.json` with what rebuilds and feeds the network, `train_log.json` with the losses, each
replaced atomically). Options are checked as the config is made (`BCConfig.__post_init__`, with
`policies/learner_options.py`), data holding NaN or inf is refused, and a run whose loss or
weights go non-finite stops with `TrainingDiverged` without writing that state.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dexbench.policies.bc.actions import encode, rotation_slots
from dexbench.policies.bc.data import RENDER_HINT, DemoArrays, check_max_demos, load_demo_arrays
from dexbench.policies.bc.model import OBSERVATIONS, build_model
from dexbench.policies.checkpoint_folders import CheckpointWriter
from dexbench.policies.device import resolve_device
from dexbench.policies.learner_options import check_options, option_name

CHECKPOINT_FORMAT = "dexbench-bc-checkpoint"
CHECKPOINT_VERSION = 2  # 2: pixel BC (obs "rgb"); state checkpoints are still written as 1
STATE_CHECKPOINT_VERSION = 1  # so a dexbench that reads only state BC keeps reading them
VAL_IMAGE_SAMPLES = 512  # a validation pass over images runs the encoder on each: keep it short


@dataclass
class BCConfig:
    arch: str = "mlp"  # "mlp" (action chunking) | "rnn" (LSTM)
    obs: str = "state"  # "state" | "rgb": the dataset's camera images + proprioception (mlp only)
    steps: int = 5_000  # gradient steps
    batch_size: int | None = None  # None: 256 mlp, 128 pixel BC (the encoder runs per image), 64 rnn (windows)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    chunk: int = 10  # mlp: actions predicted per observation
    seq_len: int = 10  # rnn: training window (and hidden-state reset period at rollout)
    hidden: int = 256  # a CPU budget: 10k steps of 256-wide nets train in minutes on 2 cores
    layers: int | None = None  # None: 3 mlp, 2 rnn
    obs_noise: float = 0.0  # std of Gaussian noise on normalised observations during training
    # rnn: a Gaussian-mixture head of this many modes, trained by likelihood (robomimic's
    # BC-RNN-GMM: 5); 0: the deterministic head with the L1 loss
    gmm_modes: int = 0
    val_fraction: float = 0.1
    seed: int = 0
    log_every: int = 500
    checkpoint_every: int = 1_000
    # Also keep this many checkpoints, evenly spaced over training, in `<out>/step_<N>/` (each a
    # loadable checkpoint): the papers report the best checkpoint of each training seed.
    keep_checkpoints: int = 0
    threads: int = 0  # torch CPU threads (0: torch's default)
    device: str = "auto"  # "auto" (CUDA when torch sees one), "cpu", "cuda" (`policies/device.py`)
    model: dict[str, Any] = field(default_factory=dict)  # filled in from the above

    def __post_init__(self) -> None:
        # The defaults that depend on the architecture are resolved here, once, for every caller.
        if self.batch_size is None:
            self.batch_size = 64 if self.arch == "rnn" else 128 if self.obs == "rgb" else 256
        if self.layers is None:
            self.layers = 2 if self.arch == "rnn" else 3
        # A config refuses, when made, values that would crash, hang or silently train something
        # else (as every options dataclass here does), so a bad option fails in a second, before
        # any data is read. Each message names the option, its allowed range and the value given.
        if self.arch not in ("mlp", "rnn"):
            raise ValueError(f"unknown BC architecture {self.arch!r} (--arch); use mlp or rnn")
        if self.obs not in OBSERVATIONS:
            raise ValueError(f"unknown BC observations {self.obs!r} (--obs); use state or rgb")
        if self.obs == "rgb" and self.arch != "mlp":
            raise ValueError(
                f"pixel BC (--obs rgb) trains the mlp architecture (action chunking); leave out --arch {self.arch}"
            )
        check_options(self, _INT_RANGES, _FLOAT_RANGES, _FLAGS)
        if self.gmm_modes and self.arch != "rnn":
            raise ValueError(
                f"gmm_modes (--gmm-modes) is a head of the rnn architecture (BC-RNN-GMM); add --arch rnn or "
                f"leave it out, got arch {self.arch!r}"
            )

    def model_kwargs(self) -> dict[str, Any]:
        """The network's sizes that the options fix (pixel BC adds the cameras and image size of
        the data to the checkpoint's copy)."""
        if self.obs == "rgb":
            return {
                "chunk": self.chunk,
                "hidden": self.hidden,
                "layers": self.layers,
                "channels": IMAGE_CHANNELS,
                "keypoints": IMAGE_KEYPOINTS,
            }
        if self.arch == "mlp":
            return {"chunk": self.chunk, "hidden": self.hidden, "layers": self.layers}
        # Only a mixture head records its modes: a deterministic LSTM's config is as it was.
        return {"hidden": self.hidden, "layers": self.layers, **({"modes": self.gmm_modes} if self.gmm_modes else {})}


IMAGE_CHANNELS = 32  # conv channels of the pixel encoder (vision.py: why this small)
IMAGE_KEYPOINTS = 32  # spatial-softmax keypoints per camera, robomimic's default


# Bounds past which a run is a typo, not an experiment: a chunk or window of 100000 steps, or a
# net 100000 wide, allocates for minutes (or until the machine swaps) before the first step.
MAX_HORIZON = 1_000  # chunk and seq_len (also refused when longer than the longest demo)
_INT_RANGES = [
    ("steps", 1, 10**9),
    ("batch_size", 1, 1_000_000),
    ("chunk", 1, MAX_HORIZON),
    ("seq_len", 1, MAX_HORIZON),
    ("hidden", 1, 16_384),
    ("layers", 1, 64),
    ("seed", 0, 2**63 - 1),
    ("log_every", 1, None),
    ("checkpoint_every", 1, None),
    ("keep_checkpoints", 0, None),
    ("threads", 0, 1_024),
    ("gmm_modes", 0, 64),
]
_FLOAT_RANGES = [
    ("lr", "> 0", lambda x: x > 0),
    ("weight_decay", ">= 0", lambda x: x >= 0),
    ("obs_noise", ">= 0", lambda x: x >= 0),
    ("val_fraction", "in [0, 1) (some demos must be left to train on)", lambda x: 0 <= x < 1),
]
# The CLI flag of each option that has one, so a message tells a CLI user what to change.
_FLAGS = {
    "obs": "--obs",
    "steps": "--steps",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "chunk": "--chunk",
    "seq_len": "--seq-len",
    "hidden": "--hidden",
    "layers": "--layers",
    "obs_noise": "--obs-noise",
    "gmm_modes": "--gmm-modes",
    "seed": "--seed",
    "threads": "--threads",
    "keep_checkpoints": "--checkpoints",
    "device": "--device",
}


def _option(name: str) -> str:
    return option_name(name, _FLAGS)


def _check_horizon(config: BCConfig, data: DemoArrays) -> None:
    """A chunk (mlp) or window (rnn) longer than every demo only repeats the last action."""
    name = "chunk" if config.arch == "mlp" else "seq_len"
    value, longest = getattr(config, name), max(len(a) for a in data.actions)
    if value > longest:
        raise ValueError(
            f"{_option(name)} is {value}, longer than the longest demo ({longest} steps); "
            f"use at most {longest} (default 10)"
        )


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
    device: str = "cpu"

    def table(self) -> str:
        return training_table(
            [("output", self.out), ("architecture", self.arch), ("device", self.device)], self, "L1, normalised"
        )


def training_table(head: list[tuple[str, str]], report, loss: str) -> str:
    """What `dexbench train` prints after a run: the `head` rows, then the demos, gradient steps,
    losses (`loss` names the training loss) and wall time of `report`."""
    rows = head + [
        ("demos", f"{report.train_demos} train, {report.val_demos} validation ({report.samples} samples)"),
        ("gradient steps", str(report.steps)),
        (f"train loss ({loss})", f"{report.final_train_loss:.4f}"),
        ("validation loss", "-" if report.val_loss is None else f"{report.val_loss:.4f}"),
        ("wall time", f"{report.wall_s:.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


class _Batches:
    """Training samples as tensors, drawn uniformly over steps. Pixel BC's images stay the
    dataset's uint8 arrays (no copy); a batch gathers its frames."""

    def __init__(
        self,
        data: DemoArrays,
        demos: list[int],
        config: BCConfig,
        stats: dict[str, np.ndarray],
        device: torch.device | str = "cpu",
    ) -> None:
        self.config, self.device = config, torch.device(device)
        self.images = [data.images[i] for i in demos] if config.obs == "rgb" else None
        if self.images is not None:  # sample k is frame frame_of[k] of demo demo_of[k]
            lengths = [len(data.actions[i]) for i in demos]
            self.demo_of = np.repeat(np.arange(len(demos)), lengths)
            self.frame_of = np.concatenate([np.arange(n) for n in lengths])
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
        self.inputs, self.targets = self.inputs.to(self.device), self.targets.to(self.device)

    def __len__(self) -> int:
        return len(self.inputs)

    def sample(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        i = torch.randint(len(self.inputs), (self.config.batch_size,), generator=gen)  # on the CPU: same draws anywhere
        return self.inputs[i.to(self.device)], self.targets[i.to(self.device)], self.images_at(i)

    def images_at(self, samples: torch.Tensor) -> torch.Tensor | None:
        """(B, cameras, H, W, 3) uint8 images of the samples (None for state BC)."""
        if self.images is None:
            return None
        idx = samples.cpu().numpy()
        frames = np.stack([self.images[d][t] for d, t in zip(self.demo_of[idx], self.frame_of[idx])])
        return torch.from_numpy(frames).to(self.device)


def _loss(
    model,
    arch: str,
    obs: torch.Tensor,
    target: torch.Tensor,
    images: torch.Tensor | None = None,
    crops: torch.Generator | None = None,
) -> torch.Tensor:
    if images is not None:
        pred = model(obs, images, crops)
    elif arch == "rnn" and model.modes:
        return model.nll(obs, target)
    else:
        pred = model(obs) if arch == "mlp" else model(obs)[0]
    return F.l1_loss(pred, target)


def _check_stats(stats: dict[str, np.ndarray]) -> None:
    # Finite values can still overflow float32 in the std (|x| ~ 1e20 squared): a NaN normaliser.
    bad = [k for k, v in stats.items() if not np.all(np.isfinite(v))]
    if bad:
        raise ValueError(
            f"the dataset's values are too large to normalise ({', '.join(bad)} not finite); "
            "regenerate the dataset or drop the demos with extreme values"
        )


@dataclass
class TrainingDemos:
    """A dataset made ready for a learner: its absolute rotations as 6-D rotations (`actions.py`)
    and its demos split by the seed, a tenth (at least one, when there are 10 or more) held out."""

    data: DemoArrays  # actions in the learned representation
    source: str  # the file, or "the in-memory demos"
    slots: list[tuple[int, int]]  # where the env's absolute rotations sit in its actions
    env_act_dim: int
    train_demos: list[int]
    val_demos: list[int]

    @property
    def train_data(self) -> DemoArrays:
        d = self.data
        return DemoArrays(
            [d.obs[i] for i in self.train_demos],
            [d.actions[i] for i in self.train_demos],
            d.obs_keys,
            d.env_id,
            d.env_kwargs,
        )

    def checkpoint_config(self, fmt: str, version: int) -> dict[str, Any]:
        """What every learner's config.json records of its format, versions and data."""
        import dexbench

        d = self.data
        return {
            "format": fmt,
            "format_version": version,
            "suite_version": dexbench.__version__,
            "torch_version": torch.__version__,
            # Weights are the same for the same seed on the same number of threads only.
            "torch_threads": torch.get_num_threads(),
            "obs_dim": int(d.obs[0].shape[1]),
            "act_dim": int(d.actions[0].shape[1]),
            "env_act_dim": int(self.env_act_dim),
            "rotation_slots": [list(x) for x in self.slots],
            "obs_keys": d.obs_keys,
            "env_id": d.env_id,
            "env_kwargs": d.env_kwargs,
            "dataset": "(in memory)" if self.source == IN_MEMORY else self.source,
            "train_demos": len(self.train_demos),
            "val_demos": len(self.val_demos),
        }


IN_MEMORY = "the in-memory demos"


def training_demos(
    data_path: str | Path | DemoArrays, seed: int, val_fraction: float, max_demos: int | None = None, obs: str = "state"
) -> TrainingDemos:
    """Load (unless given loaded) and check the demos of `data_path`, encode their rotations and
    split them by `seed`: the same for every learner, so they train and validate on the same demos."""
    data = data_path if isinstance(data_path, DemoArrays) else load_demo_arrays(data_path, max_demos=max_demos, obs=obs)
    source = IN_MEMORY if isinstance(data_path, DemoArrays) else str(data_path)
    if obs == "rgb" and data.images is None:
        raise ValueError(f"{source} holds no camera images for pixel BC (--obs rgb); " + RENDER_HINT)
    data.check_trainable(source)
    slots = _rotation_slots_of(data)
    env_act_dim = data.actions[0].shape[1]
    data = dataclasses.replace(data, actions=[encode(a, slots) for a in data.actions])
    n = len(data.actions)
    order = np.random.default_rng(seed).permutation(n)
    # At most n - 1: a val_fraction near 1 must still leave a demo to train on.
    n_val = min(int(round(val_fraction * n)), n - 1) if n >= 10 else 0
    return TrainingDemos(
        data, source, slots, int(env_act_dim), sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())
    )


def train_bc(
    data_path: str | Path | DemoArrays,
    out: str | Path,
    config: BCConfig | None = None,
    progress: bool = True,
    max_demos: int | None = None,
) -> TrainReport:
    """Train a BC policy on the dataset `data_path` (a file, or demos already loaded); write the
    checkpoint to the directory `out`."""
    from tqdm import tqdm

    config = dataclasses.replace(config or BCConfig())  # a copy, checked again as it is made
    check_max_demos(max_demos)
    device = torch.device(resolve_device(config.device))
    config.model = config.model_kwargs()
    if config.threads:
        torch.set_num_threads(config.threads)
    start = time.perf_counter()
    demos = training_demos(data_path, config.seed, config.val_fraction, max_demos, config.obs)
    data, train_demos, val_demos = demos.data, demos.train_demos, demos.val_demos
    _check_horizon(config, data)
    stats = demos.train_data.stats()
    _check_stats(stats)
    train_set = _Batches(data, train_demos, config, stats, device)
    val_set = _Batches(data, val_demos, config, stats, device) if val_demos else None

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    pixels = _pixel_config(data) if config.obs == "rgb" else {}
    image_model = pixels.pop("model", {})
    config_json = {
        **demos.checkpoint_config(CHECKPOINT_FORMAT, CHECKPOINT_VERSION if pixels else STATE_CHECKPOINT_VERSION),
        "arch": config.arch,
        "obs": config.obs,
        "model": {**config.model, **image_model},
        **pixels,
        "train": dataclasses.asdict(config),
    }
    model = build_model(config_json)
    model.obs_norm.set(stats["obs_mean"], stats["obs_std"])
    model.act_norm.set(stats["act_mean"], stats["act_std"])
    model.to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=config.steps)
    log: dict[str, Any] = {"step": [], "train_loss": [], "val_loss": []}
    out = Path(out)
    writer = CheckpointWriter(out, config_json, config, config.checkpoint_every)
    running, val_loss = None, None
    bar = tqdm(range(1, config.steps + 1), desc=f"train bc-{config.arch}", unit="step", disable=not progress)
    for step in bar:
        model.train()
        obs, target, images = train_set.sample(gen)
        if config.obs_noise > 0:
            obs = obs + config.obs_noise * torch.randn(obs.shape, generator=gen).to(device)
        loss = _loss(model, config.arch, obs, target, images, gen)  # gen: the crops of pixel BC
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise writer.diverged(step, loss_value)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
        running = loss_value if running is None else 0.98 * running + 0.02 * loss_value
        if step % config.log_every == 0 or step == config.steps:
            val_loss = _validation_loss(model, config.arch, val_set)
            log["step"].append(step)
            log["train_loss"].append(running)
            log["val_loss"].append(val_loss)
            bar.set_postfix(loss=f"{running:.4f}", val="-" if val_loss is None else f"{val_loss:.4f}", refresh=False)
        writer.after_step(step, model, log)
    bar.close()
    if not isinstance(data_path, DemoArrays):
        data.close()  # images read from the file per batch kept it open (an error leaves it to the GC)
    return TrainReport(
        out=str(out),
        arch=config.arch,
        train_demos=len(train_demos),
        val_demos=len(val_demos),
        samples=len(train_set),
        steps=config.steps,
        final_train_loss=float(running),
        val_loss=val_loss,
        wall_s=time.perf_counter() - start,
        device=str(device),
    )


def _pixel_config(data: DemoArrays) -> dict[str, Any]:
    """What a pixel checkpoint records of its images: the cameras, their size, and the env kwargs
    that make an env observe them as the dataset did (`BCPolicy.observation_kwargs` hands these
    to the evaluation)."""
    size = int(data.images[0].shape[2])
    return {
        "model": {"cameras": len(data.cameras), "image_size": size},
        "cameras": list(data.cameras),
        "observation_kwargs": {
            "obs_mode": "state+rgb",
            "camera_names": list(data.cameras),
            "image_size": [size, size],
            "render_preset": data.env_kwargs.get("render_preset", "fast"),
        },
    }


def _rotation_slots_of(data: DemoArrays) -> list[tuple[int, int]]:
    """Where the absolute axis-angle rotations sit in the dataset env's actions."""
    from dexbench.envs.registry import build_env

    env = build_env(data.env_id, **data.env_kwargs)
    try:
        # Otherwise the rotation slots would pick the wrong columns and training "works".
        if env.action_space.shape != data.actions[0].shape[1:]:
            raise ValueError(
                f"the dataset's actions are {data.actions[0].shape[1]}-D but its env {data.env_id} "
                f"takes {env.action_space.shape}; the dataset does not belong to that env"
            )
        return rotation_slots(env.action_layout, env.action_mode)
    finally:
        env.close()


@torch.no_grad()
def _validation_loss(model, arch: str, val_set: _Batches | None, max_samples: int = 4096) -> float | None:
    if val_set is None:
        return None
    model.eval()
    if val_set.images is not None:
        max_samples = VAL_IMAGE_SAMPLES
    samples = torch.arange(0, len(val_set), max(1, len(val_set) // max_samples))
    on = samples.to(val_set.device)
    return float(_loss(model, arch, val_set.inputs[on], val_set.targets[on], val_set.images_at(samples)).item())
