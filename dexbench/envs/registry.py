"""The DexMG/<Task>-<Embodiment>-D<k> table, derived from the task classes (each task's
`embodiments` x its `layouts`), its Gymnasium registration, and `make(env_id)`.

The registration passes the layout as `variant=`, the name Gymnasium's registry and exported env
specs (Minari) record; `EnvEntry.layout` is that same "D<k>"."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import gymnasium as gym

from dexbench.envs.embodiments import EMBODIMENTS
from dexbench.envs.tasks import TASKS

NAMESPACE = "DexMG"


@dataclass(frozen=True)
class EnvEntry:
    env_id: str
    task: str
    embodiment: str
    layout: str  # "D0", "D1", "D2"

    @property
    def native(self) -> bool:
        return TASKS[self.task].native_embodiment == self.embodiment


def _env_table() -> dict[str, EnvEntry]:
    table = {}
    for task, cls in TASKS.items():
        unknown = sorted(set(cls.embodiments) - set(EMBODIMENTS))
        if unknown:
            raise ValueError(f"task {task} names unknown embodiments {unknown}; known: {sorted(EMBODIMENTS)}")
        for emb in (e for e in EMBODIMENTS if e in cls.embodiments):
            for layout in cls.layouts:
                env_id = f"{NAMESPACE}/{task}-{emb}-{layout}"
                table[env_id] = EnvEntry(env_id, task, emb, layout)
    return table


ENV_TABLE: dict[str, EnvEntry] = _env_table()


def make_env(task: str, embodiment: str, variant: str = "D0", **kwargs):
    """Gymnasium entry point: build a DexEnv for one table entry (`variant`: its layout)."""
    from dexbench.envs.core import DexEnv

    env_id = f"{NAMESPACE}/{task}-{embodiment}-{variant}"
    return DexEnv(TASKS[task], EMBODIMENTS[embodiment](), variant, env_id=env_id, **kwargs)


def build_env(env_id: str, **kwargs):
    """A DexEnv for an id (`DexMG/...` or `dexbench:DexMG/...`), without Gymnasium's wrappers;
    an unknown id fails with the closest known ids."""
    entry = lookup(env_id)
    return make_env(entry.task, entry.embodiment, entry.layout, **kwargs)


def lookup(env_id: str) -> EnvEntry:
    """The table entry of an id; an unknown id fails with the closest known ids."""
    key = env_id.removeprefix("dexbench:")
    if key in ENV_TABLE:
        return ENV_TABLE[key]
    close = difflib.get_close_matches(key, ENV_TABLE, n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else f" Run `dexbench list` to see all {len(ENV_TABLE)} ids."
    raise gym.error.UnregisteredEnv(f"No DexBench env {key!r}.{hint}")


def register_all() -> None:
    for env_id, entry in ENV_TABLE.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="dexbench.envs.registry:make_env",
            kwargs=dict(task=entry.task, embodiment=entry.embodiment, variant=entry.layout),
            max_episode_steps=None,
            disable_env_checker=True,
        )
