"""Where parallel work runs: spawned processes on this machine (`process`, the default) or tasks
on a Ray cluster (`ray`, the optional extra `dexbench[ray]`).

Under Ray a job is split into one task per worker, as the process backend splits it into one
process per worker, so the work each worker does (and therefore every dataset and result) is the
same on both. Tasks share no filesystem with this process: what a task needs travels with it as
arguments, and what it makes comes back as its return value or as events (`run_on_ray`).
Every node of a cluster needs the same DexBench, MuJoCo and Python as this process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

BACKENDS = ("process", "ray")
RAY_INSTALL = "pip install 'dexbench[ray]'"
STOP_GRACE_S = 30.0  # how long stopped tasks get to hand back what they finished before being killed
POLL_S = 0.2


class BackendError(RuntimeError):
    """The backend cannot run the job: Ray is not installed, the cluster cannot be reached, or
    a task died (the message says which, and what to do)."""


@dataclass(frozen=True)
class Backend:
    """`name` is "process" or "ray"; `address` is a Ray cluster's (HOST:PORT, "auto"), None
    to start a Ray on this machine for the run."""

    name: str = "process"
    address: str | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise ValueError(f"unknown backend {self.name!r}: choose one of {', '.join(BACKENDS)}")
        if self.address is not None and self.name != "ray":
            raise ValueError("an address is for the Ray backend: add --backend ray, or leave out --address")

    @property
    def is_ray(self) -> bool:
        return self.name == "ray"


PROCESS = Backend()


def connect_ray(address: str | None = None):
    """The `ray` module, connected: to the cluster at `address`, or (None) to a Ray this call
    starts on this machine. A Ray this process is already connected to is used as it is."""
    try:
        import ray
    except ImportError:
        raise BackendError(f"the Ray backend needs Ray, which is not installed: {RAY_INSTALL}") from None
    if ray.is_initialized():
        return ray
    import logging

    if address is not None:
        _check_reachable(address)
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"at {address}" if address else "on this machine"
        raise BackendError(
            f"cannot connect to a Ray cluster {where} ({str(err).splitlines()[0]}); start one with "
            "`ray start --head` on the head node and pass its HOST:6379 as --address, or leave "
            "out --address to start one here"
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """Refuse a HOST:PORT nothing answers at (Ray itself would retry for minutes)."""
    import socket

    host, sep, port = address.rpartition(":")
    if "://" in address or not sep:  # "auto", "local", a ray:// client address: Ray's to resolve
        return
    if not port.isdigit():
        raise BackendError(
            f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379, the head node of `ray start --head`)"
        )
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:6379, an IPv6 host
    try:
        conn = socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S)
    except OSError as err:
        raise BackendError(
            f"no Ray cluster answers at {address} ({err.strerror or err}); start one with "
            "`ray start --head` on the head node and pass its HOST:6379, or leave out --address "
            "to start one here"
        ) from None
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):  # a TLS head answers no plain handshake
        conn.close()
        return
    with conn:
        reply = _http2_reply(conn)
    if reply[3:4] != HTTP2_SETTINGS:
        heard = "no reply" if not reply else "a reply that is not HTTP/2"
        raise BackendError(
            f"something listens at {address} but it is not a Ray cluster ({heard} to a gRPC "
            f"handshake in {CONNECT_TIMEOUT_S:g} s); pass the GCS address of `ray start --head` "
            "(HOST:6379 unless --port was given), or leave out --address to start one here"
        )


# Ray's head (its GCS) is a gRPC server: to HTTP/2's client preface it replies with a SETTINGS
# frame (type 4 in the 9-byte frame header). Anything else listening there (a web server, a
# database, a plain TCP listener) would make ray.init wait for minutes.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")  # + empty SETTINGS
HTTP2_SETTINGS = b"\x04"
CONNECT_TIMEOUT_S = 5.0


def _http2_reply(conn) -> bytes:
    """The first frame header (9 bytes, or fewer if the peer stops) the peer of `conn` answers
    HTTP/2's client preface with, within CONNECT_TIMEOUT_S in all."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    reply = b""
    try:
        conn.sendall(HTTP2_PREFACE)
        while len(reply) < 9 and (left := deadline - time.monotonic()) > 0:
            conn.settimeout(left)
            chunk = conn.recv(9 - len(reply))
            if not chunk:
                break
            reply += chunk
    except OSError:  # a timeout, or a reset: whatever came so far is the reply
        pass
    return reply


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


class Stopped(KeyboardInterrupt):
    """Raised in a task at its next event once the run is stopping (another task failed, or
    this process was interrupted): the task ends as a process worker ends on SIGTERM."""


def _run_task(fn: Callable, job: Any, channel) -> Any:
    import ray

    def emit(event) -> Any:
        stopped, shared = ray.get(channel.put.remote(event))
        if stopped:
            raise Stopped("the run is stopping")
        return shared

    return fn(job, emit)


def run_on_ray(
    fn: Callable[[Any, Callable[[Any], None]], Any],
    jobs: Sequence[Any],
    on_event: Callable[[Any], None],
    on_value: Callable[[int, Any], None] | None = None,
    address: str | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    shared: Callable[[], Any] | None = None,
) -> list[Any]:
    """Run `fn(job, emit)` as one Ray task (one CPU) per job and return their values in job
    order. `fn` must be importable by its module (Ray ships it by reference). What a task
    passes to `emit` reaches `on_event` here, in order per task; `on_value(i, value)` sees each
    task's value as it arrives. When a task fails (or this process is interrupted) the others
    are stopped: their next `emit` raises `Stopped`, and `fn` should catch it and return what it
    finished (it still reaches `on_value`); they get `stop_grace_s`, then are killed. A task's
    exception is raised here as BackendError; an exception from `on_value` stops the run too,
    and is raised once the others have stopped. `shared()`, read after the events are
    delivered, is what each task's next `emit` returns (None without it)."""
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
            except KeyboardInterrupt as err:  # stop the tasks, then keep what they hand back
                if failure is not None:  # a second interrupt: stop waiting
                    raise
                failure, finished = err, []
            for ref in finished:
                i = pending.pop(ref)
                try:
                    values[i] = ray.get(ref)
                except ray.exceptions.RayError as err:
                    failure = failure or BackendError(f"Ray task {i} failed: {_cause(err)}")
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


__all__ = ["BACKENDS", "PROCESS", "Backend", "BackendError", "Stopped", "connect_ray", "run_on_ray"]
