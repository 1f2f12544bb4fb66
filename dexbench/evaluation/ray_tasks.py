"""Evaluation episodes as Ray tasks (the `ray` backend), with the sandbox's protection kept.

Worker w of W gets the seeds w, w + W, ... of the list; its Ray task runs them through the
sandbox (`sandbox.run_in_workers` with one worker), so the policy still runs in a spawned
process of its own, under the same per-call and per-episode deadlines, and a hung, raising or
crashing policy still ends the evaluation with a `PolicyFailure` naming the seed and the step.
Episode results depend on their seed alone, so the result is the one the process backend gives.
Videos are written on the task's node and come back as bytes with their episode.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dexbench.backends import Backend
from dexbench.evaluation.sandbox import PolicyFailure, WorkerSpec, run_in_workers
from dexbench.parallel import run_workers


def _task(job: tuple[WorkerSpec, list[tuple[int, str | None]], float, float], emit: Callable[[tuple], None]):
    """In a Ray worker: run the share of seeds in the sandbox, sending ("ready", ...) once and
    ("result", EpisodeResult, video bytes or None) per episode; returns None, or (error type
    name, message) when the sandbox stopped the policy."""
    from dexbench.policies.base import PolicyLoadError

    spec, tasks, step_timeout_s, episode_timeout_s = job
    with tempfile.TemporaryDirectory(prefix="dexbench-eval-") as tmp:
        local = [
            (seed, str(Path(tmp) / f"{seed}{Path(video).suffix}") if video is not None else None)
            for seed, video in tasks
        ]
        videos = dict(local)
        try:
            for kind, value in run_in_workers(spec, local, 1, step_timeout_s, episode_timeout_s):
                if kind == "ready":
                    emit(("ready", value))
                else:
                    video = videos[value.seed]
                    emit(("result", value, Path(video).read_bytes() if video is not None else None))
        except (PolicyFailure, PolicyLoadError) as err:
            return type(err).__name__, str(err)
    return None


def run_in_ray_tasks(
    spec: WorkerSpec,
    tasks: list[tuple[int, str | None]],
    workers: int,
    step_timeout_s: float,
    episode_timeout_s: float,
    address: str | None,
    on_event: Callable[[str, Any], None],
) -> None:
    """`sandbox.run_in_workers` on Ray: `on_event("ready", (name, sha, horizon, observation kwargs))` once, then
    `on_event("result", EpisodeResult)` per episode (its video written to its path here).
    Raises PolicyFailure or PolicyLoadError as the sandbox does, after stopping every task."""
    from dexbench.policies.base import PolicyLoadError

    failures = {"PolicyFailure": PolicyFailure, "PolicyLoadError": PolicyLoadError}
    video_paths = dict(tasks)
    shares = [tasks[w::workers] for w in range(workers)]
    ready = False

    def deliver(event: tuple) -> None:
        nonlocal ready
        if event[0] == "ready":
            if not ready:
                ready = True
                on_event("ready", event[1])
            return
        _, result, video = event
        if video is not None:
            path = Path(video_paths[result.seed])
            path.parent.mkdir(parents=True, exist_ok=True)
            incoming = path.with_name(path.name + ".incoming")
            incoming.write_bytes(video)
            os.replace(incoming, path)
        on_event("result", result)

    def judge(i: int, value) -> None:
        if value is not None:
            kind, message = value
            raise failures[kind](message)

    run_workers(
        _task,
        [(spec, share, step_timeout_s, episode_timeout_s) for share in shares if share],
        deliver,
        Backend("ray", address),
        on_value=judge,
        stop_grace_s=0.0,
    )  # nothing to keep: stop the others at once
