"""Policies: the interface (`base`), the scripted oracle, random actions and the BC baseline.

`BCPolicy` and `DiffusionPolicy` need torch and are imported on first use, so the rest works without it.
"""

from __future__ import annotations

from typing import Any

from dexbench.policies.base import (
    Policy,
    PolicyLoadError,
    load_policy,
    policy_name,
    reset_policy,
    resolve_policy,
)
from dexbench.policies.random_actions import RandomPolicy
from dexbench.policies.scripted import ScriptedPolicy

__all__ = [
    "BCPolicy",
    "DiffusionPolicy",
    "Policy",
    "PolicyLoadError",
    "RandomPolicy",
    "ScriptedPolicy",
    "load_policy",
    "policy_name",
    "reset_policy",
    "resolve_policy",
]


def __getattr__(name: str) -> Any:
    if name == "BCPolicy":
        from dexbench.policies.bc.policy import BCPolicy

        return BCPolicy
    if name == "DiffusionPolicy":
        from dexbench.policies.diffusion.policy import DiffusionPolicy

        return DiffusionPolicy
    raise AttributeError(f"module 'dexbench.policies' has no attribute {name!r}")
