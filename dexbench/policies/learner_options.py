"""How every learner checks its options (BC, pixel BC, the Diffusion Policy): ranges and
finiteness, the device, the kept checkpoints; each message names the option and its CLI flag."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dexbench.policies.checkpoint_folders import snapshot_schedule
from dexbench.policies.device import DEVICES


def option_name(name: str, flags: dict[str, str]) -> str:
    """An option as a message names it: with its CLI flag when it has one."""
    return f"{name} ({flags[name]})" if name in flags else name


def is_integer(value: Any) -> bool:
    # bool is an int to Python, but `layers=True` is a mistake, not 1.
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_options(config, int_ranges, float_ranges, flags: dict[str, str]) -> None:
    """What every learner checks of its options before any data is read: the integer options
    `(name, lo, hi)` in range (hi None: unbounded), the float ones `(name, allowed, ok)` finite
    and `ok`, the device one of DEVICES, the kept checkpoints at most the steps. Each message
    names the option (and its flag), the allowed range and the value given."""
    for name, lo, hi in int_ranges:
        value = getattr(config, name)
        allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        if not is_integer(value) or not (lo <= value and (hi is None or value <= hi)):
            raise ValueError(f"{option_name(name, flags)} must be an integer in {allowed}, got {value!r}")
    for name, allowed, ok in float_ranges:
        value = getattr(config, name)
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        # inf passes `x > 0` and `x >= 0`, so finiteness is tested on its own.
        if not number or not math.isfinite(value) or not ok(value):
            raise ValueError(f"{option_name(name, flags)} must be a finite number {allowed}, got {value!r}")
    if config.device not in DEVICES:
        raise ValueError(f"{option_name('device', flags)} must be one of {', '.join(DEVICES)}, got {config.device!r}")
    snapshot_schedule(config.steps, config.keep_checkpoints)
