"""What one generation worker does (see runner.py for the run as a whole): open its shard, run
its attempts w, w + W, ... up to the success bound, and record each one.

Attempt `i` resets the env with `attempt_seed(seed, i)` and gives the generator's policy
`attempt_rng(seed, i)`, so what an attempt does depends on (seed, i) only, never on which worker
ran it. Its success goes to the shard (flushed after every demo), its outcome to the shard's
`attempt_log`, and the worker's progress to the shard's `/data` attr `generation`, so a killed
run resumes from the attempt after the last one recorded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dexbench.generators.base import AttemptInfo
from dexbench.generators.progress import GenerationError
from dexbench.generators.report import jsonable
from dexbench.generators.shards import (
    ATTEMPT_LOG,
    INFO_ATTRS,
    STATE_ATTR,
    SuccessBound,
    check_meta,
    demo_keys,
    log_line,
    read_attempt_log,
    resume_candidates,
)
from dexbench.generators.subtasks import stuck_subtask, subtask_progress
from dexbench.rollout import PolicyActionError, rollout

ATTEMPT_RNG_TAG = 0x6E6
ATTEMPT_SEED_TAG = 0x5EED


def attempt_seed(seed: int, attempt: int) -> int:
    """The env reset seed of global attempt `attempt` of a run with `seed`."""
    return int(np.random.SeedSequence([int(seed), int(attempt), ATTEMPT_SEED_TAG]).generate_state(1)[0])


def attempt_rng(seed: int, attempt: int) -> np.random.Generator:
    """The generator policy's random stream for global attempt `attempt`."""
    return np.random.default_rng([int(seed), int(attempt), ATTEMPT_RNG_TAG])


@dataclasses.dataclass
class WorkerJob:
    generator_ref: str  # module:QualName of the generator class
    generator_name: str
    config: Any  # the Config instance
    meta: dict[str, Any]  # what identifies the run (generator, env, seed, workers, config)
    env_id: str
    env_kwargs: dict[str, Any]
    source: str | None
    seed: int
    workers: int
    worker: int
    n: int  # demos of the whole run: a worker stops at the success bound, not at a share of n
    max_attempts: int
    keep_failed: bool
    shard: str
    failed_shard: str
    resume: bool


def _fresh_state(job: WorkerJob) -> dict[str, Any]:
    return {
        "meta": job.meta,
        "worker": job.worker,
        "attempts": 0,
        "successes": 0,
        "next_attempt": job.worker,
        "failure_reasons": {},
        "cpu_s": 0.0,
    }


def _open_shard(path: Path, env, job: WorkerJob, next_attempt: int | None):
    """A DatasetWriter on `path` holding the demos kept from an earlier run of this shard.

    Returns (writer, state from the earlier run or None). With `next_attempt` (the failed-demo
    shard), demos of attempts >= next_attempt are dropped; otherwise that bound comes from the
    shard's own recorded progress (a demo written by an attempt whose progress was not recorded
    is dropped: the attempt runs again and makes it again)."""
    import h5py

    from dexbench.datasets.writer import DatasetWriter

    resume_path = resume_candidates(path)[0]
    found = next((p for p in resume_candidates(path) if p.exists()), None) if job.resume else None
    if found is not None and found != resume_path:
        os.replace(found, resume_path)
    writer = DatasetWriter(
        path, env, env_kwargs=job.env_kwargs, generator=job.generator_name, overwrite=True, info_attrs=INFO_ATTRS
    )
    state = None
    if found is None:
        return writer, state
    try:
        try:
            src = h5py.File(resume_path, "r")
        except OSError as err:
            raise OSError(
                f"cannot read {found} to resume ({err}): the run was probably killed while writing "
                "it. Move it away to redo its attempts"
            ) from err
        with src:
            data = src["data"]
            if STATE_ATTR in data.attrs:
                state = json.loads(data.attrs[STATE_ATTR])
                check_meta(state.get("meta"), job.meta, found)
            bound = next_attempt if next_attempt is not None else (state or {}).get("next_attempt", job.worker)
            for key in demo_keys(data):
                attempt = int(data[key].attrs.get("attempt", -1))
                if 0 <= attempt < bound:
                    writer.copy_demo(data[key])
            if next_attempt is None:  # the demo shard carries the run's attempt log
                outcomes = {i: f for i, f in read_attempt_log(src).items() if i < bound}
                if state is not None and len(outcomes) != state["attempts"]:
                    raise ValueError(
                        f"cannot resume from {found}: it does not record its attempts (made by an earlier "
                        "DexBench); run without --resume and with --overwrite to start over"
                    )
                for attempt, failure in sorted(outcomes.items()):
                    writer.append_line(ATTEMPT_LOG, log_line(attempt, failure))
        if state is not None:  # durable before the old file goes
            if next_attempt is None:
                state["successes"] = writer.num_demos
            writer.attempts = state["attempts"]
            writer.set_attrs(**{STATE_ATTR: state})
    except BaseException:
        writer.abort()
        raise
    resume_path.unlink()
    for stale in resume_candidates(path)[1:3]:  # a complete or partial file replaced by this writer
        stale.unlink(missing_ok=True)
    return writer, state


def _attempt_info(policy, episode, task_spec) -> AttemptInfo:
    """What the policy says about its attempt; the subtask progress it does not give comes from
    the recorded subtask signals."""
    info = policy.attempt_info() if callable(getattr(policy, "attempt_info", None)) else AttemptInfo()
    if not info.subtask_index or (not episode.success and info.failure_subtask is None):
        progress = subtask_progress(task_spec, episode.datagen_info["subtask_signals"], episode.num_samples)
        info.subtask_index = info.subtask_index or {arm: index[:-1] for arm, index in progress.items()}
        if not episode.success and info.failure_subtask is None:
            final = {k: bool(v[-1]) for k, v in episode.datagen_info["subtask_signals"].items()}
            info.failure_subtask = stuck_subtask(task_spec, {arm: int(i[-1]) for arm, i in progress.items()}, final)
    return info


