"""Generation across worker processes: start them, follow their progress, stop them all when
one fails. What each worker does is the runner's (`runner.run_worker`); this module only runs
processes and reports."""

from __future__ import annotations

import queue as queue_mod
from collections.abc import Callable
from typing import Any


class GenerationError(RuntimeError):
    """A run stopped by something outside it (a worker died, the disk is full); the demos made
    so far are kept in the shards and `resume` continues."""


class GenerationProgress:
    """The progress bar of a run: successes toward n, with attempts and the rate beside it."""

    def __init__(self, n: int, label: str, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=n, desc=label, unit="demo", disable=not enabled, dynamic_ncols=True)
        self.attempts = 0
        self.successes = 0

    def __call__(self, event: tuple) -> None:
        kind = event[0]
        if kind == "start":
            attempts, successes = event[2], event[3]
        elif kind == "attempt":
            attempts, successes = 1, int(event[2])
        else:
            return
        self.attempts += attempts
        self.successes += successes
        rate = self.successes / self.attempts if self.attempts else 0.0
        self.bar.set_postfix(attempts=self.attempts, success=f"{100 * rate:.0f}%", refresh=False)
        self.bar.update(min(successes, self.bar.total - self.bar.n))  # a worker may overshoot n
        if not successes:
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def run_processes(
    jobs: list, on_event: Callable[[tuple], None], target: Callable, shared: Callable[[], int]
) -> list[dict[str, Any]]:
    """Run one spawned process per job (`target(job, queue, value)`, which reports ("start" |
    "attempt" | "done" | "error" | "interrupted", worker, ...) events); `value` is a shared
    integer set to `shared()` after every event (the run's success bound). Returns each job's
    final state in order, or raises GenerationError when one fails (the others are stopped,
    keeping their finished demos)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    value = ctx.Value("q", shared())
    procs = [ctx.Process(target=target, args=(job, q, value), name=f"dexbench-gen-{job.worker}") for job in jobs]
    for p in procs:
        p.start()
    results: dict[int, dict[str, Any]] = {}
    failure: str | None = None
    try:
        while len(results) < len(jobs) and failure is None:
            try:
                event = q.get(timeout=0.5)
            except queue_mod.Empty:
                for w, p in enumerate(procs):
                    if w not in results and p.exitcode not in (None, 0):
                        failure = f"worker {w} died (exit code {p.exitcode})"
                continue
            kind, w = event[0], event[1]
            if kind == "done":
                results[w] = event[2]
            elif kind == "error":
                failure = f"worker {w} failed:\n{event[2]}"
            elif kind == "interrupted":
                failure = f"worker {w} was interrupted"
            else:
                on_event(event)
                value.value = shared()
    finally:
        for p in procs:
            if p.is_alive() and len(results) < len(jobs):
                p.terminate()  # SIGTERM: the worker keeps its finished demos (.partial)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
        q.close()
    if failure is not None:
        raise GenerationError(
            f"{failure}\nThe demos made so far are kept in the shards; fix the problem and run "
            "again with resume (CLI: --resume) to continue"
        )
    return [results[w] for w in range(len(jobs))]
