"""The one worker fan-out: W jobs run at once, as spawned processes on this machine or as Ray
tasks (`backends.Backend`), with their events streamed back and all of them stopped on the
first failure.

A job is `fn(job, emit)`: it calls `emit(event)` as it goes (each event reaches `on_event` in
this process, in order per job) and returns a value (`on_value(i, value)` sees it as it
arrives; it may judge it a failure by raising). `emit` returns the latest `shared()` of this
process: an integer the jobs read back, such as the success bound generation stops at. When a
job fails, `on_value` raises, or this process is interrupted, the others are stopped: their
next `emit` raises `Stopped` (a KeyboardInterrupt, as SIGTERM is in a worker process), `fn`
should catch it and return what it finished, and after `stop_grace_s` what still runs is killed.
Generation, evaluation (`isolate`, with its deadlines as a `watchdog`) and render-obs run their
workers through here; what a job does is theirs.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from dexbench import process_groups
from dexbench.backends import PROCESS, Backend, BackendError, connect_ray
from dexbench.workers import exit_with_parent

STOP_GRACE_S = 30.0  # how long stopped jobs get to hand back what they finished before being killed
POLL_S = 0.2


class WorkerError(BackendError):
    """Job `index` failed (it raised, or its process or task died); the message says how."""

    def __init__(self, index: int, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.exitcode = exitcode  # set when its process died (rather than the job raising)


class Stopped(KeyboardInterrupt):
    """Raised in a job at its next event once the run is stopping (another job failed, or this
    process was interrupted): the job ends as a worker process ends on SIGTERM."""


def run_workers(
    fn: Callable[[Any, Callable[[Any], Any]], Any],
    jobs: Sequence[Any],
    on_event: Callable[[Any], None],
    backend: Backend = PROCESS,
    on_value: Callable[[int, Any], None] | None = None,
    shared: Callable[[], int] | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    watchdog: Callable[[], None] | None = None,
    isolate: bool = False,
    worker_env: dict[str, str] | None = None,
) -> list[Any]:
    """Run `fn(job, emit)` for every job at once (see the module docstring) and return their
    values in job order. `fn` and the jobs must pickle (`fn` by its module: a spawned process
    or a Ray worker imports it). Raises WorkerError for a job that raised or died (its
    traceback or exit code in the message), or what `on_event`, `on_value` or `watchdog` raised,
    once the others have stopped.

    `watchdog()` runs in this process on every pass (at least every POLL_S, however many events
    arrive): raising stops the run, as evaluation's deadlines do. `isolate` (processes only) is
    for jobs that run a stranger's code: each worker leads a process group of its own, dies with
    SIGKILL when this process dies, and nothing it started outlives it (`process_groups`).
    `worker_env`: environment variables the worker processes start with (set before their first
    import: numpy reads OMP_NUM_THREADS once, when it is imported)."""
    if backend.is_ray:
        if isolate:
            raise ValueError("isolate is for worker processes; on Ray, run isolated processes inside the task")
        return _run_on_ray(fn, jobs, on_event, on_value, backend.address, stop_grace_s, shared, watchdog)
    return _run_in_processes(fn, jobs, on_event, on_value, shared, stop_grace_s, watchdog, isolate, worker_env or {})


# ============================================================================ processes
def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt("terminated")


def _process_main(fn: Callable, job: Any, conn, stop, bound, isolate: bool) -> None:
    """A spawned worker: run the job, sending ("event" | "value" | "error", payload) down its
    pipe. A send is written before `emit` returns, so a job that dies right after (a policy that
    kills its process) leaves its last event behind."""
    if isolate:
        exit_with_parent(signal.SIGKILL)  # a stranger's code may not answer SIGTERM
        process_groups.isolate()
    else:
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
        exit_with_parent(signal.SIGTERM)  # a killed parent must not leave us working
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides (it stops us)

    def emit(event) -> int | None:
        if stop.is_set():
            raise Stopped("the run is stopping")
        conn.send(("event", event))
        return bound.value if bound is not None else None

    try:
        conn.send(("value", fn(job, emit)))
    except BaseException:  # noqa: BLE001 - everything reaches the parent
        conn.send(("error", traceback.format_exc()))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # done: a stop from now on ends us quietly


def _run_in_processes(fn, jobs, on_event, on_value, shared, stop_grace_s, watchdog, isolate, worker_env) -> list[Any]:
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    bound = ctx.Value("q", shared()) if shared is not None else None
    pipes = [ctx.Pipe(duplex=False) for _ in jobs]
    procs = [
        ctx.Process(
            target=_process_main,
            args=(fn, job, pipes[i][1], stop, bound, isolate),
            name=f"dexbench-worker-{i}",
            daemon=isolate,  # an isolated job starts no processes of its own through multiprocessing
        )
        for i, job in enumerate(jobs)
    ]
    saved = {key: os.environ.get(key) for key in worker_env}
    os.environ.update(worker_env)  # a spawned process starts with this process's environment
    try:
        for p in procs:
            p.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    for _, send_end in pipes:
        send_end.close()  # the worker holds its own: its pipe reads as closed once it is gone
    conns = {recv_end: i for i, (recv_end, _) in enumerate(pipes)}
    values: dict[int, Any] = {}
    failure: BaseException | None = None
    stop_by: float | None = None

    def fail(err: BaseException) -> None:
        nonlocal failure, stop_by
        failure = failure or err
        if stop_by is None:
            stop.set()
            stop_by = time.monotonic() + stop_grace_s

    def receive(conn, i: int) -> None:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError, pickle.UnpicklingError):  # gone (a job's children may hold the pipe open)
            del conns[conn]
            return
        if kind == "event":
            on_event(payload)
            if bound is not None:
                bound.value = shared()
        elif kind == "value":
            values[i] = payload
            del conns[conn]
            if on_value is not None:
                on_value(i, payload)  # it may judge the value a failure
        else:
            values[i] = None
            del conns[conn]
            fail(WorkerError(i, f"worker {i} failed:\n{payload}"))

    try:
        while len(values) < len(jobs) and (stop_by is None or time.monotonic() < stop_by):
            try:
                for conn in wait(list(conns), timeout=POLL_S):
                    if conn in conns:
                        receive(conn, conns[conn])
                for i, p in enumerate(procs):
                    # Gone with nothing left unread: no value is coming (its pipe may stay open in a
                    # process the job forked, so the exit code decides, not the end of the pipe).
                    conn = pipes[i][0]
                    if i not in values and p.exitcode is not None and not (conn in conns and _unread(conn)):
                        values[i] = None
                        conns.pop(conn, None)
                        fail(WorkerError(i, f"worker {i} died (exit code {p.exitcode})", p.exitcode))
                if watchdog is not None:
                    watchdog()
            except KeyboardInterrupt as err:  # stop the jobs, then keep what they hand back
                if failure is not None:  # a second interrupt: stop waiting
                    raise
                fail(err)
            except Exception as err:  # noqa: BLE001 - on_event, on_value or watchdog judged a failure
                fail(err)
    finally:
        for i, p in enumerate(procs):
            if i in values and not isolate:  # it has sent its value and is exiting: let it flush and go
                p.join(timeout=5)
        for p in procs:
            if isolate:
                process_groups.end_isolated(p.pid, p.is_alive())
            elif p.is_alive():
                p.terminate()  # SIGTERM: a job keeps what it finished (e.g. generation's .partial shard)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
        for recv_end, _ in pipes:
            recv_end.close()
    if failure is not None:
        raise failure
    return [values[i] for i in range(len(jobs))]


def _unread(conn) -> bool:
    """Whether something a worker sent is still in its pipe (read it before judging its exit); at
    the pipe's end too, until `receive` has read that end."""
    try:
        return conn.poll()
    except (EOFError, OSError):
        return False


