"""Scripted source demonstrators, one per task, written against the public env API only."""

from __future__ import annotations

import numpy as np

from dexbench.generators.scripted.base import ScriptedDemonstrator
from dexbench.generators.scripted.pouring import PouringDemonstrator
from dexbench.generators.scripted.tray_lift import TrayLiftDemonstrator

DEMONSTRATORS: dict[str, type[ScriptedDemonstrator]] = {
    "TrayLift": TrayLiftDemonstrator,
    "Pouring": PouringDemonstrator,
}


def make_demonstrator(env, rng: np.random.Generator) -> ScriptedDemonstrator:
    """The scripted demonstrator for `env`'s task (`env` is a DexEnv, i.e. `env.unwrapped`)."""
    task = env.task.name
    if task not in DEMONSTRATORS:
        raise KeyError(f"no scripted demonstrator for task {task!r}; have {sorted(DEMONSTRATORS)}")
    return DEMONSTRATORS[task](env, rng)
