"""Where parallel work runs: spawned processes on this machine (`process`, the default) or tasks
on a Ray cluster (`ray`, the optional extra `dexbench[ray]`).

Under Ray a job is split into one task per worker, as the process backend splits it into one
process per worker (`parallel.run_workers` runs both), so the work each worker does (and
therefore every dataset and result) is the same on both. Tasks share no filesystem with this
process: what a task needs travels with it as arguments, and what it makes comes back as its
return value or as events. Every node of a cluster needs the same DexBench, MuJoCo and Python
as this process.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

BACKENDS = ("process", "ray")
RAY_INSTALL = "pip install 'dexbench[ray]'"


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


__all__ = ["BACKENDS", "PROCESS", "Backend", "BackendError", "connect_ray"]
