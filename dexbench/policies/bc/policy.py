"""The BC baseline as a policy: `dexbench eval --policy dexbench.policies:BCPolicy --checkpoint DIR`.

The checkpoint is `DIR/model.pt` (tensors only, loaded with `weights_only=True`: a checkpoint
cannot run code) and `DIR/config.json`. The chunking MLP predicts a chunk every step and
executes the temporal ensemble of all predictions for the current step (ACT's exponential
weights, oldest first; averaged in the learned action representation, 6-D for absolute
rotations, then decoded); the LSTM carries its state and resets it every `seq_len` steps, as in
training.

A pixel checkpoint (`obs` "rgb") reads camera images: it records the env kwargs that make an
env observe them as its dataset did (cameras, size, render preset), and `observation_kwargs`
hands them to the evaluation, which builds its env with them (`policies/base.py`), so
`dexbench eval --checkpoint DIR` needs no camera flags.
"""

from __future__ import annotations

import contextlib

import hashlib
import json
from collections import deque
from pathlib import Path

import numpy as np
import torch

from dexbench.policies.bc.actions import decode
from dexbench.policies.bc.data import flatten_obs
from dexbench.policies.bc.model import ARCHITECTURES, OBSERVATIONS, build_model
from dexbench.policies.bc.train import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, MAX_HORIZON

ENSEMBLE_DECAY = 0.1  # ACT's m: weight exp(-m * i) of the i-th oldest prediction


RETRAIN = "retrain it (`dexbench train bc --data FILE --out DIR`) or copy / download the checkpoint again"
MAX_DIM = 1_000_000  # a config asking for wider tensors is damaged or hostile, not a policy


def load_checkpoint(checkpoint: str | Path) -> tuple[torch.nn.Module, dict, str]:
    """(network, config, sha256 of model.pt) of a BC checkpoint directory. A damaged or foreign
    checkpoint raises ValueError (FileNotFoundError when files are missing) naming the file and
    the fix, never a bare JSON or torch error."""
    path = Path(checkpoint)
    missing = [name for name in ("config.json", "model.pt") if not (path / name).is_file()]
    if missing:
        what = ("it does not exist" if not path.exists() else "it is a file, not a directory" if not path.is_dir()
                else f"it lacks {' and '.join(missing)}")
        raise FileNotFoundError(f"{path} is not a BC checkpoint directory ({what}; a checkpoint holds config.json "
                                "and model.pt); train one with `dexbench train bc --data FILE --out DIR`")
    config = _read_config(path / "config.json")
    try:
        model = build_model(config)
    except (TypeError, ValueError, RuntimeError) as err:  # e.g. an unknown or mistyped model argument
        raise ValueError(f"{path / 'config.json'} describes no BC network ({err}); {RETRAIN}") from err
    raw = (path / "model.pt").read_bytes()
    try:
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # a damaged or foreign file: say which and what to do
        # torch's own messages can be as bare as "101": name the error type too.
        raise ValueError(f"cannot load {path / 'model.pt'} ({type(err).__name__}: {err}); it is not a state_dict "
                         f"of this network: {RETRAIN}") from err
    if not all(bool(torch.isfinite(t).all()) for t in model.state_dict().values()):
        raise ValueError(f"{path / 'model.pt'} holds NaN or infinite weights (a diverged training run); {RETRAIN}")
    model.eval()
    return model, config, hashlib.sha256(raw).hexdigest()


def _read_config(file: Path) -> dict:
    try:
        config = json.loads(file.read_text())
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise ValueError(f"{file} is not valid JSON ({err}); the checkpoint is damaged: {RETRAIN}") from err
    fmt = config.get("format") if isinstance(config, dict) else type(config).__name__
    if fmt != CHECKPOINT_FORMAT:
        raise ValueError(f"{file} is not a {CHECKPOINT_FORMAT} config (format={fmt!r}); point --checkpoint at "
                         "a directory written by `dexbench train bc`")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > CHECKPOINT_VERSION:
        raise ValueError(f"{file} has format_version {version!r}; this dexbench reads up to {CHECKPOINT_VERSION}: "
                         "upgrade dexbench or retrain the checkpoint")
    problem = _config_problem(config)
    if problem:
        raise ValueError(f"{file} is damaged: {problem}; {RETRAIN}")
    return config


