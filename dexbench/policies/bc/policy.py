"""The BC baseline as a policy: `dexbench eval --policy dexbench.policies:BCPolicy --checkpoint DIR`.

The checkpoint is `DIR/model.pt` (tensors only, loaded with `weights_only=True`: a checkpoint
cannot run code) and `DIR/config.json`. The chunking MLP predicts a chunk every step and
executes the temporal ensemble of all predictions for the current step (ACT's exponential
weights, oldest first; averaged in the learned action representation, 6-D for absolute
rotations, then decoded); the LSTM carries its state and resets it every `seq_len` steps, as in
training. The network runs on `device` ("cpu", the default: one observation at a time is no
faster on a GPU; "auto" or "cuda", `--policy-arg device=cuda`).

A pixel checkpoint (`obs` "rgb") reads camera images: it records the env kwargs that make an
env observe them as its dataset did (cameras, size, render preset), and `observation_kwargs`
hands them to the evaluation, which builds its env with them (`policies/base.py`), so
`dexbench eval --checkpoint DIR` needs no camera flags.
"""

from __future__ import annotations

import contextlib
from collections import deque
from pathlib import Path

import numpy as np
import torch

from dexbench.policies.bc.actions import decode
from dexbench.policies.bc.data import flatten_obs
from dexbench.policies.bc.model import ARCHITECTURES, OBSERVATIONS, build_model
from dexbench.policies.bc.train import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, MAX_HORIZON
from dexbench.policies.checkpoint import actions_problem, check_action_space, is_int, load_checkpoint_dir, read_config

ENSEMBLE_DECAY = 0.1  # ACT's m: weight exp(-m * i) of the i-th oldest prediction


TRAIN_COMMAND = "dexbench train bc --data FILE --out DIR"
FOREIGN = {
    "dexbench-diffusion-checkpoint": " (a diffusion checkpoint: evaluate it with --policy "
    "dexbench.policies:DiffusionPolicy)"
}


def load_checkpoint(checkpoint: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, dict, str]:
    """(network on `device`, config, sha256 of model.pt) of a BC checkpoint directory; a damaged
    or foreign one is refused naming the file and the fix (`policies/checkpoint.py`)."""
    return load_checkpoint_dir(checkpoint, "BC", TRAIN_COMMAND, _read_config, build_model, device)


def _read_config(file: Path) -> dict:
    return read_config(file, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, TRAIN_COMMAND, _config_problem, FOREIGN)


def _config_problem(config: dict) -> str | None:
    """What in a config.json of the right format would make the policy crash or act wrongly later."""
    if config.get("arch") not in ARCHITECTURES:
        return f"arch is {config.get('arch')!r}, not one of {', '.join(ARCHITECTURES)}"
    problem = actions_problem(config)
    if problem:
        return problem
    model, train = config.get("model"), config.get("train")
    if not isinstance(model, dict) or not all(
        is_int(v, 1, MAX_HORIZON if k == "chunk" else 16_384) for k, v in model.items()
    ):
        return f"model is {model!r}, not a dict of network sizes"
    if not isinstance(train, dict) or (
        config.get("arch") == "rnn" and not is_int(train.get("seq_len"), 1, MAX_HORIZON)
    ):
        return "train (the training options; seq_len for an rnn) is missing or malformed"
    if config.get("obs", "state") not in OBSERVATIONS:
        return f"obs is {config.get('obs')!r}, not one of {', '.join(OBSERVATIONS)}"
    if config.get("obs") == "rgb":
        cameras, view = config.get("cameras"), config.get("observation_kwargs")
        if (
            not isinstance(cameras, list)
            or not cameras
            or not all(isinstance(c, str) for c in cameras)
            or model.get("cameras") != len(cameras)
        ):
            return f"cameras is {cameras!r}, not the list of the {model.get('cameras')} cameras the network reads"
        if (
            not isinstance(view, dict)
            or view.get("camera_names") != cameras
            or view.get("image_size") != [model.get("image_size")] * 2
        ):
            return f"observation_kwargs is {view!r}, not the env kwargs of the cameras and image size trained on"
    return None


