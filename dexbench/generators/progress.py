"""A generation run's progress bar and its error: what the runner shows and raises while its
workers (`parallel.run_workers`) make demos."""

from __future__ import annotations


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
