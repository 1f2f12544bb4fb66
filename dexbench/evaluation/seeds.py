"""The published evaluation reset seeds: every submission is scored on the same initial states.

Episode i of an evaluation of an env id resets with seed i of that id's list (200 per id), all
in [1e6, 2e6): away from the small seeds scripted demos start from, and generation's hashed
32-bit attempt seeds hit one with odds of about 1 in 10^7, so policies are not evaluated on
their training resets.

- The first 18 ids (TrayLift and Pouring) were drawn once and are stored in `eval_seeds.json`;
  those values never change.
- Every other id's seeds are a function of the id alone (`derived_seeds`), so a new task's ids
  have published seeds the moment its file exists, with nothing to edit by hand.
"""

from __future__ import annotations

import json
import zlib
from functools import cache
from importlib import resources

import numpy as np

from dexbench.envs.registry import lookup

MAX_EPISODES = 200
SEED_LOW, SEED_HIGH = 1_000_000, 2_000_000
DERIVED_SEED_TAG = 0xE5A1  # keeps this stream apart from any other use of the id's hash


@cache
def _stored() -> dict[str, list[int]]:
    return json.loads(resources.files("dexbench.evaluation").joinpath("eval_seeds.json").read_text())["values"]


def derived_seeds(env_id: str) -> list[int]:
    """The published seeds of an id not stored in `eval_seeds.json`: 200 distinct values in
    [1e6, 2e6) from a generator seeded by the id's CRC-32."""
    rng = np.random.default_rng([zlib.crc32(env_id.encode()), DERIVED_SEED_TAG])
    return [int(s) for s in SEED_LOW + rng.choice(SEED_HIGH - SEED_LOW, size=MAX_EPISODES, replace=False)]


@cache
def published_seeds(env_id: str) -> tuple[int, ...]:
    """All published evaluation seeds of an id, in episode order."""
    entry = lookup(env_id)
    stored = _stored().get(entry.env_id)
    return tuple(int(s) for s in stored) if stored is not None else tuple(derived_seeds(entry.env_id))


def eval_seeds(env_id: str, n: int) -> list[int]:
    """The first `n` published evaluation seeds of `env_id`."""
    values = published_seeds(env_id)
    if not 1 <= n <= len(values):
        raise ValueError(
            f"episodes must be in 1..{len(values)} for the published seeds of {lookup(env_id).env_id}, "
            f"got {n}; pass --seeds for a custom list"
        )
    return list(values[:n])
