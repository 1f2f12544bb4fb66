"""The BC baseline as a policy: `dexbench eval --policy dexbench.policies:BCPolicy --checkpoint DIR`.

The checkpoint is `DIR/model.pt` (tensors only, loaded with `weights_only=True`: a checkpoint
cannot run code) and `DIR/config.json`. The chunking MLP predicts a chunk every step and
executes the temporal ensemble of all predictions for the current step (ACT's exponential
weights, oldest first; averaged in the learned action representation, 6-D for absolute
rotations, then decoded); the LSTM carries its state and resets it every `seq_len` steps, as in
training.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from pathlib import Path

import numpy as np
import torch

from dexbench.policies.bc.actions import decode
from dexbench.policies.bc.data import flatten_obs
from dexbench.policies.bc.model import build_model
from dexbench.policies.bc.train import CHECKPOINT_FORMAT

ENSEMBLE_DECAY = 0.1  # ACT's m: weight exp(-m * i) of the i-th oldest prediction


def load_checkpoint(checkpoint: str | Path) -> tuple[torch.nn.Module, dict, str]:
    """(network, config, sha256 of model.pt) of a BC checkpoint directory."""
    path = Path(checkpoint)
    if not (path / "config.json").is_file() or not (path / "model.pt").is_file():
        raise FileNotFoundError(f"{path} is not a BC checkpoint (needs config.json and model.pt); "
                                "train one with `dexbench train bc --data FILE --out DIR`")
    config = json.loads((path / "config.json").read_text())
    if config.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path / 'config.json'} is not a {CHECKPOINT_FORMAT} config (format={config.get('format')!r})")
    model = build_model(config)
    raw = (path / "model.pt").read_bytes()
    try:
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # a damaged or foreign file: say which and what to do
        raise ValueError(f"cannot load {path / 'model.pt'} ({err}); retrain or copy the checkpoint again") from err
    model.eval()
    return model, config, hashlib.sha256(raw).hexdigest()


class BCPolicy:
    def __init__(self, observation_space, action_space, checkpoint: str | Path) -> None:
        self.model, self.config, self.checkpoint_sha256 = load_checkpoint(checkpoint)
        self.name = f"bc-{self.config['arch']}"
        self.obs_keys = list(self.config["obs_keys"])
        missing = [k for k in self.obs_keys if k not in observation_space.spaces]
        if missing:
            raise ValueError(f"checkpoint {checkpoint} was trained on observations this env lacks: {missing}")
        self._slots = [tuple(x) for x in self.config["rotation_slots"]]
        env_act_dim = self.config["env_act_dim"]
        if action_space.shape != (env_act_dim,):
            raise ValueError(f"checkpoint {checkpoint} outputs {env_act_dim}-D actions; this env takes "
                             f"{action_space.shape} (trained on {self.config['env_id']})")
        self._low, self._high = action_space.low, action_space.high
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self._t = 0
        self._lstm_state = None
        self._chunks: deque[np.ndarray] = deque(maxlen=self.config["model"].get("chunk", 1))

    @torch.inference_mode()
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x = self.model.obs_norm.normalize(torch.as_tensor(flatten_obs(obs, self.obs_keys))[None])
        if self.config["arch"] == "mlp":
            self._chunks.append(self.model.act_norm.denormalize(self.model(x))[0].numpy())
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
