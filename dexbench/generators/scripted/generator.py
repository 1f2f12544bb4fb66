"""The `scripted` generator: the task's scripted demonstrator, run by the generation runner.

It needs no source demos: each attempt resets the env with the attempt's seed and the
demonstrator draws its timing and offsets from that seed. These are the source demos every
other generator starts from (`dexbench demo` is a shorthand for `dexbench generate --generator
scripted`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexbench.generators.base import Generator
from dexbench.generators.scripted.base import ScriptedDemonstrator
from dexbench.generators.scripted.demonstrators import make_demonstrator


@dataclass
class ScriptedConfig:
    """The scripted demonstrators have no settings: their randomness comes from the seed."""


class ScriptedGenerator(Generator):
    name = "scripted"
    Config = ScriptedConfig
    needs_sources = False

    def check(self, env) -> None:
        make_demonstrator(env)  # KeyError naming the tasks that have one

    def policy(self, env, rng: np.random.Generator) -> ScriptedDemonstrator:
        return make_demonstrator(env)
