"""Run evaluation episodes in worker processes that can be stopped: a stranger's policy may hang
or crash, and neither may hang the evaluation or take it down with a traceback.

Worker w of W (`parallel.run_workers`, isolated) builds the env and the policy once, then runs
the seeds w, w + W, ... of the list. Before every `reset` and `act` it reports where it is (seed,
step) to the parent, whose watchdog (`_Deadlines`) holds each policy call to a deadline
(`step_timeout_s`) and each episode to another (`episode_timeout_s`). A call past its deadline,
an exception from the policy, an action the env refuses, or a worker that dies all end the
evaluation with a `PolicyFailure` that names the policy, the seed and the step; the workers are
stopped, and what the policy forked dies with them (`process_groups`).

On Ray, each task runs its share of the seeds through the same sandbox (one isolated process,
the same deadlines) and sends its episodes back with their videos as bytes. Episode results
depend on their seed alone, so every backend and worker count gives the same result.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dexbench.backends import PROCESS, Backend
from dexbench.parallel import WorkerError, run_workers

DEFAULT_STEP_TIMEOUT_S = 60.0  # one reset() or act(); generous: a first call may load weights
DEFAULT_EPISODE_TIMEOUT_S = 1800.0


class PolicyFailure(RuntimeError):
    """The policy under evaluation hung, crashed or returned a bad action (the message says
    which, with the policy, the seed and the step)."""


@dataclass
class WorkerSpec:
    env_id: str
    env_kwargs: dict[str, Any]
    policy_spec: str
    policy_kwargs: dict[str, Any]


class _WatchedPolicy:
    """Wraps the policy: reports each call before making it, and turns its exceptions into a
    one-line error with the seed and step."""

    def __init__(self, policy, report: Callable[[tuple], None]) -> None:
        self.policy, self.report = policy, report
        self.seed, self.step = None, -1

    @property
    def done(self) -> bool:
        return bool(getattr(self.policy, "done", False))

    def reset(self, seed: int | None = None) -> None:
        from dexbench.policies.base import reset_policy

        self.seed, self.step = seed, -1
        self.report(("call", seed, "reset"))
        self._call(lambda: reset_policy(self.policy, seed), "reset()")

    def act(self, obs):
        self.step += 1
        self.report(("call", self.seed, self.step))
        return self._call(lambda: self.policy.act(obs), "act()")

    def _call(self, fn, what: str):
        try:
            return fn()
        except Exception as err:  # any failure of a stranger's code is reported
            raise _PolicyRaised(f"{what} raised {type(err).__name__}: {err}") from err


class _PolicyRaised(Exception):
    pass


def _episodes_job(job: tuple[WorkerSpec, int, list[tuple[int, str | None]]], emit: Callable[[tuple], Any]) -> None:
    """One worker under `run_workers`: build env + policy, then run its (seed, video path) tasks.
    Every event is (kind, worker, ...): "call" before each policy call, "ready" once built, "done"
    per episode; a failure is its last event ("load_error", "policy_error" or "crash")."""
    from dexbench.envs.registry import build_env
    from dexbench.evaluation.episode import run_episode
    from dexbench.policies.base import PolicyLoadError, load_policy, observation_kwargs, policy_name
    from dexbench.rollout import PolicyActionError

    spec, worker, tasks = job

    def report(event: tuple) -> None:
        emit((event[0], worker, *event[1:]))

    try:
        report(("call", None, "build"))
        # Before the env: a policy reading images asks for the cameras it was trained on.
        observed = observation_kwargs(spec.policy_spec, spec.policy_kwargs, spec.env_kwargs)
        env = build_env(spec.env_id, **{**spec.env_kwargs, **observed})
        policy = load_policy(spec.policy_spec, env, **spec.policy_kwargs)
        name = policy_name(policy, spec.policy_spec)
        report(("ready", name, getattr(policy, "checkpoint_sha256", None), env.horizon, observed))
    except Exception as err:  # noqa: BLE001 - a load failure is the user's to fix: say what it is
        report(("load_error", str(err) if isinstance(err, PolicyLoadError) else f"{type(err).__name__}: {err}"))
        return
    watched = _WatchedPolicy(policy, report)
    for seed, video in tasks:
        try:
            result = run_episode(env, watched, seed, video)
        except _PolicyRaised as err:
            report(("policy_error", seed, watched.step, str(err)))
            return
        except PolicyActionError as err:
            report(("policy_error", seed, watched.step, f"returned an action the env refuses: {err}"))
            return
        except Exception:  # noqa: BLE001 - our own failure: the parent shows the traceback
            report(("crash", seed, watched.step, traceback.format_exc()))
            return
        report(("done", result))


class _Deadlines:
    """The parent's watch over its workers: where each one is (seed, call, since when), from their
    "call" events; `check()` raises PolicyFailure for a call or an episode past its deadline."""

    def __init__(self, name: str, workers: int, step_timeout_s: float, episode_timeout_s: float) -> None:
        self.name, self.step_timeout_s, self.episode_timeout_s = name, step_timeout_s, episode_timeout_s
        now = time.monotonic()
        # worker -> (seed, step or phase, when that call began, when its episode began)
        self.where: dict[int, tuple[Any, Any, float, float]] = {w: (None, "start", now, now) for w in range(workers)}

    def see(self, event: tuple) -> None:
        kind, w, now = event[0], event[1], time.monotonic()
        if kind == "call":
            seed, step = event[2], event[3]
            self.where[w] = (seed, step, now, now if step == "reset" else self.where[w][3])
        elif kind in ("ready", "done"):
            self.where[w] = (None, "idle", now, now)
        if kind == "ready":
            self.name = event[2]

    def check(self) -> None:
        now, name = time.monotonic(), self.name
        for seed, step, since, episode_start in self.where.values():
            if step == "idle":
                continue
            # Importing the policy's module, building the env (with the observations the policy
            # asks for) and the policy get the deadline of one call, after the process starts.
            if step == "build" and now - since > self.step_timeout_s:
                raise PolicyFailure(
                    f"policy {name} and its env were not built within {self.step_timeout_s:g} s (its "
                    "module or factory hangs?); fix it or raise --step-timeout"
                )
            if step == "start" and now - since > self.episode_timeout_s:
                raise PolicyFailure(
                    f"the evaluation worker for policy {name} did not start within "
                    f"{self.episode_timeout_s:g} s; is the machine overloaded?"
                )
            if step in ("start", "build"):
                continue
            if now - since > self.step_timeout_s:
                call = "reset()" if step == "reset" else "act()"
                raise PolicyFailure(
                    f"policy {name} did not return from {call} within {self.step_timeout_s:g} s at "
                    f"seed {seed}, {_step_text(step)}; it was stopped. Make it faster or raise --step-timeout"
                )
            if now - episode_start > self.episode_timeout_s:
                raise PolicyFailure(
                    f"policy {name} did not finish the episode of seed {seed} within "
                    f"{self.episode_timeout_s:g} s (at {_step_text(step)}); raise --episode-timeout"
                )

    def died(self, err: WorkerError) -> PolicyFailure:
        seed, step = self.where[err.index][:2]
        return PolicyFailure(
            f"the process running policy {self.name} died (exit code {err.exitcode}) at seed "
            f"{seed}, {_step_text(step)}: the policy crashed the interpreter"
        )


def _one_thread() -> dict[str, str]:
    return {} if "OMP_NUM_THREADS" in os.environ else {"OMP_NUM_THREADS": "1"}


def run_in_workers(
    spec: WorkerSpec,
    tasks: list[tuple[int, str | None]],
    workers: int,
    on_event: Callable[[str, Any], None],
    step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    episode_timeout_s: float = DEFAULT_EPISODE_TIMEOUT_S,
    backend: Backend = PROCESS,
) -> None:
    """Run `(seed, video path)` tasks on `workers` workers: `on_event("ready", (name, sha,
    horizon, the env kwargs the policy asked for))` once, then `on_event("result",
    `evaluation.episode.EpisodeResult`)` per episode, in completion order. Raises PolicyFailure
    (or PolicyLoadError for a policy that cannot be built) once every worker is stopped."""
    if not (step_timeout_s > 0 and episode_timeout_s > 0):
        raise ValueError(f"timeouts must be > 0 s, got step {step_timeout_s}, episode {episode_timeout_s}")
    shares = [share for w in range(workers) if (share := tasks[w::workers])]
    if backend.is_ray:
        _run_on_ray(spec, shares, on_event, step_timeout_s, episode_timeout_s, backend)
        return
    from dexbench.policies.base import PolicyLoadError

    watch = _Deadlines(spec.policy_spec, len(shares), step_timeout_s, episode_timeout_s)
    ready = False

    def receive(event: tuple) -> None:
        nonlocal ready
        watch.see(event)
        kind = event[0]
        if kind == "ready" and not ready:
            ready = True
            on_event("ready", tuple(event[2:]))
        elif kind == "done":
            on_event("result", event[2])
        elif kind == "load_error":
            raise PolicyLoadError(f"cannot build policy {spec.policy_spec!r}: {event[2]}")
        elif kind == "policy_error":
            raise PolicyFailure(f"policy {watch.name} failed at seed {event[2]}, {_step_text(event[3])}: {event[4]}")
        elif kind == "crash":
            raise RuntimeError(f"evaluation worker {event[1]} failed at seed {event[2]}:\n{event[4]}")

    jobs = [(spec, w, share) for w, share in enumerate(shares)]
    try:  # stop the others at once: an evaluation has nothing half-done to keep
        run_workers(
            _episodes_job,
            jobs,
            receive,
            PROCESS,
            stop_grace_s=0.0,
            watchdog=watch.check,
            isolate=True,
            worker_env=_one_thread(),  # one core per worker (numpy and torch); a user's setting wins
        )
    except WorkerError as err:
        if err.exitcode is None:
            raise
        raise watch.died(err) from None


# ============================================================================ on Ray
def _ray_share(job: tuple[WorkerSpec, list[tuple[int, str | None]], float, float], emit: Callable[[tuple], Any]):
    """In a Ray task: run its share of the seeds in the sandbox, sending ("ready", ...) once and
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

        def forward(kind: str, value) -> None:
            if kind == "ready":
                emit(("ready", value))
            else:
                video = videos[value.seed]
                emit(("result", value, Path(video).read_bytes() if video is not None else None))

        try:
            run_in_workers(spec, local, 1, forward, step_timeout_s, episode_timeout_s)
        except (PolicyFailure, PolicyLoadError) as err:
            return type(err).__name__, str(err)
    return None


def _run_on_ray(spec, shares, on_event, step_timeout_s, episode_timeout_s, backend: Backend) -> None:
    from dexbench.policies.base import PolicyLoadError

    failures = {"PolicyFailure": PolicyFailure, "PolicyLoadError": PolicyLoadError}
    video_paths = {seed: video for share in shares for seed, video in share}
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

    jobs = [(spec, share, step_timeout_s, episode_timeout_s) for share in shares]
    run_workers(_ray_share, jobs, deliver, backend, on_value=judge, stop_grace_s=0.0)  # nothing to keep


def _step_text(step: Any) -> str:
    if step == "reset":
        return "in reset()"
    if isinstance(step, int):
        return f"step {step}"
    return f"while {step}"
