"""The published evaluation reset seeds: every submission is scored on the same initial states.

`eval_seeds.json` holds 200 seeds per env id, drawn once from [1e6, 2e6): away from the small
seeds scripted demos use (0, 1, ...), and generation's hashed 32-bit attempt seeds hit one with
odds of about 1 in 10^7, so policies are not evaluated on their training resets.
Published values never change; new ids only append.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from dexbench.envs.registry import lookup


@cache
def _table() -> dict:
    return json.loads(resources.files("dexbench.evaluation").joinpath("eval_seeds.json").read_text())


def max_eval_episodes() -> int:
    return int(_table()["max_episodes"])


def eval_seeds(env_id: str, n: int) -> list[int]:
    """The first `n` published evaluation seeds of `env_id`."""
    entry = lookup(env_id)
    values = _table()["values"].get(entry.env_id)
    if values is None:
        raise KeyError(f"no published evaluation seeds for {entry.env_id}; add them to eval_seeds.json")
    if not 1 <= n <= len(values):
        raise ValueError(f"episodes must be in 1..{len(values)} for the published seeds of {entry.env_id}, got {n}; "
                         "pass --seeds for a custom list")
    return [int(s) for s in values[:n]]