def _check_observations(observation_space, config: dict, checkpoint) -> None:
    """The env must offer every observation key the policy was trained on, at the trained size."""
    spaces = getattr(observation_space, "spaces", {})
    if config.get("obs") == "rgb":
        size = config["model"]["image_size"]
        wrong = [
            c
            for c in config["cameras"]
            if c + "_image" not in spaces or tuple(spaces[c + "_image"].shape) != (size, size, 3)
        ]
        if wrong:
            view = ", ".join(f"{k}={v!r}" for k, v in config["observation_kwargs"].items())
            raise ValueError(
                f"checkpoint {checkpoint} reads {size}x{size} images of {', '.join(config['cameras'])}; "
                f"this env gives none of {', '.join(wrong)} at that size. `dexbench eval` makes the "
                f"env with them itself; elsewhere make it with {view}"
            )
    missing = [k for k in config["obs_keys"] if k not in spaces]
    if missing:
        raise ValueError(
            f"checkpoint {checkpoint} was trained on observations this env lacks: {missing}; "
            f"evaluate it on {config.get('env_id')} (the env it was trained on)"
        )
    size = sum(int(np.prod(spaces[k].shape)) for k in config["obs_keys"])
    if size != config["obs_dim"]:
        raise ValueError(
            f"checkpoint {checkpoint} reads {config['obs_dim']} observation numbers from "
            f"{config['obs_keys']}; this env gives {size}: evaluate it on {config.get('env_id')} "
            "(the env it was trained on)"
        )


@contextlib.contextmanager
def one_thread():
    """torch on one thread for the block, then the caller's count again (training keeps its own).
    A policy's network sees one observation at a time: more threads make it no faster, and on a
    busy CPU torch's spinning worker threads cost ten times the work (a BC + residual rollout under
    load: 35 ms CPU per step with two threads, 3.3 ms with one)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class BCPolicy:
    def __init__(self, observation_space, action_space, checkpoint: str | Path, device: str = "cpu") -> None:
        self.model, self.config, self.checkpoint_sha256 = load_checkpoint(checkpoint, device)
        self.device = next(self.model.parameters()).device
        self.name = f"bc-{self.config['arch']}" + ("-rgb" if self.config.get("obs") == "rgb" else "")
        self.obs_keys = list(self.config["obs_keys"])
        self.image_keys = (
            [c + "_image" for c in self.config.get("cameras", [])] if self.config.get("obs") == "rgb" else []
        )
        self._slots = [tuple(x) for x in self.config["rotation_slots"]]
        check_action_space(action_space, self.config, checkpoint)
        _check_observations(observation_space, self.config, checkpoint)  # after: an embodiment names its actions
        self._low, self._high = action_space.low, action_space.high
        self.reset()

    @staticmethod
    def observation_kwargs(checkpoint: str | Path | None = None, **_) -> dict:
        """The env kwargs the checkpoint's observations need ({} for state BC; the cameras, image
        size and render preset for pixel BC), read from its config.json alone. A missing
        checkpoint gives {}: building the policy then says what is wrong."""
        file = Path(checkpoint) / "config.json" if checkpoint is not None else None
        config = _read_config(file) if file is not None and file.is_file() else {}
        return dict(config.get("observation_kwargs", {})) if config.get("obs") == "rgb" else {}

    def observation_stats(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The state keys this policy reads, and the mean and std it normalises them by (from its
        training data): a residual learnt on top sees the state on the same scale."""
        norm = self.model.obs_norm
        mean, std = (t.cpu().numpy().astype(np.float64) for t in (norm.mean, norm.std))
        return list(self.obs_keys), mean, std

    def reset(self, seed: int | None = None) -> None:
        self._t = 0
        self._lstm_state = None
        self._chunks: deque[np.ndarray] = deque(maxlen=self.config["model"].get("chunk", 1))

    @torch.inference_mode()
    @one_thread()
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x = self.model.obs_norm.normalize(torch.as_tensor(flatten_obs(obs, self.obs_keys), device=self.device)[None])
        if self.config["arch"] == "mlp":
            if self.image_keys:
                images = torch.as_tensor(np.stack([obs[k] for k in self.image_keys]), device=self.device)[None]
                chunk = self.model(x, images)
            else:
                chunk = self.model(x)
            self._chunks.append(self.model.act_norm.denormalize(chunk)[0].cpu().numpy())
            # Prediction made k steps ago holds this step's action at index k.
            preds = np.stack([c[len(self._chunks) - 1 - i] for i, c in enumerate(self._chunks)])
            weights = np.exp(-ENSEMBLE_DECAY * np.arange(len(preds)))
            action = (weights[:, None] * preds).sum(0) / weights.sum()
        else:
            if self._t % self.config["train"]["seq_len"] == 0:
                self._lstm_state = None
            out, self._lstm_state = self.model(x[None], self._lstm_state)
            action = self.model.act_norm.denormalize(out[0, -1]).cpu().numpy()
        self._t += 1
        return np.clip(decode(action.astype(np.float64), self._slots), self._low, self._high)
