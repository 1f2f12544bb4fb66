"""The scripted oracle: the task's scripted demonstrator as an evaluation policy (the upper
bound).

A demonstrator already is a policy (`reset(seed)`, `act(obs)`); this factory only gives it the
policy loader's signature. It is privileged: it plans from the simulator's object poses, not
from the observation, so `load_policy` hands it the env. Its random timing and approach offsets
are drawn from the episode seed, so an evaluation is reproducible whatever the worker split.
"""

from __future__ import annotations


def ScriptedPolicy(observation_space, action_space, env):  # named like the classes beside it
    """The scripted demonstrator of `env`'s task (raises KeyError naming the tasks that have one)."""
    from dexbench.generators.scripted import make_demonstrator

    return make_demonstrator(env)
