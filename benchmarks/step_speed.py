"""Env step speed against raw MuJoCo physics on the same model, measured in one run.

Workload `scripted` (default): the actions of a recorded scripted demo, replayed from its initial
state, so the timing includes reaching, grasping and contact-rich manipulation. The raw physics
baseline runs `mujoco.mj_step` `env.substeps` times from each recorded state of that same
trajectory (ctrl as stored in the state): the same configurations and contacts, no controller.
Workload `hold`: small random actions around the reset pose, raw physics from the same start.
The ratio is the share of an env step spent in physics: 1.0 would mean the controller,
observation and success check cost nothing (ratios measured in one run, as every benchmark here reports).

    python benchmarks/step_speed.py                       # all 18 ids, scripted workload
    python benchmarks/step_speed.py --ids DexMG/TrayLift-Panda-D0 --workload hold --steps 100
"""

from __future__ import annotations

import argparse
import platform
import time

import mujoco
import numpy as np

import dexbench
from dexbench.envs.registry import ENV_TABLE, build_env

# CPU time of this thread, not wall time: on a shared machine, time spent waiting for a core
# is nobody's step cost (caches and memory bandwidth are still shared: the best of several
# interleaved repeats is what is reported).
CLOCK = time.thread_time
POSE_NOISE = {"delta": 0.1, "absolute": 0.005}  # per-step noise on the pose slots (action units)


def hold_actions(env, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Actions that hold the reset EEF poses plus small noise, hands random: valid in either
    action mode, and computed before timing so only `env.step` is measured."""
    hands = {arm: np.zeros(env.hand_dim) for arm in ("right", "left")}
    base = env.target_pose_to_action(env.eef_poses(), hands).astype(np.float64)
    actions = np.repeat(base[None], steps, axis=0)
    noise = POSE_NOISE[env.action_mode]
    for arm in ("right", "left"):
        pose = env.action_layout[f"{arm}_pose"]
        actions[:, pose] += rng.normal(0.0, noise, size=(steps, pose.stop - pose.start))
        hand = env.action_layout[f"{arm}_hand"]
        actions[:, hand] = rng.uniform(-1.0, 1.0, size=(steps, hand.stop - hand.start))
    return np.clip(actions, env.action_space.low, env.action_space.high)


def measure_scripted(env_id: str, steps: int, seed: int = 0, repeats: int = 5) -> dict:
    """Time env.step on a scripted demo's actions, and raw mj_step along the same states."""
    from dexbench.generators.scripted import make_demonstrator
    from dexbench.rollout import rollout

    env = build_env(env_id)
    ep = rollout(env, make_demonstrator(env), seed)
    actions, states = ep.actions[:steps], ep.states[:steps]
    env_time = raw_time = float("inf")
    for _ in range(repeats):  # interleaved, best of each: other jobs only ever add time
        env.reset_to(states[0])
        t0 = CLOCK()
        for action in actions:
            env.step(action)
        env_time = min(env_time, CLOCK() - t0)

        m, d = env.model, env.data
        raw = 0.0
        for state in states:
            mujoco.mj_setState(m, d, state, mujoco.mjtState.mjSTATE_INTEGRATION)
            mujoco.mj_forward(m, d)
            t0 = CLOCK()
            mujoco.mj_step(m, d, env.substeps)
            raw += CLOCK() - t0
        raw_time = min(raw_time, raw)
    env.close()
    return _row(env.env_id, len(actions), env.substeps, env_time, raw_time, 0)


def _row(env_id: str, steps: int, substeps: int, env_time: float, raw_time: float, errors: int) -> dict:
    env_sps = steps / env_time
    raw_sps = steps * substeps / raw_time
    return {
        "id": env_id,
        "env_sps": env_sps,
        "raw_sps": raw_sps,
        "substeps": substeps,
        "ratio": raw_time / env_time,
        "ms_per_step": 1000.0 / env_sps,
        "physics_errors": errors,
    }


def measure_hold(env_id: str, steps: int, seed: int = 0) -> dict:
    env = build_env(env_id)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    for _ in range(5):  # warm up caches and the controller
        env.step(hold_actions(env, 1, rng)[0])
    env.reset(seed=seed)
    start_state = env.get_state()
    actions = hold_actions(env, steps, rng)

    env_time, errors = 0.0, 0
    for action in actions:
        t0 = CLOCK()
        _, _, terminated, truncated, info = env.step(action)
        env_time += CLOCK() - t0
        errors += "physics_error" in info
        if terminated or truncated:
            env.reset(seed=seed)

    m, d = env.model, env.data
    mujoco.mj_setState(m, d, start_state, mujoco.mjtState.mjSTATE_INTEGRATION)
    mujoco.mj_forward(m, d)
    n_physics = steps * env.substeps
    t0 = CLOCK()
    for _ in range(n_physics):
        mujoco.mj_step(m, d)
    raw_time = CLOCK() - t0
    env.close()
    return _row(env.env_id, steps, env.substeps, env_time, raw_time, errors)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", nargs="+", default=list(ENV_TABLE), help="env ids (default: all)")
    parser.add_argument("--steps", type=int, default=400, help="env steps timed per id (at most)")
    parser.add_argument("--workload", choices=("scripted", "hold"), default="scripted")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="scripted: timed passes, best kept")
    args = parser.parse_args(argv)

    print(
        f"dexbench {dexbench.__version__}, mujoco {mujoco.__version__}, python {platform.python_version()}, "
        f"{platform.machine()}; {args.workload} workload, one thread, thread CPU time"
        + (f", best of {args.repeats}" if args.workload == "scripted" else "")
    )
    header = (
        f"{'id':<30} {'env steps/s':>11} {'raw physics steps/s':>19} {'substeps':>8} {'ratio':>6} {'ms/env step':>11}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for env_id in args.ids:
        r = (
            measure_scripted(env_id, args.steps, args.seed, args.repeats)
            if args.workload == "scripted"
            else measure_hold(env_id, args.steps, args.seed)
        )
        rows.append(r)
        note = f"  ({r['physics_errors']} physics errors)" if r["physics_errors"] else ""
        print(
            f"{r['id']:<30} {r['env_sps']:>11.1f} {r['raw_sps']:>19.0f} {r['substeps']:>8d} "
            f"{r['ratio']:>6.2f} {r['ms_per_step']:>11.2f}{note}",
            flush=True,
        )
    if len(rows) > 1:
        print("-" * len(header))
        print(
            f"{'median':<30} {np.median([r['env_sps'] for r in rows]):>11.1f} "
            f"{np.median([r['raw_sps'] for r in rows]):>19.0f} {'':>8} "
            f"{np.median([r['ratio'] for r in rows]):>6.2f} {np.median([r['ms_per_step'] for r in rows]):>11.2f}"
        )
    print("ratio = raw physics time for `substeps` mj_steps / time of one env step (1.0: no overhead beyond physics)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
