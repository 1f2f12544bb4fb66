"""A worker whose job runs a stranger's code (a submitted policy) must not leave processes behind:
whatever that code forks is killed with the worker, even after the run that started it was itself
killed with SIGKILL.

`isolate()` (in the worker) makes it the leader of a new session and process group, which what it
forks joins, the reaper of its orphaned descendants, and forks a guard that kills the group once
the worker is gone. `end_isolated(pid)` (in the parent, at the end) kills the worker's group and
every descendant still below it. `parallel.run_workers(..., isolate=True)` does both.
"""

from __future__ import annotations

import os
import signal
import time


def isolate() -> None:
    """Called first in a worker process (see the module docstring)."""
    _own_process_group()  # what the job forks joins the group, and is killed with it
    _adopt_orphans()  # what leaves the group stays below this worker (`kill_descendants`)


def end_isolated(pid: int, alive: bool) -> None:
    """Kill what an isolated worker `pid` leaves: what its code started in sessions of their own
    (while the worker lives, they are still found below it), then its process group."""
    if alive:
        kill_descendants(pid)
    _kill_group(pid)


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
