"""How many worker processes a job may start.

Evaluation results do not depend on the number of workers, so evaluation clamps it to the CPU
cores. Nor does a generated dataset, but an unfinished run's shards resume only with as many
workers as made them, so generation keeps the number asked for and only refuses absurd ones.
"""

from __future__ import annotations

import os
import warnings

MAX_WORKERS = 64  # a generation run with more processes than this is a typo


def clamp_workers(workers: int) -> int:
    """`workers`, or the number of CPU cores if that is fewer (with a warning: more processes
    than cores only add start-up time and memory). Fewer than 1 is an error."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cores = os.cpu_count() or 1
    if workers > cores:
        warnings.warn(f"{workers} workers asked for, this machine has {cores} CPU cores: using {cores}", stacklevel=3)
        return cores
    return workers


def exit_with_parent(sig: int) -> None:
    """Have the kernel send this worker process `sig` when its parent dies (Linux; elsewhere a
    no-op), so a parent killed with SIGKILL leaves no orphan still working."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before we asked
        os.kill(os.getpid(), sig)


def check_workers(workers: int, local: bool = True) -> None:
    """Refuse a worker count below 1 or above MAX_WORKERS; warn above the core count when the
    workers run on this machine (`local`; Ray tasks may run on other machines)."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(
            f"workers must be in 1..{MAX_WORKERS}, got {workers}; this machine has {os.cpu_count()} CPU cores"
        )
    if local and workers > (os.cpu_count() or 1):
        warnings.warn(
            f"{workers} workers on {os.cpu_count()} CPU cores: slower than {os.cpu_count()} would be, "
            "kept because a run resumes only with the workers that began it",
            stacklevel=3,
        )
