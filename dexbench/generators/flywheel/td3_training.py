"""td3's training loop: W envs (gymnasium's vector envs), the learner, checkpoints and resume.

`train_residual(learner="td3")` calls `learn_td3`; the learner itself is `td3.py`."""

from __future__ import annotations

import numpy as np


def learn_td3(
    env_fns,
    probe,
    config,
    steps: int,
    run: dict,
    state_dir,
    demos: list,
    resume: bool,
    checkpoint_every: int,
    device: str,
    progress: bool,
):
    """TD3's loop over `len(env_fns)` envs: act, store, update, reset what ended, checkpoint.

    Env i's k-th episode has seed `seed * 1_000_003 + i + W k` (W envs): the run is the same for
    the same seed and W. A checkpoint holds the learner and, per env, its episode's seed and the
    corrections made in it so far, which a resumed run replays to bring the env back exactly."""
    from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
    from tqdm import tqdm

    from dexbench.generators.flywheel.td3 import ResidualTD3, checkpoint_folder

    workers, seed = len(env_fns), run["seed"]
    saved = checkpoint_folder(state_dir) if resume else None
    if saved is not None:
        import json

        recorded = json.loads((saved / "state.json").read_text()).get("run", {})
        changed = sorted(k for k in set(run) | set(recorded) if recorded.get(k) != run.get(k))
        if changed:
            raise ValueError(
                f"{state_dir} is a checkpoint of another residual training (it differs in {changed}): "
                "resume with the settings it was made with, or delete that folder to start afresh"
            )
    vector = (SyncVectorEnv if workers == 1 else AsyncVectorEnv)(env_fns, autoreset_mode=AutoresetMode.DISABLED)
    obs_dim, act_dim = probe.observation_space.shape[0], probe.action_space.shape[0]
    model = ResidualTD3(
        obs_dim,
        act_dim,
        config,
        seed,
        envs=workers,
        device=device,
        capacity=min(config.buffer_size, steps + workers * probe.hold),
    )
    first = seed * 1_000_003

    def episode_seed(i: int, k: int) -> int:
        return first + i + workers * k

    try:
        if saved is not None:
            state = model.load(saved)
            done, episodes, counts = int(state["steps"]), [tuple(e) for e in state["episodes"]], state["counts"]
            corrections = [[np.asarray(d, np.float32) for d in c] for c in state["corrections"]]
            obs = np.zeros((workers, obs_dim), np.float32)
            for i in range(workers):
                mask = np.arange(workers) == i
                replay = {"replay": corrections[i], "steps_taken": state["steps_taken"][i]}
                reset_obs, _ = vector.reset(
                    seed=[episode_seed(i, counts[i] - 1)] * workers, options={"reset_mask": mask, **replay}
                )
                obs[i] = reset_obs[i]
        else:
            model.set_demonstrations(demos)
            done, episodes, counts = 0, [], [1] * workers
            corrections = [[] for _ in range(workers)]
            obs, _ = vector.reset(seed=[episode_seed(i, 0) for i in range(workers)])
        bar = tqdm(total=steps, initial=done, disable=not progress, desc="residual td3", unit="step")
        next_save = (done // checkpoint_every + 1) * checkpoint_every
        while done < steps:
            delta = model.act(obs)
            next_obs, reward, terminated, truncated, info = vector.step(delta)
            ended = terminated | truncated
            # The critic learns the action executed: no correction where epsilon left the base alone.
            executed = delta * np.asarray(info["corrected"], np.float32)[:, None]
            for i in range(workers):
                model.observe(i, obs[i], executed[i], reward[i], next_obs[i], bool(terminated[i]), bool(ended[i]))
                corrections[i].append(delta[i])
            done += workers * probe.hold
            bar.update(workers * probe.hold)
            if model.ready():
                for _ in range(config.updates_per_step * workers):
                    stats = model.update()
            if ended.any():
                for i in np.flatnonzero(ended):
                    episodes.append((done, bool(info["is_success"][i])))
                    corrections[i] = []
                if model.ready():  # the learner's state at each episode's end (the training's log)
                    model.log.append({"steps": done, **{k: round(v, 6) for k, v in stats.items()}})
                seeds = [episode_seed(i, counts[i]) for i in range(workers)]
                reset_obs, _ = vector.reset(seed=seeds, options={"reset_mask": ended})
                for i in np.flatnonzero(ended):
                    counts[i] += 1
                    next_obs[i] = reset_obs[i]
                if progress:
                    recent = episodes[-20:]
                    shown = {"success": f"{sum(s for _, s in recent)}/{len(recent)}"}
                    if model.log and "delta" in model.log[-1]:
                        shown["delta"] = f"{model.log[-1]['delta']:.3f}"
                    bar.set_postfix(shown)
            obs = next_obs
            if done >= next_save or done >= steps:  # the last one lets a finished run be continued longer
                at_start = [int(t) - len(c) * probe.hold for t, c in zip(vector.get_attr("steps_taken"), corrections)]
                model.save(
                    state_dir,
                    {
                        "run": run,
                        "steps": done,
                        "episodes": episodes,
                        "counts": counts,
                        "corrections": [[d.tolist() for d in c] for c in corrections],
                        "steps_taken": at_start,
                    },
                )
                next_save += checkpoint_every
        bar.close()
    finally:
        vector.close()
    return episodes, model
