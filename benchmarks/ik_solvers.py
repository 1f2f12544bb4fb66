"""GR1 whole-body IK: DexBench's damped least squares against mink (QP-based), same targets.

The targets are the EEF targets of recorded scripted GR1 demos (both tasks), i.e. exactly what
the IK sees in use: each control step starts from the previous solution and must reach the new
targets. For each solver: time per control step, and the pose error of its solution (forward
kinematics) against the targets. mink is optional (`pip install mink`): without it only our
solver is measured.

    python benchmarks/ik_solvers.py [--episodes 2]
"""

from __future__ import annotations

import argparse
import time

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.envs.embodiments.base import ARMS
from dexbench.envs.registry import make_env
from dexbench.generators.scripted import make_demonstrator
from dexbench.rollout import rollout

MINK_ITERATIONS = 4  # QP solves per control step (ours runs DifferentialIKController.iterations)


def pose_errors(model, data, site_ids, targets) -> tuple[float, float]:
    pos, rot = [], []
    for sid, target in zip(site_ids, targets):
        pos.append(np.linalg.norm(data.site_xpos[sid] - target[:3, 3]))
        rot.append(Rotation.from_matrix(data.site_xmat[sid].reshape(3, 3) @ target[:3, :3].T).magnitude())
    return max(pos), max(rot)


def recorded_targets(task: str, seed: int):
    env = make_env(task, "GR1")
    ep = rollout(env, make_demonstrator(env), seed)
    targets = [[ep.datagen_info["target_pose"][arm][t] for arm in ARMS] for t in range(len(ep.actions))]
    return env, ep.states[0], targets


def run_ours(env, state, targets):
    env.reset_to(state)
    ik, m = env.controller, env.model
    check = mujoco.MjData(m)
    q = ik.q_target.copy()
    times, errors = [], []
    for step_targets in targets:
        ik.target_pos[:] = [t[:3, 3] for t in step_targets]
        ik.target_rot[:] = [t[:3, :3] for t in step_targets]
        t0 = time.perf_counter()
        q = ik.solve(q)
        times.append(time.perf_counter() - t0)
        check.qpos[:] = env.data.qpos
        check.qpos[ik.qpos_adr] = q
        mujoco.mj_kinematics(m, check)
        errors.append(pose_errors(m, check, ik.site_ids, step_targets))
    return np.array(times), np.array(errors)


def run_mink(env, state, targets):
    import mink

    env.reset_to(state)
    m, ik = env.model, env.controller
    config = mink.Configuration(m)
    config.update(env.data.qpos.copy())
    frames = [
        mink.FrameTask(env.embodiment.eef_site(arm), "site", position_cost=1.0, orientation_cost=1.0, lm_damping=1.0)
        for arm in ARMS
    ]
    posture = mink.PostureTask(m, cost=1e-2)
    posture.set_target(env.data.qpos.copy())
    # Freeze everything the GR1 controller does not move (hands, head, objects).
    moving = set(int(a) for a in ik.dof_adr)
    frozen = [i for i in range(m.nv) if i not in moving]
    limits = [mink.ConfigurationLimit(m)]
    freeze = mink.DofFreezingTask(m, dof_indices=frozen)
    times, errors = [], []
    for step_targets in targets:
        for task, target in zip(frames, step_targets):
            task.set_target(mink.SE3.from_matrix(target))
        t0 = time.perf_counter()
        for _ in range(MINK_ITERATIONS):
            vel = mink.solve_ik(
                config, [*frames, posture], 1.0, "daqp", damping=1e-3, limits=limits, constraints=[freeze]
            )
            config.integrate_inplace(vel, 1.0)
        times.append(time.perf_counter() - t0)
        errors.append(pose_errors(m, config.data, ik.site_ids, step_targets))
    return np.array(times), np.array(errors)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1, help="scripted episodes per task")
    args = parser.parse_args(argv)
    solvers = {"dexbench bounded DLS": run_ours}
    try:
        import mink  # noqa: F401

        solvers["mink (daqp)"] = run_mink
    except ImportError:
        print("mink not installed: measuring DexBench's solver only")
    rows = {name: ([], []) for name in solvers}
    for task in ("TrayLift", "Pouring"):
        for seed in range(args.episodes):
            env, state, targets = recorded_targets(task, seed)
            for name, run in solvers.items():
                t, e = run(env, state, targets)
                rows[name][0].append(t)
                rows[name][1].append(e)
    print(
        f"{'solver':<22} {'steps':>6} {'ms/step (median)':>17} {'ms/step (p95)':>14} "
        f"{'pos err mm (median/p95)':>24} {'rot err deg (median/p95)':>25}"
    )
    for name, (times, errors) in rows.items():
        t, e = np.concatenate(times) * 1e3, np.concatenate(errors)
        print(
            f"{name:<22} {len(t):>6} {np.median(t):>17.3f} {np.percentile(t, 95):>14.3f} "
            f"{np.median(e[:, 0]) * 1e3:>11.2f} / {np.percentile(e[:, 0], 95) * 1e3:<10.2f} "
            f"{np.degrees(np.median(e[:, 1])):>11.2f} / {np.degrees(np.percentile(e[:, 1], 95)):<10.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
