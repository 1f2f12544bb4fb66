"""The rollout loop: any policy in any DexEnv, one episode, recorded as an `Episode`.

Demo recording, generation, evaluation and replay all run episodes through `rollout`. A policy
is anything with `reset(seed)` and `act(obs) -> action` (`dexbench.policies.base`); a policy
may also say it is `done` (a scripted demonstrator at the end of its script).

The order of one episode: `env.reset(seed)`, `policy.reset(seed)` (which may restore another
state with `env.reset_to`, as replay-based generators do: the episode starts from whatever state
the env is in afterwards), then per step `policy.act(obs)` and `env.step`. With `record`, every
step keeps what datasets and generators need (the layout of docs/design.md): the physics state
and observation *before* the action, the action, the datagen info (EEF poses, the target poses
and hand commands the action asks for, object poses), and after the step the reward, done flag
and subtask signals (so `subtask_signals[name][t]` says whether the subtask had ended once
action t was applied).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dexbench.episode import Episode
from dexbench.policies.base import reset_policy

DONE_EXTRA_STEPS = 20  # steps recorded after the policy says it is done
DEFAULT_SUCCESS_HOLD_STEPS = 10  # recording: success must hold this long (the scene has settled)


class PolicyActionError(RuntimeError):
    """The policy returned an action the env refuses (wrong shape, NaN, ...)."""


def _as_action(raw, seed: int | None, step: int) -> np.ndarray:
    """A policy's action as float64, or PolicyActionError saying what came back instead."""
    try:
        if np.iscomplexobj(raw):
            raise TypeError("complex numbers")
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise PolicyActionError(
            f"seed {seed}, step {step}: act() returned a {type(raw).__name__}, not an array of numbers ({err})"
        ) from None


def _stack(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not rows:
        return {}
    return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}


def rollout(
    env,
    policy,
    seed: int | None,
    *,
    max_steps: int | None = None,
    success_hold_steps: int = DEFAULT_SUCCESS_HOLD_STEPS,
    record: bool = True,
    stop_when_done: bool = True,
    on_step: Callable[[Any], None] | None = None,
) -> Episode:
    """Run `policy` in `env` for one episode from reset `seed`.

    Ends when `info["is_success"]` has held for `success_hold_steps` consecutive steps (1: at
    the first success, as evaluation does), when the policy is `done` and 20 more steps have
    passed, at `max_steps` (default: the env's horizon), or when the env terminates or
    truncates (horizon, physics error; a physics error is never a success).
    `record=False` keeps only rewards and the outcome (evaluation: cheaper);
    `stop_when_done=False` runs a done policy on (evaluation: only success or the horizon end it).
    `on_step(env)` is called after the reset and after every step (e.g. to grab video frames).
    `env` may be a wrapper; its `unwrapped` DexEnv is used. An action the env refuses raises
    `PolicyActionError` naming the seed and step.
    """
    env = getattr(env, "unwrapped", env)
    max_steps = env.horizon if max_steps is None else int(max_steps)
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if success_hold_steps < 1:
        raise ValueError(f"success_hold_steps must be >= 1, got {success_hold_steps}")

    env.reset(seed=seed)
    reset_policy(policy, seed)
    obs = env.observation()  # after the policy's reset: it may have restored a state of its own
    initial_state = env.get_state()
    if on_step is not None:
        on_step(env)

    actions, states, rewards, dones, obs_rows = [], [], [], [], []
    eef_rows, target_rows, hand_rows, object_rows, signal_rows = [], [], [], [], []
    success_run = steps_since_done = 0
    success = False
    end_reason = "max_steps"
    info: dict[str, Any] = {}
    for t in range(max_steps):
        action = _as_action(policy.act(obs), seed, t)
        if record:
            states.append(env.get_state())
            obs_rows.append(obs)
            eef_rows.append(env.eef_poses())
            targets, hand = env.action_to_target_pose(action) if action.shape == env.action_space.shape else ({}, {})
            target_rows.append(targets)
            hand_rows.append(hand)
            object_rows.append(env.object_poses())
            actions.append(action)
        try:
            obs, reward, terminated, truncated, info = env.step(action)
        except ValueError as err:
            raise PolicyActionError(f"seed {seed}, step {t}: {err}") from err
        if on_step is not None:
            on_step(env)
        rewards.append(float(reward))
        dones.append(bool(terminated or truncated))
        if record:
            signal_rows.append({k: bool(v) for k, v in info["subtask_signals"].items()})
        success = bool(info["is_success"])
        success_run = success_run + 1 if success else 0

        if "physics_error" in info:
            end_reason, success = "physics_error", False
            break
        if success_run >= success_hold_steps:
            end_reason = "success"
            break
        if terminated:
            end_reason = "terminated"
            break
        if truncated:
            end_reason = "truncated"
            break
        if stop_when_done and getattr(policy, "done", False):
            steps_since_done += 1
            if steps_since_done > DONE_EXTRA_STEPS:
                end_reason = "policy_done"
                break

    dones_arr = np.asarray(dones, dtype=np.uint8)
    dones_arr[-1] = 1
    return Episode(
        env_id=env.env_id,
        layout=env.layout,
        seed=seed,
        actions=np.stack(actions) if record else np.empty((0, *env.action_space.shape)),
        states=np.stack(states) if record else np.empty((0, initial_state.size)),
        rewards=np.asarray(rewards, dtype=np.float64),
        dones=dones_arr,
        obs=_stack(obs_rows),
        final_obs={k: np.asarray(v).copy() for k, v in obs.items()} if record else None,
        datagen_info={
            "eef_pose": _stack(eef_rows),
            "target_pose": _stack(target_rows),
            "hand_action": _stack(hand_rows),
            "object_pose": _stack(object_rows),
            "subtask_signals": {k: v.astype(bool) for k, v in _stack(signal_rows).items()},
        }
        if record
        else {},
        success=success,
        initial_state=initial_state,
        end_reason=end_reason,
        info={k: v for k, v in info.items() if k != "subtask_signals"},
    )
