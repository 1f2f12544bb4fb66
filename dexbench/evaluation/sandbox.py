"""Run evaluation episodes in worker processes that can be stopped: a stranger's policy may hang
or crash, and neither may hang the evaluation or take it down with a traceback.

Each worker (a "spawn" process) builds the env and the policy once, then runs the seeds it is
handed. Before every `reset` and `act` it reports where it is (seed, step) to the parent, which
holds each policy call to a deadline (`step_timeout_s`) and each episode to another
(`episode_timeout_s`). A call past its deadline, an exception from the policy, an action the env
refuses, or a worker that dies all end the evaluation with a `PolicyFailure` that names the
policy, the seed and the step; the workers are stopped. Each worker leads its own process group,
killed at the end (and on a failure or timeout): a process the policy forked does not outlive
the evaluation.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dexbench.workers import exit_with_parent

DEFAULT_STEP_TIMEOUT_S = 60.0  # one reset() or act(); generous: a first call may load weights
DEFAULT_EPISODE_TIMEOUT_S = 1800.0
POLL_S = 0.2


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


def _worker_main(spec: WorkerSpec, tasks, events, worker: int) -> None:
    """A worker process: build env + policy, then run (seed, video path) tasks until None.
    `events` is this worker's end of a pipe: a send is written before the call it announces
    starts, so even a policy that kills the process leaves its last position behind."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker, also for torch policies
    exit_with_parent(signal.SIGKILL)  # an evaluation killed with SIGKILL takes its policies along
    _own_process_group()  # what the policy forks joins it, and is killed with it (`_kill_group`)
    _adopt_orphans()  # and what leaves the group stays below this worker (`kill_descendants`)
    try:
        _run_worker(spec, tasks, events, worker)
    finally:
        kill_descendants(os.getpid())


def _run_worker(spec: WorkerSpec, tasks, events, worker: int) -> None:
    from dexbench.evaluation.episode import run_episode
    from dexbench.policies.base import PolicyLoadError, load_policy, observation_kwargs, policy_name
    from dexbench.rollout import PolicyActionError

    def report(event: tuple) -> None:
        events.send((event[0], worker, *event[1:]))

    try:
        from dexbench.envs.registry import build_env

        report(("call", None, "build"))
        # Before the env: a policy reading images asks for the cameras it was trained on.
        observed = observation_kwargs(spec.policy_spec, spec.policy_kwargs, spec.env_kwargs)
        env = build_env(spec.env_id, **{**spec.env_kwargs, **observed})
        policy = load_policy(spec.policy_spec, env, **spec.policy_kwargs)
        report(
            (
                "ready",
                policy_name(policy, spec.policy_spec),
                getattr(policy, "checkpoint_sha256", None),
                env.horizon,
                observed,
            )
        )
    except Exception as err:  # noqa: BLE001 - a load failure is the user's to fix: say what it is
        report(("load_error", str(err) if isinstance(err, PolicyLoadError) else f"{type(err).__name__}: {err}"))
        return
    watched = _WatchedPolicy(policy, report)
    while True:
        task = tasks.get()
        if task is None:
            break
        seed, video = task
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


