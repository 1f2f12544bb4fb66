"""The Diffusion Policy as a policy: `dexbench eval --policy dexbench.policies:DiffusionPolicy --checkpoint DIR`.

The checkpoint is `DIR/model.pt` (the EMA weights: tensors only, loaded with
`weights_only=True`) and `DIR/config.json` (format "dexbench-diffusion-checkpoint"). The policy
keeps the last `n_obs` observations (the first one repeated at an episode's start), samples a
window of `horizon` actions with DDIM every `n_action` steps and executes actions
n_obs-1 .. n_obs-2+n_action of it (the window starts at the oldest observation). The initial
noise comes from a torch.Generator seeded with the episode seed given to `reset(seed)` (0 when
none is given), and DDIM is deterministic after it: an episode's actions depend on its seed
alone, whatever the number of evaluation workers.
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
from dexbench.policies.bc.policy import _check_observations, one_thread
from dexbench.policies.diffusion.model import GROUPS, NoiseSchedule, TemporalUNet, count_parameters
from dexbench.policies.diffusion.train import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    MAX_CHANNELS,
    MAX_HORIZON,
    MAX_PARAMETERS,
    resolve_device,
)

RETRAIN = ("retrain it (`dexbench train diffusion --data FILE --out DIR`) or copy / download the checkpoint "
           "again")
MAX_DIM = 1_000_000  # a config asking for wider tensors is damaged or hostile, not a policy


def load_checkpoint(checkpoint: str | Path, device: str = "cpu") -> tuple[TemporalUNet, dict, str]:
    """(network, config, sha256 of model.pt) of a diffusion checkpoint directory. A damaged or
    foreign checkpoint raises ValueError (FileNotFoundError when files are missing) naming the
    file and the fix; the network's size is bounded before anything is allocated."""
    path = Path(checkpoint)
    missing = [name for name in ("config.json", "model.pt") if not (path / name).is_file()]
    if missing:
        what = ("it does not exist" if not path.exists() else "it is a file, not a directory" if not path.is_dir()
                else f"it lacks {' and '.join(missing)}")
        raise FileNotFoundError(f"{path} is not a diffusion checkpoint directory ({what}; a checkpoint holds "
                                "config.json and model.pt); train one with `dexbench train diffusion --data FILE "
                                "--out DIR`")
    config = read_config(path / "config.json")
    try:
        parameters = count_parameters(config["model"], config["obs_dim"], config["act_dim"])
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path / 'config.json'} describes no diffusion network ({err}); {RETRAIN}") from err
    if parameters > MAX_PARAMETERS:
        raise ValueError(f"{path / 'config.json'} describes a {parameters:,}-parameter network (more than "
                         f"{MAX_PARAMETERS:,}): the checkpoint is damaged; {RETRAIN}")
    model = TemporalUNet(config["obs_dim"], config["act_dim"], **config["model"])
    raw = (path / "model.pt").read_bytes()
    try:
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # a damaged, foreign or pickled-code file: say which and what to do
        raise ValueError(f"cannot load {path / 'model.pt'} ({type(err).__name__}: {err}); it is not a state_dict "
                         f"of this network: {RETRAIN}") from err
    if not all(bool(torch.isfinite(t).all()) for t in model.state_dict().values()):
        raise ValueError(f"{path / 'model.pt'} holds NaN or infinite weights (a diverged training run); {RETRAIN}")
    model.eval().to(resolve_device(device))
    return model, config, hashlib.sha256(raw).hexdigest()


