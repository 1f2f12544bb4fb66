"""The policy interface every evaluated controller implements, and its loader.

A policy is any object with

    reset(seed: int | None = None) -> None   # called after each env reset (seed: the episode's)
    act(obs: dict[str, np.ndarray]) -> np.ndarray   # one action of the env's action space

(`reset()` without a `seed` parameter is accepted too.) Policies are named `module:attribute`,
where the attribute is a class or factory called as `factory(observation_space, action_space,
**kwargs)`. A *privileged* policy that reads the simulator (the scripted oracle) also declares
an `env` keyword and receives the unwrapped `DexEnv`; ordinary policies never see it.

A policy that needs observations the registered env does not give (camera images) says so: its
factory has an `observation_kwargs(**kwargs) -> dict` attribute, called with the policy's
kwargs, returning env kwargs among `OBSERVATION_KWARGS` (what the env observes, never the task
itself). Evaluation builds the env with them (`evaluation/sandbox.py`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...


class PolicyLoadError(ValueError):
    """A policy spec that cannot be imported or built (message names the problem and the fix)."""


def resolve_policy(spec: str) -> Callable[..., Any]:
    """The class or factory that `spec` ("package.module:Attribute") names."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PolicyLoadError(f"policy {spec!r} is not MODULE:ATTRIBUTE; e.g. dexbench.policies:ScriptedPolicy")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        local = (
            ""
            if not Path(f"{module_name.split('.')[0]}.py").is_file()
            else (
                f" ({module_name.split('.')[0]}.py is in the current folder: run with PYTHONPATH=. so the evaluation "
                "workers can import it)"
            )
        )
        raise PolicyLoadError(
            f"cannot import module {module_name!r} of policy {spec!r}: {err}{local}. "
            "Install the package that provides it or fix the name."
        ) from err
    factory = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            public = getattr(module, "__all__", None) or sorted(n for n in dir(module) if not n.startswith("_"))
            raise PolicyLoadError(f"module {module_name!r} has no attribute {attr!r}; it has: {', '.join(public)}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise PolicyLoadError(f"{spec!r} is a {type(factory).__name__}, not a class or factory")
    return factory


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


# The command-line flag that passes a policy argument (the rest go through --policy-arg).
POLICY_ARGUMENT_FLAGS = {"checkpoint": "--checkpoint DIR"}


def check_policy_arguments(spec: str, kwargs: dict[str, Any]) -> None:
    """PolicyLoadError naming the flag for each required argument of the policy `spec`'s factory
    that `kwargs` lacks (`env` and the two spaces are supplied by `load_policy`). Run before any
    work, so a forgotten --checkpoint fails at once, not in the workers. A spec that does not
    import here is left to the workers (they say what is wrong)."""
    try:
        factory = resolve_policy(spec)
        params = list(inspect.signature(factory).parameters.values())
    except (PolicyLoadError, TypeError, ValueError):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    spaces = {p.name for p in positional[:2]}  # observation_space, action_space
    missing = [
        p.name
        for p in params
        if p.default is p.empty
        and p.name not in spaces
        and p.name != "env"
        and p.name not in kwargs
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if missing:
        flags = [POLICY_ARGUMENT_FLAGS.get(name, f"--policy-arg {name}=VALUE") for name in missing]
        raise PolicyLoadError(f"policy {spec!r} needs {', '.join(missing)}: pass {' and '.join(flags)}")


def load_policy(spec: str, env, **kwargs: Any) -> Policy:
    """Build the policy `spec` for `env` (a DexEnv or a wrapper of one) with `kwargs`."""
    factory = resolve_policy(spec)
    if accepts_keyword(factory, "env") and "env" not in kwargs:
        kwargs["env"] = getattr(env, "unwrapped", env)
    try:
        policy = factory(env.observation_space, env.action_space, **kwargs)
    except TypeError as err:
        raise PolicyLoadError(f"cannot build policy {spec!r} with arguments {sorted(kwargs)}: {err}") from err
    missing = [m for m in ("reset", "act") if not callable(getattr(policy, m, None))]
    if missing:
        raise PolicyLoadError(
            f"{spec!r} built a {type(policy).__name__} without {' and '.join(missing)}(); "
            "a policy needs reset(seed=None) and act(obs) -> action"
        )
    return policy


# Env kwargs that change only what is observed: rendering reads the simulation and never changes it,
# so an env made with them runs the same task, step for step (docs/rendering.md).
OBSERVATION_KWARGS = ("obs_mode", "camera_names", "image_size", "render_preset")


def observation_kwargs(spec: str, kwargs: dict[str, Any], env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The env kwargs the policy `spec`, built with `kwargs`, asks for (its factory's
    `observation_kwargs`; {} when it has none). PolicyLoadError when it asks for anything but
    observations, or for other values than `env_kwargs` already set."""
    factory = resolve_policy(spec)
    ask = getattr(factory, "observation_kwargs", None)
    if not callable(ask):
        return {}
    wanted = ask(**{k: v for k, v in kwargs.items() if k != "env"})
    if not isinstance(wanted, dict) or any(k not in OBSERVATION_KWARGS for k in wanted):
        raise PolicyLoadError(
            f"policy {spec!r} asks for env kwargs {wanted!r}; a policy may ask only for {', '.join(OBSERVATION_KWARGS)}"
        )
    clash = {k: (env_kwargs[k], v) for k, v in wanted.items() if k in (env_kwargs or {}) and env_kwargs[k] != v}
    if clash:
        raise PolicyLoadError(
            "the env kwargs given contradict what policy "
            + repr(spec)
            + " observes: "
            + "; ".join(f"{k}={given!r}, the policy needs {need!r}" for k, (given, need) in clash.items())
            + ". Leave them out: the policy sets them itself"
        )
    return wanted


def reset_policy(policy: Policy, seed: int | None) -> None:
    """`policy.reset(seed=seed)`, or `policy.reset()` for policies that take no seed."""
    if accepts_keyword(policy.reset, "seed"):
        policy.reset(seed=seed)
    else:
        policy.reset()


def policy_name(policy: Policy, spec: str) -> str:
    """A policy's display name: its `name` attribute, else the spec."""
    return str(getattr(policy, "name", None) or spec)
