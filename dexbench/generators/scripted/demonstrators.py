"""Finding each task's scripted demonstrator: every module in this package that defines a
`ScriptedDemonstrator` subclass with a `task` adds the demonstrator of that task."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from dexbench.generators.scripted.base import ScriptedDemonstrator

PACKAGE = __name__.rpartition(".")[0]

NOT_DEMONSTRATORS = ("base", "demonstrators", "generator")


def _discover() -> dict[str, type[ScriptedDemonstrator]]:
    found: dict[str, type[ScriptedDemonstrator]] = {}
    for module_info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module_info.name in NOT_DEMONSTRATORS:
            continue
        module = importlib.import_module(f"{PACKAGE}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, ScriptedDemonstrator) and cls.__module__ == module.__name__ and hasattr(cls, "task"):
                found[cls.task] = cls
    return found


DEMONSTRATORS: dict[str, type[ScriptedDemonstrator]] = _discover()


def make_demonstrator(env) -> ScriptedDemonstrator:
    """The scripted demonstrator for `env`'s task (a DexEnv or a wrapper of one); call
    `reset(seed)` after each env reset, then `act(obs)`."""
    task = getattr(env, "unwrapped", env).task.name
    if task not in DEMONSTRATORS:
        raise KeyError(f"no scripted demonstrator for task {task!r}; have {sorted(DEMONSTRATORS)}")
    return DEMONSTRATORS[task](env)
