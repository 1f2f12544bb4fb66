"""What the learners' checkpoints share (BC's and the Diffusion Policy's): a directory holding
`model.pt` (a state_dict, tensors only, loaded with `weights_only=True`: a checkpoint cannot run
code) and `config.json` (what rebuilds and feeds the network). Loading refuses a damaged or
foreign checkpoint with a ValueError (FileNotFoundError when files are missing) that names the
file and the fix, never a bare JSON or torch error; each learner adds the checks of its own
config (`problem`) and how its network is built (`build`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch

from dexbench.policies.device import resolve_device

MAX_DIM = 1_000_000  # a config asking for wider tensors is damaged or hostile, not a policy
MAX_FORMAT_VERSION = 10**6


def retrain_hint(train_command: str) -> str:
    return f"retrain it (`{train_command}`) or copy / download the checkpoint again"


def is_int(value, lo: int = 1, hi: int = MAX_DIM) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def read_config(
    file: Path,
    fmt: str,
    version: int,
    train_command: str,
    problem: Callable[[dict], str | None],
    foreign_hints: dict[str, str] | None = None,
) -> dict:
    """The checkpoint config `file` of format `fmt` (up to `version`), refused when it is not
    JSON, of another format (`foreign_hints`: what to say for a known other one), newer, or when
    `problem(config)` names what in it would make the policy crash or act wrongly later."""
    retrain = retrain_hint(train_command)
    try:
        config = json.loads(file.read_text())
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise ValueError(f"{file} is not valid JSON ({err}); the checkpoint is damaged: {retrain}") from err
    found = config.get("format") if isinstance(config, dict) else type(config).__name__
    if found != fmt:
        hint = (foreign_hints or {}).get(found, "") if isinstance(found, str) else ""
        raise ValueError(
            f"{file} is not a {fmt} config (format={found!r}){hint}; point --checkpoint at a directory "
            f"written by `{train_command.split(' --')[0]}`"
        )
    found_version = config.get("format_version")
    if not is_int(found_version, 1, MAX_FORMAT_VERSION) or found_version > version:
        raise ValueError(
            f"{file} has format_version {found_version!r}; this dexbench reads up to {version}: "
            "upgrade dexbench or retrain the checkpoint"
        )
    message = problem(config)
    if message:
        raise ValueError(f"{file} is damaged: {message}; {retrain}")
    return config


def load_checkpoint_dir(
    checkpoint: str | Path,
    kind: str,
    train_command: str,
    read: Callable[[Path], dict],
    build: Callable[[dict], torch.nn.Module],
    device: str = "cpu",
) -> tuple[torch.nn.Module, dict, str]:
    """(network on `device`, config, sha256 of model.pt) of the checkpoint directory `checkpoint`
    of a `kind` learner: `read` reads and checks its config.json, `build` makes the network the
    config describes (and may refuse it: a ValueError, TypeError or RuntimeError)."""
    path = Path(checkpoint)
    retrain = retrain_hint(train_command)
    missing = [name for name in ("config.json", "model.pt") if not (path / name).is_file()]
    if missing:
        what = (
            "it does not exist"
            if not path.exists()
            else "it is a file, not a directory"
            if not path.is_dir()
            else f"it lacks {' and '.join(missing)}"
        )
        raise FileNotFoundError(
            f"{path} is not a {kind} checkpoint directory ({what}; a checkpoint holds "
            f"config.json and model.pt); train one with `{train_command}`"
        )
    config = read(path / "config.json")
    try:
        model = build(config)
    except (TypeError, ValueError, RuntimeError) as err:  # e.g. an unknown or mistyped model argument
        raise ValueError(f"{path / 'config.json'} describes no {kind} network ({err}); {retrain}") from err
    raw = (path / "model.pt").read_bytes()
    try:
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # a damaged, foreign or pickled-code file: say which and what to do
        # torch's own messages can be as bare as "101": name the error type too.
        raise ValueError(
            f"cannot load {path / 'model.pt'} ({type(err).__name__}: {err}); it is not a state_dict "
            f"of this network: {retrain}"
        ) from err
    if not all(bool(torch.isfinite(t).all()) for t in model.state_dict().values()):
        raise ValueError(f"{path / 'model.pt'} holds NaN or infinite weights (a diverged training run); {retrain}")
    model.eval().to(resolve_device(device))
    return model, config, hashlib.sha256(raw).hexdigest()


def actions_problem(config: dict) -> str | None:
    """What is wrong with a config's sizes, observation keys and rotation slots (None: nothing):
    the part of a checkpoint config every state learner writes the same way."""
    for key in ("obs_dim", "act_dim", "env_act_dim"):
        if not is_int(config.get(key)):
            return f"{key} is {config.get(key)!r}, not an integer in 1..{MAX_DIM}"
    keys = config.get("obs_keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        return f"obs_keys is {keys!r}, not a list of observation names"
    slots = config.get("rotation_slots")
    if not isinstance(slots, list) or not all(
        isinstance(x, list) and len(x) == 2 and all(is_int(v, 0) for v in x) and x[0] < x[1] <= config["env_act_dim"]
        for x in slots
    ):
        return f"rotation_slots is {slots!r}, not [start, stop] pairs within the action"
    # Each absolute rotation is learned as 6 numbers instead of 3 (bc/actions.py).
    if config["act_dim"] != config["env_act_dim"] + 3 * len(slots):
        return (
            f"act_dim {config['act_dim']} does not match env_act_dim {config['env_act_dim']} with "
            f"{len(slots)} rotation slot(s)"
        )
    return None


def check_action_space(action_space, config: dict, checkpoint) -> None:
    env_act_dim = config["env_act_dim"]
    if action_space.shape != (env_act_dim,):
        raise ValueError(
            f"checkpoint {checkpoint} outputs {env_act_dim}-D actions; this env takes "
            f"{action_space.shape} (trained on {config['env_id']})"
        )
