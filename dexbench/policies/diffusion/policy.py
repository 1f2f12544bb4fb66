"""The Diffusion Policy as a policy: `dexbench eval --policy dexbench.policies:DiffusionPolicy --checkpoint DIR`.

The checkpoint is `DIR/model.pt` (the EMA weights: tensors only, loaded with
`weights_only=True`) and `DIR/config.json` (format "dexbench-diffusion-checkpoint"). The policy
keeps the last `n_obs` observations (the first one repeated at an episode's start), samples a
window of `horizon` actions with DDIM every `n_action` steps (the trained one, or the policy
argument `n_action`) and executes actions n_obs-1 .. n_obs-2+n_action of it (the window starts
at the oldest observation). `device` ("cpu", the default, "auto" or "cuda") is where the network
runs (`policies/device.py`). The initial
noise comes from a torch.Generator seeded with the episode seed given to `reset(seed)` (0 when
none is given), and DDIM is deterministic after it: an episode's actions depend on its seed
alone, whatever the number of evaluation workers.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import torch

from dexbench.policies.bc.actions import decode
from dexbench.policies.bc.data import flatten_obs
from dexbench.policies.bc.policy import _check_observations, one_thread
from dexbench.policies.checkpoint import actions_problem, check_action_space, is_int, load_checkpoint_dir
from dexbench.policies.checkpoint import read_config as read_checkpoint_config
from dexbench.policies.diffusion.model import GROUPS, PREDICTIONS, NoiseSchedule, TemporalUNet, count_parameters
from dexbench.policies.diffusion.train import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    MAX_CHANNELS,
    MAX_HORIZON,
    MAX_PARAMETERS,
)

TRAIN_COMMAND = "dexbench train diffusion --data FILE --out DIR"
FOREIGN = {"dexbench-bc-checkpoint": " (a BC checkpoint: evaluate it with --policy dexbench.policies:BCPolicy)"}


def load_checkpoint(checkpoint: str | Path, device: str = "cpu") -> tuple[TemporalUNet, dict, str]:
    """(network on `device`, config, sha256 of model.pt) of a diffusion checkpoint directory; a
    damaged or foreign one is refused naming the file and the fix (`policies/checkpoint.py`),
    and the network's size is bounded before anything is allocated."""
    return load_checkpoint_dir(checkpoint, "diffusion", TRAIN_COMMAND, read_config, _build, device)


def read_config(file: Path) -> dict:
    return read_checkpoint_config(file, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, TRAIN_COMMAND, _config_problem, FOREIGN)


def _build(config: dict) -> TemporalUNet:
    parameters = count_parameters(config["model"], config["obs_dim"], config["act_dim"])
    if parameters > MAX_PARAMETERS:
        raise ValueError(f"a {parameters:,}-parameter network, more than {MAX_PARAMETERS:,}: the checkpoint is damaged")
    return TemporalUNet(config["obs_dim"], config["act_dim"], **config["model"])


def _config_problem(config: dict) -> str | None:
    """What in a config.json of the right format would make the policy crash or act wrongly later."""
    problem = actions_problem(config)
    if problem:
        return problem
    model = config.get("model")
    if not isinstance(model, dict) or set(model) != {"horizon", "n_obs", "n_action", "channels"}:
        return f"model is {model!r}, not a dict of horizon, n_obs, n_action and channels"
    if not all(is_int(model[k], 1, MAX_HORIZON) for k in ("horizon", "n_obs", "n_action")):
        return f"model's horizon, n_obs and n_action must be integers in 1..{MAX_HORIZON}, got {model!r}"
    channels = model["channels"]
    if (
        not isinstance(channels, list)
        or not 1 <= len(channels) <= 6
        or not all(is_int(c, GROUPS, MAX_CHANNELS) and c % GROUPS == 0 for c in channels)
    ):
        return f"model's channels are {channels!r}, not 1 to 6 multiples of {GROUPS} up to {MAX_CHANNELS}"
    if model["horizon"] % 2 ** (len(channels) - 1) or model["n_obs"] - 1 + model["n_action"] > model["horizon"]:
        return f"model {model!r} does not fit its horizon (levels halve it; the executed actions must lie in it)"
    diffusion = config.get("diffusion")
    if (
        not isinstance(diffusion, dict)
        or not is_int(diffusion.get("train_steps"), 2, 10_000)
        or not is_int(diffusion.get("ddim_steps"), 1, diffusion.get("train_steps"))
        or diffusion.get("prediction") not in PREDICTIONS
    ):
        return (
            f"diffusion is {diffusion!r}, not train_steps, ddim_steps (<= train_steps) and a prediction "
            f"({', '.join(PREDICTIONS)})"
        )
    return None


class DiffusionPolicy:
    def __init__(
        self,
        observation_space,
        action_space,
        checkpoint: str | Path,
        device: str = "cpu",
        ddim_steps: int | str | None = None,
        n_action: int | str | None = None,
    ) -> None:
        self.model, self.config, self.checkpoint_sha256 = load_checkpoint(checkpoint, device)
        self.device = next(self.model.parameters()).device
        self.name = "diffusion"
        self.obs_keys = list(self.config["obs_keys"])
        self._slots = [tuple(x) for x in self.config["rotation_slots"]]
        check_action_space(action_space, self.config, checkpoint)
        _check_observations(observation_space, self.config, checkpoint)
        diffusion, m = self.config["diffusion"], self.model
        self.ddim_steps = _int_arg(
            "ddim_steps", diffusion["ddim_steps"] if ddim_steps is None else ddim_steps, 1, diffusion["train_steps"]
        )
        # Actions executed per plan: the trained n_action by default; fewer replans more often
        # (closed-loop), up to the rest of the window after the current step.
        self.n_action = _int_arg("n_action", m.n_action if n_action is None else n_action, 1, m.horizon - m.n_obs + 1)
        self.schedule = NoiseSchedule(diffusion["train_steps"], diffusion["prediction"])
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
        """The next `n_action` env actions for the (n_obs, obs_dim) raw observation history."""
        m = self.model
        cond = m.obs_norm.normalize(torch.as_tensor(history, device=self.device)).flatten()[None]
        window = self.schedule.ddim_sample(m, cond, self.ddim_steps, self._generator)
        actions = m.act_norm.denormalize(window[0, m.n_obs - 1 : m.n_obs - 1 + self.n_action]).cpu().numpy()
        return [np.clip(decode(a.astype(np.float64), self._slots), self._low, self._high) for a in actions]


def _int_arg(name: str, value, lo: int, hi: int) -> int:
    """A policy argument that must be an integer in lo..hi (`--policy-arg NAME=N` arrives as a string)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = lo - 1
    if not lo <= number <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
    return number
