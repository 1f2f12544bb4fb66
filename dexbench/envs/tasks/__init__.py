"""One module per task; TASKS maps task names to their classes.

Tasks are found, not listed: every module in this package that defines a `Task` subclass with a
`name` adds that task (and its ids, see `dexbench.envs.registry`). Adding a task is adding its
file.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from dexbench.envs.tasks.base import Task

# The published tasks in the papers' order (the order of `dexbench list`); others follow by name.
PUBLISHED_ORDER = (
    "Threading",
    "PieceAssembly",
    "Transport",
    "BoxCleanup",
    "DrawerCleanup",
    "TrayLift",
    "Pouring",
    "Coffee",
    "CanSort",
)


def _discover() -> dict[str, type[Task]]:
    found: dict[str, type[Task]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Task) and cls.__module__ == module.__name__ and not inspect.isabstract(cls):
                if cls.name in found:
                    raise ImportError(
                        f"two tasks are named {cls.name!r}: {found[cls.name].__module__} and {cls.__module__}"
                    )
                found[cls.name] = cls
    rank = {name: i for i, name in enumerate(PUBLISHED_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


TASKS: dict[str, type[Task]] = _discover()
