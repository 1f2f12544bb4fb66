"""EnvOptions: everything a DexEnv is made with beyond its task and robot, checked once, frozen.

`DexEnv(**kwargs)` keeps Gymnasium's keyword interface and turns its kwargs into one of these
first, so a bad value fails before a model is built, with a message that names the option, what
it accepts and the default. The env's defaults that depend on its task or robot (the horizon,
the action mode) are resolved by the env into its copy (`resolved`), and `recorded()` is what a
dataset stores to rebuild the same env with `gymnasium.make(env_id, **recorded)`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from dexbench.envs.appearance import check_factors
from dexbench.envs.rendering import preset_by_name
from dexbench.envs.scene import MAX_RENDER_SIZE, PHYSICS_TIMESTEP_S

OBS_MODES = ("state", "rgb", "state+rgb")


@dataclass(frozen=True)
class EnvOptions:
    """The DexEnv kwargs (their meaning: `DexEnv`'s docstring), normalised: sequences become
    tuples, an image size becomes (height, width), visual factors come in their canonical order."""

    variant: str = "D0"
    obs_mode: str = "state"
    camera_names: tuple[str, ...] = ("agentview",)
    image_size: tuple[int, int] = (84, 84)
    render_preset: str = "fast"
    control_freq: float = 20.0
    horizon: int | None = None  # None: the task's
    reward_type: str = "sparse"
    action_mode: str | None = None  # None: the embodiment's
    terminate_on_success: bool = False
    render_mode: str | None = None
    render_camera: str = "agentview"
    render_size: tuple[int, int] = (256, 256)
    object_variants: str | dict[str, str] = "reference"
    visual_factors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.variant, str):  # the task says which layouts it has
            raise ValueError(f"variant must be a layout name such as 'D0', got {self.variant!r}")
        _choice("obs_mode", self.obs_mode, OBS_MODES)
        _choice("reward_type", self.reward_type, ("sparse", "dense"))
        _choice("action_mode", self.action_mode, (None, "delta", "absolute"))
        _choice("render_mode", self.render_mode, (None, "rgb_array"))
        freq = self.control_freq
        if isinstance(freq, bool) or not isinstance(freq, (int, float)) or not (np.isfinite(freq) and freq > 0):
            raise ValueError(f"control_freq must be a positive number of Hz (default 20), got {freq!r}")
        if self.substeps < 1:
            raise ValueError(f"control_freq {freq} Hz is above the physics rate ({1 / PHYSICS_TIMESTEP_S:g} Hz)")
        horizon = self.horizon
        if horizon is not None and (
            isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1
        ):
            raise ValueError(f"horizon must be a whole number of steps >= 1 (default: the task's), got {horizon!r}")
        if not isinstance(self.terminate_on_success, (bool, np.bool_)):
            raise ValueError(f"terminate_on_success must be True or False, got {self.terminate_on_success!r}")
        if not isinstance(self.render_preset, str):  # a name: it is recorded in datasets' env_args
            raise ValueError(f"render_preset must be a preset name ('fast' or 'default'), got {self.render_preset!r}")
        preset_by_name(self.render_preset)  # an unknown preset fails here, not at the first image
        cameras = (self.camera_names,) if isinstance(self.camera_names, str) else self.camera_names
        if not all(isinstance(c, str) for c in cameras):
            raise ValueError(f"camera_names must be camera names, got {self.camera_names!r}")
        if not isinstance(self.render_camera, str):
            raise ValueError(f"render_camera must be a camera name, got {self.render_camera!r}")
        normalised = {
            "camera_names": tuple(cameras),  # one camera named on its own, not its letters
            "image_size": image_size(self.image_size, "image_size"),
            "render_size": image_size(self.render_size, "render_size"),
            "visual_factors": check_factors(self.visual_factors),
            "control_freq": float(freq),
            "horizon": None if horizon is None else int(horizon),
            "terminate_on_success": bool(self.terminate_on_success),
            "object_variants": copy.deepcopy(self.object_variants),  # the task checks the names
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return round(1.0 / (self.control_freq * PHYSICS_TIMESTEP_S))

    def resolved(self, horizon: int, action_mode: str) -> EnvOptions:
        """A copy with the task's horizon and the robot's action mode where none was given."""
        return dataclasses.replace(self, horizon=self.horizon or horizon, action_mode=self.action_mode or action_mode)

    def recorded(self) -> dict[str, Any]:
        """The kwargs that rebuild this env with `gymnasium.make(env_id, **kwargs)`, as JSON: the
        layout is in the id and the render_* options only shape `render()`, so they are left
        out; the object axis and the visual factors appear only when on, so the published env's
        kwargs stay what they were."""
        kwargs = {
            "obs_mode": self.obs_mode,
            "camera_names": list(self.camera_names),
            "image_size": list(self.image_size),
            "render_preset": self.render_preset,
            "control_freq": self.control_freq,
            "horizon": self.horizon,
            "reward_type": self.reward_type,
            "action_mode": self.action_mode,
            "terminate_on_success": self.terminate_on_success,
        }
        if self.object_variants != "reference":
            kwargs["object_variants"] = copy.deepcopy(self.object_variants)
        if self.visual_factors:
            kwargs["visual_factors"] = list(self.visual_factors)
        return kwargs


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
        shown = " or ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be {shown}, got {value!r}")


def image_size(size, name: str) -> tuple[int, int]:
    """(height, width) from an int or a pair, each a whole number of pixels in 1..MAX_RENDER_SIZE."""
    pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
    try:
        height, width = pair
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a side in pixels or (height, width), got {size!r}") from None
    for side in (height, width):
        if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or not 1 <= side <= MAX_RENDER_SIZE:
            raise ValueError(f"{name} must be whole pixels in 1..{MAX_RENDER_SIZE}, got {size!r}")
    return int(height), int(width)
