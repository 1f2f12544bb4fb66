"""The generator plug-in interface: turn a few source demos into many successful demos.

A generator is a class with a `name`, a `Config` dataclass (documented defaults), and one job:
for each generation attempt, give a *policy* that the runner executes with the rollout loop
(`dexbench.rollout`). It is a policy like any other (`reset(seed)`, `act(obs) -> action`, see
`dexbench.policies.base`), privileged: built with the env. It may also say it is `done`, and
after the episode report what the dataset should record about the attempt (`attempt_info()`;
without it, the runner derives the subtask progress from the recorded subtask signals). The
runner (`dexbench.generators.runner`) owns everything else: seeding, success filtering, workers,
shards, resume, the dataset and the report. Generators use only the public env API.

Third-party generators register under the `dexbench.generators` entry-point group:

    [project.entry-points."dexbench.generators"]
    my_gen = "my_package.module:MyGenerator"
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, Protocol

import numpy as np


class AttemptPolicy(Protocol):
    """Drives the env through one generation attempt (the rollout loop calls reset(seed) after
    the env's reset, then act(obs) every step)."""

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...


@dataclasses.dataclass
class AttemptInfo:
    """What a generator tells the dataset about one attempt, after it ran.

    - `source_demos`: per arm, the source demo index used for each of its subtasks (JSON-able).
    - `subtask_index`: per arm, (T,) int array: the subtask the arm was executing at each step
      (-1 before the first, len(subtasks) after the last).
    - `failure_subtask`: for a failed attempt, "<arm>:<subtask>" that was running when it ended
      (the runner's failure histogram), else None.
    """

    source_demos: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    subtask_index: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    failure_subtask: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Prepared:
    """What `Generator.prepare` made, for the attempts and the report."""

    sources: str  # the dataset the attempts draw their sources from instead of the given one
    env_kwargs: dict[str, Any]  # set over that dataset's own for the attempts
    cpu_s: float  # CPU seconds the preparation cost, all processes, reused stages included


class Generator(abc.ABC):
    """A data generator. Subclasses set `name` and `Config` and implement `policy`."""

    name: ClassVar[str]
    # One sentence on what it does: a generator submission's description (`dexbench leaderboard
    # submit-generators`); empty: the name stands in.
    description: ClassVar[str] = ""
    Config: ClassVar[type]  # a dataclass; every field has a default and a comment
    needs_sources: ClassVar[bool] = True  # False: runs without a source dataset (scripted)

    def __init__(self, env_id: str, sources, config=None) -> None:
        """`sources`: a `dexbench.datasets.DatasetReader` of the source demos (None for a
        generator that needs none)."""
        self.env_id = env_id
        self.sources = sources
        self.config = config if config is not None else self.Config()

    def check(self, env) -> None:  # noqa: B027 - an optional hook: by default every env is served
        """Refuse early, with a message saying why, when this generator cannot serve `env`."""

    def prepare(
        self, workdir, seed: int, workers: int, progress: bool, overwrite: bool, backend=None
    ) -> Prepared | None:
        """Work done once per run, in the main process, before any attempt: a generator that learns
        (the flywheel trains its policies here) writes its stages into `workdir` (the run's
        `<out stem>.stages/`), reusing those a previous run finished with the same settings.
        `backend`: the run's `dexbench.backends.Backend`, where its own worker fan-outs run.
        Returns None (the default: nothing to prepare) or what it made (`Prepared`)."""
        return None

    @abc.abstractmethod
    def policy(self, env, rng: np.random.Generator) -> AttemptPolicy:
        """A fresh policy for one attempt in `env` (already built; the runner resets it)."""

    @classmethod
    def parse_config(cls, overrides: dict[str, str]):
        """Build the Config from `KEY=VALUE` strings (CLI `--config`), with clear errors."""
        fields = {f.name: f for f in dataclasses.fields(cls.Config)}
        values: dict[str, Any] = {}
        for key, raw in overrides.items():
            if key not in fields:
                raise ValueError(f"{cls.name} has no config key {key!r}; keys: {sorted(fields)}")
            default = getattr(cls.Config(), key)
            values[key] = _parse_value(raw, default, key)
        return cls.Config(**values)


def _parse_value(raw: str, default: Any, key: str) -> Any:
    import json

    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"config {key} expects true/false, got {raw!r}")
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, (tuple, list)):
            return type(default)(json.loads(raw))
    except (ValueError, json.JSONDecodeError) as err:
        raise ValueError(f"config {key} expects a {type(default).__name__} like {default!r}, got {raw!r}") from err
    return raw