def run_in_workers(
    spec: WorkerSpec,
    tasks: list[tuple[int, str | None]],
    workers: int,
    step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    episode_timeout_s: float = DEFAULT_EPISODE_TIMEOUT_S,
) -> Iterator[tuple[str, Any]]:
    """Run `(seed, video path)` tasks on `workers` processes; yields ("ready", (name, sha,
    horizon, the env kwargs the policy asked for)) once, then ("result",
    `evaluation.episode.EpisodeResult`) per episode, in completion order. Raises PolicyFailure
    (or PolicyLoadError for a policy that cannot be built) and stops every worker."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    from dexbench.policies.base import PolicyLoadError

    if not (step_timeout_s > 0 and episode_timeout_s > 0):
        raise ValueError(f"timeouts must be > 0 s, got step {step_timeout_s}, episode {episode_timeout_s}")
    ctx = mp.get_context("spawn")
    task_queue = ctx.Queue()
    for task in tasks:
        task_queue.put(task)
    for _ in range(workers):
        task_queue.put(None)
    pipes = [ctx.Pipe(duplex=False) for _ in range(workers)]
    procs = [
        ctx.Process(
            target=_worker_main, args=(spec, task_queue, pipes[w][1], w), daemon=True, name=f"dexbench-eval-{w}"
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for _, send_end in pipes:
        send_end.close()  # the workers hold theirs: a dead worker's pipe then reads as closed
    conns = [recv_end for recv_end, _ in pipes]  # by worker
    inbox = list(conns)  # those still open
    pending: list[tuple] = []
    name = spec.policy_spec
    # worker -> (seed, step or phase, when that call began, when its episode began)
    where: dict[int, tuple[Any, Any, float, float]] = {
        w: (None, "start", time.monotonic(), time.monotonic()) for w in range(workers)
    }
    done, ready = 0, False
    try:
        while done < len(tasks):
            if not pending:
                for conn in wait(inbox, timeout=POLL_S):
                    try:
                        pending.append(conn.recv())
                    except EOFError:  # the worker is gone; its exit code tells why below
                        inbox.remove(conn)
            event = pending.pop(0) if pending else None
            now = time.monotonic()
            if event is not None:
                kind, w = event[0], event[1]
                if kind == "call":
                    seed, step = event[2], event[3]
                    episode_start = now if step == "reset" else where[w][3]
                    where[w] = (seed, step, now, episode_start)
                elif kind == "ready":
                    name = event[2]
                    where[w] = (None, "idle", now, now)
                    if not ready:
                        ready = True
                        yield "ready", tuple(event[2:])
                elif kind == "done":
                    done += 1
                    where[w] = (None, "idle", now, now)
                    yield "result", event[2]
                elif kind == "load_error":
                    raise PolicyLoadError(f"cannot build policy {spec.policy_spec!r}: {event[2]}")
                elif kind == "policy_error":
                    raise PolicyFailure(f"policy {name} failed at seed {event[2]}, {_step_text(event[3])}: {event[4]}")
                elif kind == "crash":
                    raise RuntimeError(f"evaluation worker {w} failed at seed {event[2]}:\n{event[4]}")
            # Checked on every pass: one busy worker's stream of events must not hide a hung one.
            for seed, step, since, episode_start in where.values():
                if step in ("idle",):
                    continue
                # Importing the policy's module, building the env (with the observations the policy
                # asks for) and the policy get the deadline of one call, after the process starts.
                if step == "build" and now - since > step_timeout_s:
                    raise PolicyFailure(
                        f"policy {name} and its env were not built within {step_timeout_s:g} s (its "
                        "module or factory hangs?); fix it or raise --step-timeout"
                    )
                if step == "start" and now - since > episode_timeout_s:
                    raise PolicyFailure(
                        f"the evaluation worker for policy {name} did not start within "
                        f"{episode_timeout_s:g} s; is the machine overloaded?"
                    )
                if step not in ("start", "build") and now - since > step_timeout_s:
                    call = "reset()" if step == "reset" else "act()"
                    raise PolicyFailure(
                        f"policy {name} did not return from {call} within {step_timeout_s:g} s at "
                        f"seed {seed}, {_step_text(step)}; it was stopped. Make it faster or "
                        "raise --step-timeout"
                    )
                if step not in ("start", "build") and now - episode_start > episode_timeout_s:
                    raise PolicyFailure(
                        f"policy {name} did not finish the episode of seed {seed} within "
                        f"{episode_timeout_s:g} s (at {_step_text(step)}); raise --episode-timeout"
                    )
            for w, p in enumerate(procs):
                # Exit code 0 counts too when the worker was mid-call (a policy calling os._exit).
                busy = where[w][1] != "idle"
                if (
                    p.exitcode is not None
                    and (p.exitcode != 0 or busy)
                    and not pending
                    and not (conns[w] in inbox and _unread(conns[w]))
                ):
                    seed, step = where[w][:2]
                    raise PolicyFailure(
                        f"the process running policy {name} died (exit code {p.exitcode}) at seed "
                        f"{seed}, {_step_text(step)}: the policy crashed the interpreter"
                    )
    finally:
        for p in procs:
            if p.is_alive():  # what its policy started in a session of its own, first
                kill_descendants(p.pid)
            _kill_group(p.pid)  # the worker and whatever its policy forked, finished or not
            if p.is_alive():
                p.kill()
        for p in procs:
            p.join(timeout=10)
        task_queue.close()
        for conn in conns:
            conn.close()


def _own_process_group() -> None:
    """Make this worker the leader of a new session and process group (its id is the worker's
    pid), so that processes the policy starts (subprocess, fork, multiprocessing) share it and
    are ended with the worker, not left running after the evaluation. One that starts a session of
    its own leaves the group; `kill_descendants` finds it below the worker, and after an evaluation
    killed with SIGKILL the guard kills it (it keeps the worker's descendants, checked every
    GUARD_POLL_S: only one started in the last such interval could escape)."""
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except OSError:  # already a group leader (not under spawn)
            return
        _fork_group_guard()


GUARD_POLL_S = 0.2


def _fork_group_guard() -> None:
    """Fork a guard into the worker's new group that kills the group once the worker is gone. An
    evaluation killed with SIGKILL cannot kill the group itself: its workers die of PDEATHSIG,
    but what their policies forked would live on. The guard also kills the worker's last seen
    descendants outside the group (a session of their own). It holds no file of the worker's (a
    worker's dead pipe must still read as closed) and does nothing else."""
    worker = os.getpid()
    try:
        pid = os.fork()
    except OSError:  # no guard: the evaluation still kills the group when it ends normally
        return
    if pid:
        return
    try:
        os.closerange(0, 1 << 16)
        seen: dict[int, bytes] = {}  # the worker's descendants by pid, with their start times
        while os.getppid() == worker:
            # A descendant in a session of its own is out of the group: remember it, to kill it too.
            seen = {pid: started for pid in _descendants(worker) if (started := _start_time(pid)) is not None}
            time.sleep(GUARD_POLL_S)
        for pid, started in seen.items():
            if pid != os.getpid() and _start_time(pid) == started:  # the same process, not a reused pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        os.killpg(os.getpgrp(), signal.SIGKILL)  # the guard too
    finally:
        os._exit(0)