def _annotate(episode, info: AttemptInfo, attempt: int, name: str) -> int:
    """Put the attempt's record into the episode; returns its source_demo attr value."""
    episode.generator = name
    episode.info["attempt"] = int(attempt)
    episode.info["source_demos"] = jsonable(info.source_demos)
    for arm, index in info.subtask_index.items():
        episode.datagen_info.setdefault("subtask_index", {})[arm] = np.asarray(index, dtype=np.int64)
    if not episode.success:
        # A physics error says more than the subtask it interrupted.
        episode.info["failure_subtask"] = (
            "physics_error" if episode.end_reason == "physics_error" else info.failure_subtask or episode.end_reason
        )
    used = {int(s) for demos in info.source_demos.values() for s in np.atleast_1d(demos)}
    return used.pop() if len(used) == 1 else -1


def run_attempt(generator, env, name: str, seed: int, attempt: int) -> tuple[Any, int]:
    """Global attempt `attempt` of a run with `seed`, alone: (its episode, annotated as the
    dataset records it, and its source_demo attr). The same on any worker, and when re-run by
    `leaderboard verify`."""
    policy = generator.policy(env, attempt_rng(seed, attempt))
    try:
        episode = rollout(env, policy, attempt_seed(seed, attempt))
    except PolicyActionError as err:
        raise GenerationError(
            f"{name} made an action the env refuses in attempt {attempt} ({err}); the source dataset "
            "may hold non-finite actions: check it with `dexbench dataset replay`"
        ) from None
    info = _attempt_info(policy, episode, env.task_spec)
    return episode, _annotate(episode, info, attempt, name)


def run_worker(
    job: WorkerJob, emit: Callable[[tuple], None], shared_bound: Callable[[], int] | None = None
) -> dict[str, Any]:
    """Run one worker's attempts (see the module docstring); returns its final state.
    `shared_bound()`: the run's success bound as the parent knows it (None: this worker's own
    successes are all there is, as with one worker)."""
    from dexbench.datasets.reader import load_dataset
    from dexbench.envs.registry import build_env
    from dexbench.generators import load_class_ref

    cls = load_class_ref(job.generator_ref)
    env = build_env(job.env_id, **job.env_kwargs)
    sources = load_dataset(job.source) if job.source is not None else None
    writer = failed_writer = None
    try:
        generator = cls(job.env_id, sources, job.config)
        generator.check(env)
        writer, state = _open_shard(Path(job.shard), env, job, None)
        state = state or _fresh_state(job)
        state["successes"] = writer.num_demos
        writer.set_attrs(**{STATE_ATTR: state})  # the shard says which run it belongs to from the start
        if job.keep_failed:
            failed_writer, _ = _open_shard(Path(job.failed_shard), env, job, state["next_attempt"])
        own = [int(a) for a in writer.demo_attr_values("attempt")]
        bound = SuccessBound(job.n, job.max_attempts)
        for attempt in own:
            bound.add(attempt)
        emit(("start", job.worker, state["attempts"], state["successes"], own))
        reasons: dict[str, int] = state["failure_reasons"]
        i = int(state["next_attempt"])
        while i < bound.value and (shared_bound is None or i < shared_bound()):
            cpu0 = time.process_time()
            episode, source_demo = run_attempt(generator, env, job.generator_name, job.seed, i)
            reason = None
            if episode.success:
                writer.add_episode(episode, source_demo=source_demo)
                state["successes"] += 1
                bound.add(i)
            else:
                reason = episode.info["failure_subtask"]
                reasons[reason] = reasons.get(reason, 0) + 1
                if failed_writer is not None:
                    failed_writer.add_episode(episode, source_demo=source_demo)
            writer.append_line(ATTEMPT_LOG, log_line(i, reason))
            i += job.workers
            state["attempts"] += 1
            state["next_attempt"] = i
            state["cpu_s"] += time.process_time() - cpu0
            if failed_writer is not None:
                failed_writer.attempts = state["attempts"]
                failed_writer.set_attrs(**{STATE_ATTR: state})
            writer.attempts = state["attempts"]
            writer.set_attrs(**{STATE_ATTR: state})  # progress is durable from here on
            emit(("attempt", job.worker, episode.success, episode.num_samples, reason, i - job.workers))
        writer.close()
        if failed_writer is not None:
            failed_writer.close()
        return state
    except BaseException:
        for w in (writer, failed_writer):
            if w is not None:
                w.abort(keep_empty=True)  # its progress (failed attempts) counts too
        raise
    finally:
        if sources is not None:
            sources.close()
        env.close()


def worker_job(job: WorkerJob, emit: Callable[[tuple], Any]) -> tuple[str, Any]:
    """A worker under `parallel.run_workers`: its outcome, ("done", final state), ("error",
    message) or ("interrupted", None) when it was stopped (its shard keeps what it finished).
    Each `emit` returns the run's success bound as the runner knows it."""
    bound = [job.max_attempts]

    def emit_and_read(event: tuple) -> None:
        shared = emit(event)
        if shared is not None:
            bound[0] = shared

    try:
        return "done", run_worker(job, emit_and_read, lambda: bound[0])
    except KeyboardInterrupt:  # stopped: another worker failed, or the run was interrupted
        return "interrupted", None
    except GenerationError as err:  # already a full sentence: no traceback
        return "error", str(err)
    except BaseException:  # noqa: BLE001 - report everything to the runner
        return "error", traceback.format_exc()