def _is_int(value, lo: int = 1, hi: int = MAX_DIM) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _config_problem(config: dict) -> str | None:
    """What in a config.json of the right format would make the policy crash or act wrongly later."""
    if config.get("arch") not in ARCHITECTURES:
        return f"arch is {config.get('arch')!r}, not one of {', '.join(ARCHITECTURES)}"
    for key in ("obs_dim", "act_dim", "env_act_dim"):
        if not _is_int(config.get(key)):
            return f"{key} is {config.get(key)!r}, not an integer in 1..{MAX_DIM}"
    model, train, keys = config.get("model"), config.get("train"), config.get("obs_keys")
    if not isinstance(model, dict) or not all(_is_int(v, 1, MAX_HORIZON if k == "chunk" else 16_384)
                                              for k, v in model.items()):
        return f"model is {model!r}, not a dict of network sizes"
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        return f"obs_keys is {keys!r}, not a list of observation names"
    if not isinstance(train, dict) or (config.get("arch") == "rnn" and not _is_int(train.get("seq_len"), 1,
                                                                                   MAX_HORIZON)):
        return "train (the training options; seq_len for an rnn) is missing or malformed"
    if config.get("obs", "state") not in OBSERVATIONS:
        return f"obs is {config.get('obs')!r}, not one of {', '.join(OBSERVATIONS)}"
    if config.get("obs") == "rgb":
        cameras, view = config.get("cameras"), config.get("observation_kwargs")
        if (not isinstance(cameras, list) or not cameras or not all(isinstance(c, str) for c in cameras)
                or model.get("cameras") != len(cameras)):
            return f"cameras is {cameras!r}, not the list of the {model.get('cameras')} cameras the network reads"
        if not isinstance(view, dict) or view.get("camera_names") != cameras or view.get("image_size") != [
                model.get("image_size")] * 2:
            return f"observation_kwargs is {view!r}, not the env kwargs of the cameras and image size trained on"
    slots = config.get("rotation_slots")
    if not isinstance(slots, list) or not all(isinstance(x, list) and len(x) == 2 and all(map(_is_int, x))
                                              and x[0] < x[1] <= config["env_act_dim"] for x in slots):
        return f"rotation_slots is {slots!r}, not [start, stop] pairs within the action"
    # Each absolute rotation is learned as 6 numbers instead of 3 (actions.py).
    if config["act_dim"] != config["env_act_dim"] + 3 * len(slots):
        return (f"act_dim {config['act_dim']} does not match env_act_dim {config['env_act_dim']} with "
                f"{len(slots)} rotation slot(s)")
    return None


def _check_observations(observation_space, config: dict, checkpoint) -> None:
    """The env must offer every observation key the policy was trained on, at the trained size."""
    spaces = getattr(observation_space, "spaces", {})
    if config.get("obs") == "rgb":
        size = config["model"]["image_size"]
        wrong = [c for c in config["cameras"] if c + "_image" not in spaces
                 or tuple(spaces[c + "_image"].shape) != (size, size, 3)]
        if wrong:
            view = ", ".join(f"{k}={v!r}" for k, v in config["observation_kwargs"].items())
            raise ValueError(f"checkpoint {checkpoint} reads {size}x{size} images of {', '.join(config['cameras'])}; "
                             f"this env gives none of {', '.join(wrong)} at that size. `dexbench eval` makes the "
                             f"env with them itself; elsewhere make it with {view}")
    missing = [k for k in config["obs_keys"] if k not in spaces]
    if missing:
        raise ValueError(f"checkpoint {checkpoint} was trained on observations this env lacks: {missing}; "
                         f"evaluate it on {config.get('env_id')} (the env it was trained on)")
    size = sum(int(np.prod(spaces[k].shape)) for k in config["obs_keys"])
    if size != config["obs_dim"]:
        raise ValueError(f"checkpoint {checkpoint} reads {config['obs_dim']} observation numbers from "
                         f"{config['obs_keys']}; this env gives {size}: evaluate it on {config.get('env_id')} "
                         "(the env it was trained on)")


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
    def __init__(self, observation_space, action_space, checkpoint: str | Path) -> None:
        self.model, self.config, self.checkpoint_sha256 = load_checkpoint(checkpoint)
        self.name = f"bc-{self.config['arch']}" + ("-rgb" if self.config.get("obs") == "rgb" else "")
        self.obs_keys = list(self.config["obs_keys"])
        self.image_keys = [c + "_image" for c in self.config.get("cameras", [])] if self.config.get(
            "obs") == "rgb" else []
        self._slots = [tuple(x) for x in self.config["rotation_slots"]]
        env_act_dim = self.config["env_act_dim"]
        if action_space.shape != (env_act_dim,):
            raise ValueError(f"checkpoint {checkpoint} outputs {env_act_dim}-D actions; this env takes "
                             f"{action_space.shape} (trained on {self.config['env_id']})")
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
        return list(self.obs_keys), norm.mean.numpy().astype(np.float64), norm.std.numpy().astype(np.float64)

    def reset(self, seed: int | None = None) -> None:
        self._t = 0
        self._lstm_state = None
        self._chunks: deque[np.ndarray] = deque(maxlen=self.config["model"].get("chunk", 1))

    @torch.inference_mode()
    @one_thread()
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x = self.model.obs_norm.normalize(torch.as_tensor(flatten_obs(obs, self.obs_keys))[None])
        if self.config["arch"] == "mlp":
            if self.image_keys:
                images = torch.as_tensor(np.stack([obs[k] for k in self.image_keys]))[None]  # (1, cameras, H, W, 3)
                chunk = self.model(x, images)
            else:
                chunk = self.model(x)
            self._chunks.append(self.model.act_norm.denormalize(chunk)[0].numpy())
            # Prediction made k steps ago holds this step's action at index k.
            preds = np.stack([c[len(self._chunks) - 1 - i] for i, c in enumerate(self._chunks)])
            weights = np.exp(-ENSEMBLE_DECAY * np.arange(len(preds)))
            action = (weights[:, None] * preds).sum(0) / weights.sum()
        else:
            if self._t % self.config["train"]["seq_len"] == 0:
                self._lstm_state = None
            out, self._lstm_state = self.model(x[None], self._lstm_state)
            action = self.model.act_norm.denormalize(out[0, -1]).numpy()
        self._t += 1
        return np.clip(decode(action.astype(np.float64), self._slots), self._low, self._high)