def read_config(file: Path) -> dict:
    try:
        config = json.loads(file.read_text())
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{file} is not valid JSON ({err}); the checkpoint is damaged: {RETRAIN}") from err
    fmt = config.get("format") if isinstance(config, dict) else type(config).__name__
    if fmt != CHECKPOINT_FORMAT:
        hint = (" (a BC checkpoint: evaluate it with --policy dexbench.policies:BCPolicy)"
                if fmt == "dexbench-bc-checkpoint" else "")
        raise ValueError(f"{file} is not a {CHECKPOINT_FORMAT} config (format={fmt!r}){hint}; point --checkpoint "
                         "at a directory written by `dexbench train diffusion`")
    version = config.get("format_version")
    if not _is_int(version, 1, 10**6) or version > CHECKPOINT_VERSION:
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
    for key in ("obs_dim", "act_dim", "env_act_dim"):
        if not _is_int(config.get(key)):
            return f"{key} is {config.get(key)!r}, not an integer in 1..{MAX_DIM}"
    model = config.get("model")
    if not isinstance(model, dict) or set(model) != {"horizon", "n_obs", "n_action", "channels"}:
        return f"model is {model!r}, not a dict of horizon, n_obs, n_action and channels"
    if not all(_is_int(model[k], 1, MAX_HORIZON) for k in ("horizon", "n_obs", "n_action")):
        return f"model's horizon, n_obs and n_action must be integers in 1..{MAX_HORIZON}, got {model!r}"
    channels = model["channels"]
    if (not isinstance(channels, list) or not 1 <= len(channels) <= 6
            or not all(_is_int(c, GROUPS, MAX_CHANNELS) and c % GROUPS == 0 for c in channels)):
        return f"model's channels are {channels!r}, not 1 to 6 multiples of {GROUPS} up to {MAX_CHANNELS}"
    if model["horizon"] % 2 ** (len(channels) - 1) or model["n_obs"] - 1 + model["n_action"] > model["horizon"]:
        return f"model {model!r} does not fit its horizon (levels halve it; the executed actions must lie in it)"
    diffusion = config.get("diffusion")
    if (not isinstance(diffusion, dict) or not _is_int(diffusion.get("train_steps"), 2, 10_000)
            or not _is_int(diffusion.get("ddim_steps"), 1, diffusion.get("train_steps"))
            or diffusion.get("prediction") != "epsilon"):
        return f"diffusion is {diffusion!r}, not train_steps, ddim_steps (<= train_steps) and epsilon prediction"
    keys = config.get("obs_keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        return f"obs_keys is {keys!r}, not a list of observation names"
    slots = config.get("rotation_slots")
    if not isinstance(slots, list) or not all(isinstance(x, list) and len(x) == 2 and all(_is_int(v, 0) for v in x)
                                              and x[0] < x[1] <= config["env_act_dim"] for x in slots):
        return f"rotation_slots is {slots!r}, not [start, stop] pairs within the action"
    if config["act_dim"] != config["env_act_dim"] + 3 * len(slots):
        return (f"act_dim {config['act_dim']} does not match env_act_dim {config['env_act_dim']} with "
                f"{len(slots)} rotation slot(s)")
    return None


class DiffusionPolicy:
    def __init__(self, observation_space, action_space, checkpoint: str | Path, device: str = "cpu",
                 ddim_steps: int | str | None = None) -> None:
        self.model, self.config, self.checkpoint_sha256 = load_checkpoint(checkpoint, device)
        self.device = next(self.model.parameters()).device
        self.name = "diffusion"
        self.obs_keys = list(self.config["obs_keys"])
        self._slots = [tuple(x) for x in self.config["rotation_slots"]]
        env_act_dim = self.config["env_act_dim"]
        if action_space.shape != (env_act_dim,):
            raise ValueError(f"checkpoint {checkpoint} outputs {env_act_dim}-D actions; this env takes "
                             f"{action_space.shape} (trained on {self.config['env_id']})")
        _check_observations(observation_space, self.config, checkpoint)
        diffusion = self.config["diffusion"]
        steps = diffusion["ddim_steps"] if ddim_steps is None else ddim_steps
        try:  # --policy-arg ddim_steps=N arrives as a string
            steps = int(steps)
        except (TypeError, ValueError):
            steps = -1
        if not 1 <= steps <= diffusion["train_steps"]:
            raise ValueError(f"ddim_steps must be an integer in 1..{diffusion['train_steps']}, got {ddim_steps!r}")
        self.ddim_steps = steps
        self.schedule = NoiseSchedule(diffusion["train_steps"])
        self._low, self._high = action_space.low, action_space.high
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self._generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        self._history: deque[np.ndarray] = deque(maxlen=self.model.n_obs)
        self._plan: deque[np.ndarray] = deque()

    @torch.inference_mode()
    @one_thread()
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x = flatten_obs(obs, self.obs_keys)
        if not self._history:
            self._history.extend([x] * self.model.n_obs)
        else:
            self._history.append(x)
        if not self._plan:
            self._plan.extend(self.plan(np.stack(self._history)))
        return self._plan.popleft()

    def plan(self, history: np.ndarray) -> list[np.ndarray]:
        """The next n_action env actions for the (n_obs, obs_dim) raw observation history."""
        m = self.model
        cond = m.obs_norm.normalize(torch.as_tensor(history, device=self.device)).flatten()[None]
        window = self.schedule.ddim_sample(m, cond, self.ddim_steps, self._generator)
        actions = m.act_norm.denormalize(window[0, m.n_obs - 1:m.n_obs - 1 + m.n_action]).cpu().numpy()
        return [np.clip(decode(a.astype(np.float64), self._slots), self._low, self._high) for a in actions]