def _start_time(pid: int) -> bytes | None:
    """A process's start time (field 22 of /proc/<pid>/stat), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _adopt_orphans() -> None:
    """Make this worker the reaper of its orphaned descendants (Linux PR_SET_CHILD_SUBREAPER): a
    process the policy double-forks into a session of its own is re-parented to the worker, not
    to init, so `kill_descendants` still finds it."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def _descendants(root: int) -> list[int]:
    """The pids below `root` in the process tree (from /proc; none where there is no /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # gone meanwhile
            continue
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_descendants(root: int) -> None:
    """SIGKILL every process below `root`, in its process group or not (a policy's processes
    that started sessions of their own); twice, for what forked during the first pass."""
    for _ in range(2):
        found = _descendants(root)
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not found:
            return


def _kill_group(pgid: int | None) -> None:
    """SIGKILL the process group a worker leads, members left behind by a finished worker too."""
    if pgid is None or not hasattr(os, "killpg") or pgid == os.getpgrp():  # never our own group
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # nothing left in it, or not ours
        pass


def _unread(conn) -> bool:
    """Whether a worker's last words are still in its pipe (read them before judging its exit)."""
    try:
        return conn.poll()
    except (EOFError, OSError):
        return False


def _step_text(step: Any) -> str:
    if step == "reset":
        return "in reset()"
    if isinstance(step, int):
        return f"step {step}"
    return f"while {step}"
