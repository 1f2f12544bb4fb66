"""The flywheel's iterations before its final attempts, as resumable stages in one folder.

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
loses at most the stage in flight. Beside each output, `<output>.stage.json` records the
settings that made it (`dexbench.stages`): the content hashes of its inputs (the seed demos,
the datasets a base trains on, the base a residual corrects, ...), the stage's own settings and
the run's (env, seed demos' hash, seed, the whole flywheel config, suite version; not the workers,
which change no file). The
next run reuses a stage only when all of them match, else runs it again; a stage after one that
ran again runs too, since its inputs' hashes changed. Every stage draws its seeds from (seed,
iteration, stage), so the same settings give the same files.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from dexbench.backends import PROCESS
from dexbench.generators.base import Prepared
from dexbench.jsonio import write_json_atomic
from dexbench.stages import Stage, digest, generation_settings, jsonable, suite_version

STAGES_FORMAT = "dexbench-flywheel"
_STAGE_TAGS = {"warmup": 1, "rollouts": 2, "augment": 3, "residual": 4, "bc": 5}


def stage_seed(seed: int, iteration: int, stage: str) -> int:
    return int(np.random.SeedSequence([int(seed), int(iteration), _STAGE_TAGS[stage]]).generate_state(1)[0] >> 1)


def _generate(
    label: str,
    generator,
    env_id: str,
    source,
    n: int,
    out: Path,
    seed: int,
    workers: int,
    progress: bool,
    run: dict[str, Any],
    config=None,
    env_kwargs=None,
    max_attempts=None,
    inputs: dict[str, Any] | None = None,
    backend=None,
) -> tuple[dict, bool]:
    """A generation stage: reused when finished with the same settings (`run`: the run's own,
    `inputs`: the content hashes of what the generator reads besides `source`), continued when a
    run of the same settings was interrupted, else made again. Returns (its report, whether it
    ran)."""
    from dexbench.generators import get_generator
    from dexbench.generators.runner import build_config, run_generation
    from dexbench.generators.shards import OutputPaths

    cls = generator if isinstance(generator, type) else get_generator(generator)
    settings = generation_settings(
        cls, build_config(cls, config), env_id, env_kwargs, source, seed, n, max_attempts, inputs
    )
    stage = Stage(out, {**settings, "flywheel": run})
    report_path = OutputPaths(out).report
    if stage.done() and report_path.is_file():
        return json.loads(report_path.read_text()), False
    if progress:
        print(f"flywheel: {label}")
    resume = stage.recorded() == stage.settings  # killed with these settings: its shards are ours to continue
    stage.begin()
    report = run_generation(
        cls,
        env_id,
        source,
        n,
        out,
        seed=seed,
        workers=workers,
        config=config,
        env_kwargs=env_kwargs,
        max_attempts=max_attempts,
        progress=progress,
        resume=resume,
        overwrite=not resume,
        backend=PROCESS if backend is None else backend,
    ).to_dict()
    stage.finish()
    return report, True


def train_base(
    data_paths: list[Path], out: Path, steps: int, seed: int, progress: bool, run: dict[str, Any] | None = None
) -> tuple[dict[str, Any], bool]:
    """The BC base on all of `data_paths` (reused when finished with the same settings: these
    datasets' content, the training config and `run`); returns its record (demos, samples, CPU
    time) and whether it trained."""
    from dexbench.policies.bc.data import DemoArrays, load_demo_arrays
    from dexbench.policies.bc.train import BCConfig, train_bc
    from dexbench.policies.checkpoint_folders import finished_training

    # One thread: the flywheel's budget is CPU time, and a second thread on two cores buys little
    # wall time for its cost (more when other jobs share the CPU and torch's threads spin).
    config = BCConfig(steps=steps, seed=seed, threads=1)
    config.model = config.model_kwargs()
    record_path = out / "stage.json"
    stage = Stage(
        out,
        {
            "stage": "train-bc",
            "data": [digest(p) for p in data_paths],
            "config": dataclasses.asdict(config),
            "suite_version": suite_version(),
            **({"flywheel": run} if run is not None else {}),
        },
    )
    if stage.done() and finished_training(out, config) and record_path.is_file():
        return json.loads(record_path.read_text()), False
    stage.begin()
    parts = [load_demo_arrays(p) for p in data_paths]
    data = DemoArrays(
        obs=[o for p in parts for o in p.obs],
        actions=[a for p in parts for a in p.actions],
        obs_keys=parts[-1].obs_keys,
        env_id=parts[-1].env_id,
        env_kwargs=parts[-1].env_kwargs,
        demo_keys=[f"{path.parent.name}/{k}" for path, p in zip(data_paths, parts) for k in p.demo_keys],
    )
    if any(p.obs_keys != data.obs_keys for p in parts):
        raise ValueError(
            f"the flywheel's datasets {[str(p) for p in data_paths]} observe different keys; "
            "delete the stages folder and run again"
        )
    cpu0 = time.process_time()
    train_bc(data, out, config, progress=progress)
    record = {"demos": len(data.actions), "samples": data.num_samples, "cpu_s": time.process_time() - cpu0}
    write_json_atomic(record_path, record)
    stage.finish()
    return record, True


def _residual_weights(learner: str) -> str:
    return "residual.pt" if learner == "td3" else "residual.zip"


def residual_digest(residual: Path, learner: str) -> str:
    """A trained residual's content: its record and weights (not `train_state/`, which a longer
    training continues from)."""
    return digest(residual, files=["residual.json", _residual_weights(learner)])


def _train_residual(
    generator, env_id: str, checkpoint: Path, out: Path, seed: int, progress: bool, run: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    import gymnasium as gym

    from dexbench.generators.flywheel.residual import BaseFactory, train_residual
    from dexbench.policies.bc.policy import BCPolicy

    cfg = generator.config
    record_path = out / "residual.json"
    env_kwargs = {
        **generator.sources.env_kwargs,
        "object_variants": "random",
        "reward_type": "dense",
        "terminate_on_success": True,
    }
    # The residual's own settings are the flywheel config's (in `run`): learner, steps, alpha, ...
    stage = Stage(
        out,
        {
            "stage": "residual",
            "base": digest(checkpoint),
            "env_id": env_id,
            "env_kwargs": env_kwargs,
            "seed": int(seed),
            "suite_version": suite_version(),
            "flywheel": run,
        },
    )
    if stage.done() and record_path.is_file() and (out / _residual_weights(cfg.learner)).is_file():
        return json.loads(record_path.read_text()), False
    # A training of another base or other settings is not ours to resume; only a killed one is (its
    # record unfinished with these settings; a record-less one keeps td3's own checkpoint check).
    previous = stage.read()
    killed = (
        (stage.recorded() == stage.settings and not previous["complete"]) if previous else not record_path.is_file()
    )
    if not killed and (out / "train_state").is_dir():
        shutil.rmtree(out / "train_state")
    if progress:
        print(f"flywheel: residual RL ({cfg.learner}, {cfg.residual_steps} steps) on {checkpoint}")
    stage.begin()
    env = gym.make(env_id, **env_kwargs).unwrapped
    try:
        base = BCPolicy(env.observation_space, env.action_space, checkpoint)
        record = train_residual(
            env,
            base,
            out,
            cfg.residual_steps,
            alpha=cfg.alpha,
            epsilon_steps=cfg.epsilon_steps,
            success_bonus=cfg.success_bonus,
            penalty=cfg.residual_penalty,
            learner=cfg.learner,
            seed=seed,
            base_checkpoint=str(checkpoint),
            hold=cfg.residual_hold,
            reward=cfg.residual_reward,
            resume=cfg.learner == "td3",
            progress=progress,
            **(
                {
                    "workers": cfg.residual_workers,
                    "device": cfg.residual_device,
                    "factory": BaseFactory(env_id, env_kwargs, str(checkpoint)),
                }
                if cfg.learner == "td3"
                else {}
            ),
        )
    finally:
        env.close()
    stage.finish()
    return record, True


def _keep(
    rollouts: list[Path],
    out: Path,
    env_id: str,
    env_kwargs: dict[str, Any],
    attempts: int,
    run: dict[str, Any] | None = None,
) -> None:
    """The successful rollouts of `rollouts` in one dataset (atomically), in attempt order;
    reused when made from these rollouts (their content) with these settings."""
    from dexbench.envs.registry import build_env
    from dexbench.generators.flywheel.rollouts import RolloutGenerator
    from dexbench.generators.shards import merge_shards

    stage = Stage(
        out,
        {
            "stage": "keep",
            "rollouts": [digest(p) for p in rollouts],
            "env_id": env_id,
            "env_kwargs": env_kwargs,
            "attempts": int(attempts),
            "suite_version": suite_version(),
            **({"flywheel": run} if run is not None else {}),
        },
    )
    if stage.done():
        return
    stage.begin()
    env = build_env(env_id, **env_kwargs)
    try:
        merge_shards(rollouts, out, env, env_kwargs, RolloutGenerator.name, attempts, None)
    finally:
        env.close()
    stage.finish()


def _generation_record(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "out": report["out"],
        "demos": report["successes"],
        "attempts": report["attempts"],
        "success_rate": report["success_rate"],
        "cpu_s": report["cpu_s"],
    }


def run_stages(generator, workdir, seed: int, workers: int, progress: bool, overwrite: bool, backend=None) -> Prepared:
    """Run (or reuse) the stages; returns the dataset the run's own attempts draw from (the last
    iteration's kept rollouts, or the previous iteration's sources when none of them succeeded),
    the env kwargs of those attempts (new objects and placements) and the stages' CPU time.
    `overwrite` changes nothing here: each stage is made again exactly when its settings differ.
    `backend`: where the generation stages' workers run (None: processes here)."""
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
    config = jsonable(dataclasses.asdict(cfg))
    settings = {
        "format": STAGES_FORMAT,
        "env_id": env_id,
        "seed_demos": str(seed_source),
        "seed_demos_sha256": digest(seed_source),
        "seed": int(seed),
        "config": config,
    }
    # What every stage's record holds besides its own settings (the seed demos' path is not: their content is).
    run = {k: v for k, v in settings.items() if k not in ("format", "seed_demos")} | {"suite_version": suite_version()}
    workdir.mkdir(parents=True, exist_ok=True)
    iterations: list[dict[str, Any]] = []

    def save() -> None:
        write_json_atomic(workdir / "flywheel.json", {**settings, "iterations": iterations})

    warmup, _ = _generate(
        "iteration 1, warm-up: mimicgen from the seed demos (reference objects)",
        "mimicgen",
        env_id,
        seed_source,
        cfg.budget(1),
        workdir / "iter1" / "data.hdf5",
        stage_seed(seed, 1, "warmup"),
        workers,
        progress,
        run,
        env_kwargs={"object_variants": reference},
        backend=backend,
    )
    iterations.append({"iteration": 1, "objects": "reference", "data": _generation_record(warmup)})
    save()
    data_paths, pool = [workdir / "iter1" / "data.hdf5"], workdir / "iter1" / "data.hdf5"
    for i in range(2, cfg.iterations + 1):
        it_dir = workdir / f"iter{i}"
        record: dict[str, Any] = {"iteration": i, "objects": "random"}
        if progress:
            print(f"flywheel: iteration {i}: BC base on {len(data_paths)} dataset(s)")
        record["bc"], _ = train_base(
            data_paths, it_dir / "bc", cfg.bc_steps, stage_seed(seed, i, "bc"), progress, run=run
        )
        record["bc"]["out"] = str(it_dir / "bc")
        residual, _ = _train_residual(
            generator, env_id, it_dir / "bc", it_dir / "residual", stage_seed(seed, i, "residual"), progress, run
        )
        record["residual"] = {k: residual[k] for k in ("learner", "steps", "alpha", "cpu_s")}
        record["residual"]["out"] = str(it_dir / "residual")
        record["residual"]["train_episodes"] = len(residual["episodes"])
        record["residual"]["train_successes"] = sum(s for _, s in residual["episodes"])
        rollout_seed = stage_seed(seed, i, "rollouts")  # the same seeds for both: a paired comparison
        for key, residual_dir in (("base_rollouts", ""), ("rollouts", str(it_dir / "residual"))):
            # The rollouts read the base and the residual: their content is part of the stage's settings.
            inputs = {
                "checkpoint": digest(it_dir / "bc"),
                "residual": residual_digest(Path(residual_dir), cfg.learner) if residual_dir else None,
            }
            report, _ = _generate(
                f"iteration {i}: {key.replace('_', ' ')} on new objects and placements",
                RolloutGenerator,
                env_id,
                None,
                cfg.rollouts,
                it_dir / f"{key}.hdf5",
                rollout_seed,
                workers,
                progress,
                run,
                config={"checkpoint": str(it_dir / "bc"), "residual": residual_dir},
                env_kwargs=random_objects,
                max_attempts=cfg.rollouts,
                inputs=inputs,
                backend=backend,
            )
            record[key] = _generation_record(report)
        kept = it_dir / "kept.hdf5"
        if record["base_rollouts"]["demos"] + record["rollouts"]["demos"] > 0:
            _keep(
                [it_dir / "base_rollouts.hdf5", it_dir / "rollouts.hdf5"],
                kept,
                env_id,
                random_objects,
                2 * cfg.rollouts,
                run,
            )
            pool = kept
        record["kept"] = record["base_rollouts"]["demos"] + record["rollouts"]["demos"]
        record["pool"] = str(pool)
        if i < cfg.iterations:
            augmented, _ = _generate(
                f"iteration {i}: mimicgen from {pool.name} to new objects and placements",
                "mimicgen",
                env_id,
                pool,
                cfg.budget(i),
                it_dir / "data.hdf5",
                stage_seed(seed, i, "augment"),
                workers,
                progress,
                run,
                env_kwargs={"object_variants": "random"},
                backend=backend,
            )
            record["data"] = _generation_record(augmented)
            data_paths.append(it_dir / "data.hdf5")
        iterations.append(record)
        save()
    cpu_s = sum(
        rec["cpu_s"]
        for it in iterations
        for key, rec in it.items()
        if key in ("data", "bc", "residual", "base_rollouts", "rollouts")
    )
    return Prepared(str(pool), {"object_variants": "random"}, cpu_s)
