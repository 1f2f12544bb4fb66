"""The flywheel's iterations before its final attempts, as resumable stages in one folder.

    <workdir>/settings.json       what the stages are made from (seed demos' sha256, env, seed,
                                  workers, config); another run with other settings is refused
                                  (or, with overwrite, starts over)
    iter1/data.hdf5               warm-up: mimicgen from the seed demos, reference objects
    iter<i>/bc/                   BC base trained on the data of iterations 1 .. i-1
    iter<i>/residual/             residual RL on the frozen base (residual.zip, residual.json)
    iter<i>/base_rollouts.hdf5    the base alone, `rollouts` attempts on new objects and placements
    iter<i>/rollouts.hdf5         base + residual on the same seeds
    iter<i>/kept.hdf5             the successes of both (the base's are as good a source as any:
                                  a residual that does not help yet must not starve the loop)
    iter<i>/data.hdf5             mimicgen from the kept rollouts (not in the last iteration,
                                  whose kept rollouts are the sources of the run's own attempts)
    flywheel.json                 per iteration: each stage's output, success and CPU time

Each stage's output is written atomically (or resumably, for the generation stages), so a kill
loses at most the stage in flight; the next run skips every finished stage, up to the first
that has to run: every stage after it runs again (its inputs are new). Every stage draws
its seeds from (seed, iteration, stage), so the same settings give the same files.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from dexbench.generators.base import Prepared
from dexbench.jsonio import file_sha256, write_json_atomic

STAGES_FORMAT = "dexbench-flywheel"
_STAGE_TAGS = {"warmup": 1, "rollouts": 2, "augment": 3, "residual": 4, "bc": 5}


def stage_seed(seed: int, iteration: int, stage: str) -> int:
    return int(np.random.SeedSequence([int(seed), int(iteration), _STAGE_TAGS[stage]]).generate_state(1)[0] >> 1)


def _claim(workdir: Path, settings: dict[str, Any], overwrite: bool) -> None:
    path = workdir / "settings.json"
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded == settings:
            return
        if not overwrite:
            changed = sorted(k for k in settings if recorded.get(k) != settings[k])
            raise ValueError(f"{workdir} holds flywheel stages made with other settings ({', '.join(changed)}): pass "
                             "overwrite (CLI: --overwrite) to start over, or give another output path")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, settings)


def _generate(label: str, generator, env_id: str, source, n: int, out: Path, seed: int, workers: int,
              progress: bool, force: bool, config=None, env_kwargs=None, max_attempts=None) -> tuple[dict, bool]:
    """A generation stage: reused when finished (unless `force`), resumed when interrupted.
    Returns (its report, whether it ran)."""
    from dexbench.generators.runner import run_generation
    from dexbench.generators.shards import OutputPaths

    report_path = OutputPaths(out).report
    if out.is_file() and report_path.is_file() and not force:
        report = json.loads(report_path.read_text())
        if report["seed"] == seed and report["requested"] == n:
            return report, False
    if progress:
        print(f"flywheel: {label}")
    return run_generation(generator, env_id, source, n, out, seed=seed, workers=workers, config=config,
                          env_kwargs=env_kwargs, max_attempts=max_attempts, progress=progress, resume=not force,
                          overwrite=force).to_dict(), True


def train_base(data_paths: list[Path], out: Path, steps: int, seed: int, progress: bool,
               force: bool = False) -> tuple[dict[str, Any], bool]:
    """The BC base on all of `data_paths` (reused when finished, unless `force`); returns its
    record (demos, samples, CPU time) and whether it trained."""
    from dexbench.policies.bc.data import DemoArrays, load_demo_arrays
    from dexbench.policies.bc.train import BCConfig, finished_training, train_bc

    # One thread: the flywheel's budget is CPU time, and a second thread on two cores buys little
    # wall time for its cost (more when other jobs share the CPU and torch's threads spin).
    config = BCConfig(steps=steps, seed=seed, threads=1)
    config.model = config.model_kwargs()
    record_path = out / "stage.json"
    if finished_training(out, config) and record_path.is_file() and not force:
        return json.loads(record_path.read_text()), False
    parts = [load_demo_arrays(p) for p in data_paths]
    data = DemoArrays(obs=[o for p in parts for o in p.obs], actions=[a for p in parts for a in p.actions],
                      obs_keys=parts[-1].obs_keys, env_id=parts[-1].env_id, env_kwargs=parts[-1].env_kwargs,
                      demo_keys=[f"{path.parent.name}/{k}" for path, p in zip(data_paths, parts) for k in p.demo_keys])
    if any(p.obs_keys != data.obs_keys for p in parts):
        raise ValueError(f"the flywheel's datasets {[str(p) for p in data_paths]} observe different keys; "
                         "delete the stages folder and run again")
    cpu0 = time.process_time()
    train_bc(data, out, config, progress=progress)
    record = {"demos": len(data.actions), "samples": data.num_samples, "cpu_s": time.process_time() - cpu0}
    write_json_atomic(record_path, record)
    return record, True


def _train_residual(generator, env_id: str, checkpoint: Path, out: Path, seed: int, progress: bool,
                    force: bool) -> tuple[dict[str, Any], bool]:
    import gymnasium as gym

    from dexbench.generators.flywheel.residual import BaseFactory, train_residual
    from dexbench.policies.bc.policy import BCPolicy

    cfg = generator.config
    record_path = out / "residual.json"
    if record_path.is_file() and not force:
        record = json.loads(record_path.read_text())
        wanted = {"learner": cfg.learner, "steps": cfg.residual_steps, "alpha": cfg.alpha,
                  "epsilon_steps": cfg.epsilon_steps, "success_bonus": cfg.success_bonus,
                  "penalty": cfg.residual_penalty, "hold": cfg.residual_hold, "reward": cfg.residual_reward,
                  "seed": seed}
        recorded = {"hold": 1, "reward": "dense", **record}  # residuals from before these settings existed
        weights = out / ("residual.pt" if cfg.learner == "td3" else "residual.zip")
        if all(recorded.get(k) == v for k, v in wanted.items()) and weights.is_file():
            return record, False
    # A training of another base or other settings is not ours to resume; only a killed one is.
    if (force or record_path.is_file()) and (out / "train_state").is_dir():
        shutil.rmtree(out / "train_state")
    if progress:
        print(f"flywheel: residual RL ({cfg.learner}, {cfg.residual_steps} steps) on {checkpoint}")
    env_kwargs = {**generator.sources.env_kwargs, "object_variants": "random", "reward_type": "dense",
                  "terminate_on_success": True}
    env = gym.make(env_id, **env_kwargs).unwrapped
    try:
        base = BCPolicy(env.observation_space, env.action_space, checkpoint)
        return train_residual(env, base, out, cfg.residual_steps, alpha=cfg.alpha, epsilon_steps=cfg.epsilon_steps,
                              success_bonus=cfg.success_bonus, penalty=cfg.residual_penalty, learner=cfg.learner, seed=seed,
                              base_checkpoint=str(checkpoint), hold=cfg.residual_hold, reward=cfg.residual_reward,
                              resume=cfg.learner == "td3", progress=progress,
                              **({"workers": cfg.residual_workers, "device": cfg.residual_device,
                                  "factory": BaseFactory(env_id, env_kwargs, str(checkpoint))}
                                 if cfg.learner == "td3" else {})), True
    finally:
        env.close()


def _keep(rollouts: list[Path], out: Path, env_id: str, env_kwargs: dict[str, Any], attempts: int) -> None:
    """The successful rollouts of `rollouts` in one dataset (atomically), in attempt order."""
    from dexbench.envs.registry import build_env
    from dexbench.generators.flywheel.rollouts import RolloutGenerator
    from dexbench.generators.shards import merge_shards

    env = build_env(env_id, **env_kwargs)
    try:
        merge_shards(rollouts, out, env, env_kwargs, RolloutGenerator.name, attempts, None)
    finally:
        env.close()


def _generation_record(report: dict[str, Any]) -> dict[str, Any]:
    return {"out": report["out"], "demos": report["successes"], "attempts": report["attempts"],
            "success_rate": report["success_rate"], "cpu_s": report["cpu_s"]}


def run_stages(generator, workdir, seed: int, workers: int, progress: bool, overwrite: bool) -> Prepared:
    """Run (or reuse) the stages; returns the dataset the run's own attempts draw from (the last
    iteration's kept rollouts, or the previous iteration's sources when none of them succeeded),
    the env kwargs of those attempts (new objects and placements) and the stages' CPU time."""
    from dexbench.envs.registry import build_env
    from dexbench.generators.flywheel.rollouts import RolloutGenerator

    cfg, env_id, workdir = generator.config, generator.env_id, Path(workdir)
    seed_source = generator.sources.path
    # Every stage's env is the seed demos' (observations, horizon, ...) with the object axis on.
    random_objects = {**generator.sources.env_kwargs, "object_variants": "random"}
    env = build_env(env_id, **random_objects)
    try:
        generator.check(env)
        reference = {name: variants[0].name for name, variants in env.task.object_variants.items()}
    finally:
        env.close()
    settings = {"format": STAGES_FORMAT, "env_id": env_id, "seed_demos": str(seed_source),
                "seed_demos_sha256": file_sha256(seed_source), "seed": int(seed), "workers": int(workers),
                "config": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}}
    _claim(workdir, settings, overwrite)
    iterations: list[dict[str, Any]] = []

    def save() -> None:
        write_json_atomic(workdir / "flywheel.json", {**settings, "iterations": iterations})

    warmup, ran = _generate("iteration 1, warm-up: mimicgen from the seed demos (reference objects)", "mimicgen", env_id,
                       seed_source, cfg.budget(1), workdir / "iter1" / "data.hdf5", stage_seed(seed, 1, "warmup"),
                       workers, progress, False, env_kwargs={"object_variants": reference})
    iterations.append({"iteration": 1, "objects": "reference", "data": _generation_record(warmup)})
    save()
    data_paths, pool = [workdir / "iter1" / "data.hdf5"], workdir / "iter1" / "data.hdf5"
    for i in range(2, cfg.iterations + 1):
        it_dir = workdir / f"iter{i}"
        record: dict[str, Any] = {"iteration": i, "objects": "random"}
        if progress:
            print(f"flywheel: iteration {i}: BC base on {len(data_paths)} dataset(s)")
        record["bc"], trained = train_base(data_paths, it_dir / "bc", cfg.bc_steps, stage_seed(seed, i, "bc"), progress,
                                          force=ran)
        ran |= trained
        record["bc"]["out"] = str(it_dir / "bc")
        residual, trained = _train_residual(generator, env_id, it_dir / "bc", it_dir / "residual",
                                            stage_seed(seed, i, "residual"), progress, force=ran)
        ran |= trained
        record["residual"] = {k: residual[k] for k in ("learner", "steps", "alpha", "cpu_s")}
        record["residual"]["out"] = str(it_dir / "residual")
        record["residual"]["train_episodes"] = len(residual["episodes"])
        record["residual"]["train_successes"] = sum(s for _, s in residual["episodes"])
        rollout_seed = stage_seed(seed, i, "rollouts")  # the same seeds for both: a paired comparison
        for key, residual_dir in (("base_rollouts", ""), ("rollouts", str(it_dir / "residual"))):
            report, generated = _generate(f"iteration {i}: {key.replace('_', ' ')} on new objects and placements",
                                          RolloutGenerator, env_id, None, cfg.rollouts, it_dir / f"{key}.hdf5",
                                          rollout_seed, workers, progress, ran,
                                          config={"checkpoint": str(it_dir / "bc"), "residual": residual_dir},
                                          env_kwargs=random_objects, max_attempts=cfg.rollouts)
            record[key] = _generation_record(report)
            ran |= generated
        kept = it_dir / "kept.hdf5"
        if record["base_rollouts"]["demos"] + record["rollouts"]["demos"] > 0:
            if ran or not kept.is_file():
                _keep([it_dir / "base_rollouts.hdf5", it_dir / "rollouts.hdf5"], kept, env_id, random_objects,
                      2 * cfg.rollouts)
            pool = kept
        record["kept"] = record["base_rollouts"]["demos"] + record["rollouts"]["demos"]
        record["pool"] = str(pool)
        if i < cfg.iterations:
            augmented, generated = _generate(f"iteration {i}: mimicgen from {pool.name} to new objects and placements",
                                  "mimicgen", env_id, pool, cfg.budget(i), it_dir / "data.hdf5",
                                  stage_seed(seed, i, "augment"), workers, progress, ran,
                                  env_kwargs={"object_variants": "random"})
            ran |= generated
            record["data"] = _generation_record(augmented)
            data_paths.append(it_dir / "data.hdf5")
        iterations.append(record)
        save()
    cpu_s = sum(rec["cpu_s"] for it in iterations for key, rec in it.items()
                if key in ("data", "bc", "residual", "base_rollouts", "rollouts"))
    return Prepared(str(pool), {"object_variants": "random"}, cpu_s)
