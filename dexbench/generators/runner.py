"""Run a generator: attempts, success filtering, workers and shards, resume, dataset and report.

`run_generation` is what `dexbench generate` calls. How a run is laid out:

- Attempt `i` (a global index) resets the env with `attempt_seed(seed, i)` and gives the
  generator's policy the rng `np.random.default_rng([seed, i, 0x6E6])`, so what an attempt does
  depends on (seed, i) only, never on which worker ran it.
- The dataset is the first n successful attempts in index order (all successes below
  `max_attempts` if fewer succeed): what one worker running attempts 0, 1, 2, ... makes.
- With W workers, worker w runs the attempts i = w, w + W, w + 2W, ... until i reaches the
  success bound (`shards.SuccessBound`: one past the n-th smallest successful index reported by
  all workers so far; this process shares it, through a shared value for processes and with each
  event for Ray tasks) or `max_attempts`. It writes its successes to the shard
  `<out>.shard<w>.hdf5` (flushed after every demo), every attempt's outcome to the shard's
  `attempt_log`, and its progress (attempts, next attempt, failure histogram, CPU time) into the
  shard's `/data` attr `generation`.
- At the end the attempts past the final bound (run before a lower success was reported) are
  left out (`shards.settle`), and the shards are merged into `<out>` in attempt order
  (atomically: `<out>.tmp`, then renamed) and removed. Same seed, same dataset, on any number of
  workers and on either backend.
- `resume=True` reopens the shards of an interrupted run (complete, `.partial` or `.tmp`), keeps
  the demos of the attempts it had finished, and continues with the next attempt, so a kill
  loses at most the attempts in flight. With no shards but a finished `<out>`, it splits `<out>`
  back into shards and continues (e.g. to a larger n: the result is the dataset a direct run
  to that n gives).
- Each demo has the attrs `attempt` (its global index), `source_demos` (JSON: per arm, the source
  demo of each subtask) and the datagen_info group `subtask_index/<arm>` (T,).
- Failed attempts are counted by the subtask that was running when they ended
  (`AttemptInfo.failure_subtask`, else the first subtask whose end the recorded signals never
  showed); with `keep_failed` they are written to `<out stem>.failed.hdf5` (attr
  `failure_subtask`).
- The report (`GenerationReport`) is saved to `<out stem>.report.json`.

What one worker does is `worker.py`. Workers are processes of the "spawn" context or, with the
`ray` backend, Ray tasks (their shards shipped: `shipping.py`), both run by
`parallel.run_workers`; W = 1 runs in this process, unless on Ray. Either way they do the same
work: the same demos, bit for bit. Generator classes must be importable by their module
(plug-ins are: they are entry points).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dexbench.backends import PROCESS, Backend, connect_ray
from dexbench.generators.base import Generator
from dexbench.generators.progress import GenerationError, GenerationProgress
from dexbench.generators.report import GenerationReport, jsonable
from dexbench.generators.shards import OutputPaths, SuccessBound, merge_shards, settle, split_output
from dexbench.generators.worker import WorkerJob, attempt_rng, attempt_seed, run_worker, worker_job
from dexbench.jsonio import check_writable
from dexbench.stages import digest, suite_version
from dexbench.workers import check_workers

DISK_FULL = "No space left on device"  # how HDF5 and the OS report ENOSPC


def _silence_disk_full_cleanup() -> None:
    """h5py objects of a file that could not be flushed each complain again when they are
    collected ("Exception ignored in ..."); the full disk has been reported once, that is enough."""
    import sys

    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if DISK_FULL not in str(unraisable.exc_value):
            previous(unraisable)

    sys.unraisablehook = hook


# ============================================================================ layout
def default_max_attempts(n: int) -> int:
    return max(20 * n, 100)


def build_config(cls: type, config: Any = None):
    """A generator's Config from None (defaults), a Config instance, or a dict of overrides
    (strings are parsed as CLI `KEY=VALUE` values, other values used as they are)."""
    if config is None:
        return cls.Config()
    if isinstance(config, cls.Config):
        return config
    if isinstance(config, dict):
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(f"{cls.name} has no config key {unknown[0]!r}; keys: {sorted(fields)}")
        parsed = cls.parse_config({k: v for k, v in config.items() if isinstance(v, str)})
        return dataclasses.replace(parsed, **{k: v for k, v in config.items() if not isinstance(v, str)})
    raise TypeError(f"config must be None, a {cls.__name__}.Config or a dict, got {type(config).__name__}")


# ============================================================================ workers
def _run_workers(jobs: list[WorkerJob], on_event: Callable, backend: Backend, bound: SuccessBound) -> list[dict]:
    """Every job at once (`parallel.run_workers`; on Ray with its shards shipped); returns the
    final states, or raises GenerationError when one fails (the others are stopped, and every
    shard made so far is kept for `resume`)."""
    from dexbench.generators import shipping
    from dexbench.parallel import WorkerError, run_workers

    payloads, sent = shipping.ship_payloads(jobs, worker_job) if backend.is_ray else (jobs, None)
    fn = shipping.ship_task if backend.is_ray else worker_job

    def judge(i: int, value) -> None:
        if backend.is_ray:
            value, files = value
            shipping.write_back(jobs[i], sent[i], files)
        kind, detail = value
        if kind == "error":
            raise GenerationError(f"worker {i} failed:\n{detail}")
        if kind == "interrupted":
            raise GenerationError(f"worker {i} was interrupted")

    try:
        values = run_workers(fn, payloads, on_event, backend, on_value=judge, shared=lambda: bound.value)
    except (GenerationError, WorkerError) as err:
        raise GenerationError(
            f"{err}\nThe demos made so far are kept in the shards; fix the problem and run "
            "again with resume (CLI: --resume) to continue"
        ) from None
    return [(value[0] if backend.is_ray else value)[1] for value in values]


# ============================================================================ entry point
def _check_no_earlier_run(paths: OutputPaths, overwrite: bool) -> None:
    """Without overwrite, refuse to replace a finished output or the shards of an unfinished run."""
    if overwrite:
        return
    if paths.out.exists():
        raise FileExistsError(
            f"{paths.out} already exists; choose another path, pass overwrite "
            "(CLI: --overwrite), or resume (CLI: --resume) to extend it"
        )
    leftovers = paths.leftovers()
    if leftovers:
        raise FileExistsError(
            f"shards of an unfinished run of {paths.out} exist ({', '.join(p.name for p in leftovers)}): "
            "continue it with resume (CLI: --resume), or pass overwrite (CLI: --overwrite) to discard them"
        )


@contextlib.contextmanager
def _output_lock(paths: OutputPaths):
    """Hold `<out>.lock` for a run: a second run on the same output (a `--resume` started while
    an interrupted run is still handing back its shards, a script running two at once) is
    refused instead of moving the first one's shard files away under it."""
    import fcntl

    lock = paths.out.with_name(paths.out.name + ".lock")
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FileExistsError(
            f"another run is writing {paths.out} now ({lock.name} is locked): wait for it to end, or give another --out"
        ) from None
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def run_generation(
    generator_name: str | type,
    env_id: str,
    source: str | os.PathLike | None,
    n: int,
    out: str | os.PathLike,
    seed: int = 0,
    workers: int = 1,
    config: Any = None,
    resume: bool = False,
    keep_failed: bool = False,
    max_attempts: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    env_kwargs: dict[str, Any] | None = None,
    backend: Backend = PROCESS,
) -> GenerationReport:
    """Generate `n` successful demos of `env_id` with the generator registered as
    `generator_name` (or that Generator class, for a pipeline's own unregistered stage), from the
    source dataset `source` (None for a generator that needs no sources, such as `scripted`), into
    `out` (see the module docstring).

    `config`: None, the generator's Config, or a dict of overrides (`KEY -> str` as from the CLI).
    `max_attempts`: bound on the global attempt index (default max(20 n, 100)).
    `overwrite`: replace an existing `out` and discard shards of an earlier run (without it, both
    are refused: pass `resume=True` to continue such a run).
    `env_kwargs`: the env's kwargs (observation mode, cameras, ...); default: the sources' own,
    or the env's defaults without sources.
    `backend`: where the workers run (`backends.Backend`: processes here, or Ray tasks).
    Returns the report (also saved as `<out stem>.report.json`). Fewer than `n` successes when
    the attempts ran out is not an error: the report says so.
    """
    from dexbench.datasets.reader import load_dataset
    from dexbench.envs.registry import build_env, lookup
    from dexbench.generators import class_ref, get_generator

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    check_workers(workers, local=not backend.is_ray)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    max_attempts = default_max_attempts(n) if max_attempts is None else int(max_attempts)
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    cls = generator_name if isinstance(generator_name, type) else get_generator(generator_name)
    cfg = build_config(cls, config)
    entry = lookup(env_id)
    env_id = entry.env_id
    paths = OutputPaths(Path(out))
    if paths.out.is_dir():
        raise IsADirectoryError(f"{paths.out} is a directory; give a file path such as {paths.out / 'generated.hdf5'}")
    if resume and overwrite:
        raise ValueError(
            "resume and overwrite contradict each other: resume continues the run in the shards, "
            "overwrite discards them; pass one"
        )
    if source is not None and not cls.needs_sources:
        raise ValueError(f"generator {cls.name} needs no source demos; leave out --source")
    check_writable(paths.out)  # an unwritable --out fails now, not after the first demo
    if source is None and cls.needs_sources:
        raise ValueError(
            f"generator {cls.name} needs source demos: pass a source dataset (CLI: --source FILE), "
            f"e.g. from `dexbench demo --env {env_id.replace('-D1', '-D0').replace('-D2', '-D0')} -n 10`"
        )
    if source is not None:
        source = str(source)
        if Path(source).exists() and any(
            p.exists() and os.path.samefile(source, p) for p in (paths.out, *paths.leftovers())
        ):
            raise ValueError(
                f"the output {paths.out} is the source dataset {source}: writing it would destroy the "
                "sources; give another --out"
            )

    with _output_lock(paths):  # one run per output at a time: a second one would take its shards
        if not resume:  # said before a generator's preparation stages run, not after them
            _check_no_earlier_run(paths, overwrite)
        if backend.is_ray:
            connect_ray(backend.address)  # no Ray, or no cluster there: said now, before any file is written
        start = time.perf_counter()
        prepare_cpu_s = 0.0
        if cls.prepare is not Generator.prepare:
            with load_dataset(source) if source is not None else contextlib.nullcontext() as sources:
                prepared = cls(env_id, sources, cfg).prepare(
                    paths.stages, seed=seed, workers=workers, progress=progress, overwrite=overwrite, backend=backend
                )
            if prepared is not None:
                source, env_kwargs = str(prepared.sources), {**(env_kwargs or {}), **prepared.env_kwargs}
                prepare_cpu_s = float(prepared.cpu_s)
        with load_dataset(source) if source is not None else contextlib.nullcontext() as sources:
            if sources is not None:
                env_kwargs = {**sources.env_kwargs, **(env_kwargs or {})}
                source_record = {"path": os.path.abspath(source), "env_id": sources.env_id, "demos": len(sources)}
            else:
                env_kwargs = dict(env_kwargs or {})
                source_record = None
            # What identifies the run: resuming with anything else would mix two kinds of demos.
            meta = {
                "generator": cls.name,
                "env_id": env_id,
                "seed": int(seed),
                "workers": int(workers),
                "config": jsonable(dataclasses.asdict(cfg)),
                "env_kwargs": jsonable(env_kwargs),
                "source_sha256": None if source is None else digest(source),
                "suite_version": suite_version(),
            }
            env = build_env(env_id, **env_kwargs)
            try:
                cls(env_id, sources, cfg).check(env)  # refuse early, before any file or process
                leftovers = paths.leftovers()
                if not resume:
                    _check_no_earlier_run(paths, overwrite)
                    for p in leftovers:
                        p.unlink()
                elif not leftovers and paths.out.exists():
                    split_output(paths, env, env_kwargs, cls.name, meta, workers, keep_failed)
                jobs = [
                    WorkerJob(
                        class_ref(cls),
                        cls.name,
                        cfg,
                        meta,
                        env_id,
                        env_kwargs,
                        source,
                        int(seed),
                        workers,
                        w,
                        n,
                        max_attempts,
                        keep_failed,
                        str(paths.shard(w)),
                        str(paths.failed_shard(w)),
                        resume,
                    )
                    for w in range(workers)
                ]
                bar = GenerationProgress(n, f"{cls.name} {env_id}", progress)
                bound = SuccessBound(n, max_attempts)

                def on_event(event: tuple) -> None:
                    if event[0] == "start":
                        for attempt in event[4]:
                            bound.add(attempt)
                    elif event[0] == "attempt" and event[2]:
                        bound.add(event[5])
                    bar(event)

                try:
                    try:
                        if workers == 1 and not backend.is_ray:  # here: an interrupt is the caller's
                            states = [run_worker(jobs[0], bar)]
                        else:
                            states = _run_workers(jobs, on_event, backend, bound)
                    except (OSError, RuntimeError) as err:
                        if DISK_FULL in str(err):
                            _silence_disk_full_cleanup()
                            raise GenerationError(
                                f"the disk is full ({paths.out.parent}): free some space, or move the shards "
                                f"({paths.out.name}.shard*) to a disk with room, and run the same command with "
                                "--resume; the demos made so far are kept in the shards"
                            ) from None
                        raise
                finally:
                    bar.close()

                shards = [paths.shard(w) for w in range(workers)]
                try:
                    outcomes, states = settle(shards, n, max_attempts, states)
                except RuntimeError as err:
                    raise GenerationError(f"{err}; run the same command with --resume to make them") from None
                below = len(outcomes)
                attempts = sum(s["attempts"] for s in states)
                reasons: dict[str, int] = {}
                for s in states:
                    for k, v in s["failure_reasons"].items():
                        reasons[k] = reasons.get(k, 0) + v
                cpu_s = float(sum(s["cpu_s"] for s in states)) + prepare_cpu_s
                record = {
                    "meta": meta,
                    "requested": n,
                    "max_attempts": max_attempts,
                    "worker_states": states,
                    "source": source_record,
                }
                successes, lengths = merge_shards(shards, paths.out, env, env_kwargs, cls.name, below, record, outcomes)
                if keep_failed:
                    merge_shards(
                        [paths.failed_shard(w) for w in range(workers)],
                        paths.failed,
                        env,
                        env_kwargs,
                        cls.name,
                        below,
                        record,
                    )
                for p in paths.leftovers():  # the merged shards, and failed-demo shards of a run with keep_failed
                    p.unlink(missing_ok=True)
            finally:
                env.close()

        report = GenerationReport(
            generator=cls.name,
            env_id=env_id,
            seed=int(seed),
            workers=int(workers),
            config=meta["config"],
            requested=n,
            out=str(paths.out),
            attempts=attempts,
            successes=successes,
            success_rate=successes / attempts if attempts else 0.0,
            demos_per_cpu_minute=successes / (cpu_s / 60.0) if cpu_s > 0 else 0.0,
            mean_length=float(np.mean(lengths)) if lengths else 0.0,
            failure_reasons=dict(sorted(reasons.items())),
            wall_s=time.perf_counter() - start,
            cpu_s=cpu_s,
            max_attempts=max_attempts,
            failed_out=str(paths.failed) if keep_failed else None,
            prepare_cpu_s=prepare_cpu_s,
        )
        report.save(paths.report)
        return report


__all__ = [
    "GenerationReport",
    "OutputPaths",
    "attempt_rng",
    "attempt_seed",
    "build_config",
    "run_generation",
]