# ============================================================================ Ray
class _Channel:
    """The events of a run's tasks, collected for this process; and its stop flag, which each
    task reads back with every event it sends."""

    def __init__(self) -> None:
        self.events: list = []
        self.stopped = False
        self.shared = None  # a value the driver shares with its tasks (e.g. a bound they stop at)

    def put(self, event) -> tuple[bool, Any]:
        self.events.append(event)
        return self.stopped, self.shared

    def share(self, value) -> None:
        self.shared = value

    def take(self) -> list:
        events, self.events = self.events, []
        return events

    def stop(self) -> None:
        self.stopped = True


def _run_task(fn: Callable, job: Any, channel) -> Any:
    import ray

    def emit(event) -> Any:
        stopped, shared = ray.get(channel.put.remote(event))
        if stopped:
            raise Stopped("the run is stopping")
        return shared

    return fn(job, emit)


def _run_on_ray(
    fn: Callable[[Any, Callable[[Any], None]], Any],
    jobs: Sequence[Any],
    on_event: Callable[[Any], None],
    on_value: Callable[[int, Any], None] | None = None,
    address: str | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    shared: Callable[[], Any] | None = None,
    watchdog: Callable[[], None] | None = None,
) -> list[Any]:
    """`run_workers` on Ray: one task (one CPU) per job."""
    ray = connect_ray(address)
    channel = ray.remote(num_cpus=0)(_Channel).remote()
    task = ray.remote(num_cpus=1, max_retries=0)(_run_task)
    pending = {task.remote(fn, job, channel): i for i, job in enumerate(jobs)}
    values: dict[int, Any] = {}
    failure: BaseException | None = None
    stop_by: float | None = None

    sent = [None]

    def deliver() -> None:
        for event in ray.get(channel.take.remote()):
            on_event(event)
        if shared is not None and (value := shared()) != sent[0]:
            ray.get(channel.share.remote(value))
            sent[0] = value

    try:
        while pending and (stop_by is None or time.monotonic() < stop_by):
            try:
                finished, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                deliver()
                if watchdog is not None:
                    watchdog()
            except KeyboardInterrupt as err:  # stop the tasks, then keep what they hand back
                if failure is not None:  # a second interrupt: stop waiting
                    raise
                failure, finished = err, []
            except Exception as err:  # noqa: BLE001 - on_event or watchdog judged a failure
                failure, finished = failure or err, []
            for ref in finished:
                i = pending.pop(ref)
                try:
                    values[i] = ray.get(ref)
                except ray.exceptions.RayError as err:
                    failure = failure or WorkerError(i, f"Ray task {i} failed: {_cause(err)}")
                    continue
                try:
                    if on_value is not None:
                        on_value(i, values[i])  # it may judge the value a failure
                except Exception as err:  # noqa: BLE001 - stop the others, then raise it
                    failure = failure or err
            if failure is not None and stop_by is None:
                ray.get(channel.stop.remote())
                stop_by = time.monotonic() + stop_grace_s
        if failure is None:
            deliver()
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        ray.kill(channel)
    if failure is not None:
        raise failure
    return [values[i] for i in range(len(jobs))]


def _cause(err: BaseException) -> str:
    cause = getattr(err, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return str(err).splitlines()[0] if str(err) else type(err).__name__


__all__ = ["STOP_GRACE_S", "Stopped", "WorkerError", "run_workers"]
