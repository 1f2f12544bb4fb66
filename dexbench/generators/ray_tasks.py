"""Generation as Ray tasks (the `ray` backend): the process backend's worker jobs, one task
each, with shards that travel as bytes, because a Ray worker may run on another machine.

A task gets the source dataset (put into Ray's object store once, for all tasks) and the files
of its shard that a resumed run continues from, writes its shard in a temporary folder on its
own node, and returns the files it ends with: the finished shard or,
when it fails or is stopped, the `.partial` shard with the demos it finished. This process
writes them where a worker process would have, so the merge and `resume` work as they do with
processes. Only a task that is killed (it did not stop within the grace time) loses its demos.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dexbench.backends import BackendError, run_on_ray
from dexbench.generators.processes import GenerationError
from dexbench.generators.shards import resume_candidates


def _shard_paths(job) -> list[Path]:
    return resume_candidates(Path(job.shard)) + resume_candidates(Path(job.failed_shard))


def _shard_files(job) -> dict[str, bytes]:
    """The files of `job`'s shards as they are here (what a resumed task continues from)."""
    return {p.name: p.read_bytes() for p in _shard_paths(job) if p.exists()}


def _task(payload: tuple[Callable, Any, dict[str, bytes], Any], emit: Callable[[tuple], Any]):
    """In a Ray worker: run the job on local copies of its source and shard files; returns
    (outcome, files), the outcome ("done", state), ("error", message) or ("interrupted", None).
    Each event comes back with the run's success bound as the driver knows it."""
    import ray

    run, job, files, source_ref = payload
    bound = [job.max_attempts]

    def emit_and_read(event: tuple) -> None:
        shared = emit(event)
        if shared is not None:
            bound[0] = shared

    with tempfile.TemporaryDirectory(prefix="dexbench-gen-") as tmp:
        here = Path(tmp)
        for name, data in files.items():
            (here / name).write_bytes(data)
        source = None
        if source_ref is not None:
            source = here / "sources" / Path(job.source).name
            source.parent.mkdir()
            source.write_bytes(ray.get(source_ref))
        local = dataclasses.replace(
            job,
            shard=str(here / Path(job.shard).name),
            failed_shard=str(here / Path(job.failed_shard).name),
            source=str(source) if source is not None else None,
        )
        try:
            outcome = ("done", run(local, emit_and_read, lambda: bound[0]))
        except KeyboardInterrupt:  # stopped: another task failed, or the run was interrupted
            outcome = ("interrupted", None)
        except GenerationError as err:  # already a full sentence: no traceback
            outcome = ("error", str(err))
        except BaseException:  # noqa: BLE001 - report everything to the driver
            outcome = ("error", traceback.format_exc())
        return outcome, {p.name: p.read_bytes() for p in here.iterdir() if p.is_file()}  # not sources/


def _write_back(job, sent: dict[str, bytes], files: dict[str, bytes]) -> None:
    """Put a task's files where its worker process would have left them; the files it was sent
    and no longer has (it moved or merged them) go."""
    folder = Path(job.shard).parent
    names = {p.name for p in _shard_paths(job)}
    for name, data in files.items():
        if name not in names:
            continue
        incoming = folder / (name + ".incoming")
        incoming.write_bytes(data)
        os.replace(incoming, folder / name)  # a file with a shard's name is always whole
    for name in sent:
        if name not in files:
            (folder / name).unlink(missing_ok=True)


def run_ray_tasks(
    jobs: list, on_event: Callable[[tuple], None], run: Callable, address: str | None, shared: Callable[[], int]
) -> list[dict[str, Any]]:
    """`run(job, emit, bound)` (the runner's worker) for every job as a Ray task, `bound()`
    being the latest `shared()` the driver sent; returns each job's final state in order, or
    raises GenerationError when one fails (the others are stopped, and every shard made so far
    is written here for `resume`)."""
    import ray

    sent = [_shard_files(job) for job in jobs]
    source = jobs[0].source
    source_ref = ray.put(Path(source).read_bytes()) if source is not None else None

    def on_value(i: int, value) -> None:
        (kind, detail), files = value
        _write_back(jobs[i], sent[i], files)
        if kind == "error":
            raise GenerationError(f"worker {i} failed:\n{detail}")
        if kind == "interrupted":
            raise GenerationError(f"worker {i} was interrupted")

    try:
        values = run_on_ray(
            _task,
            [(run, job, files, source_ref) for job, files in zip(jobs, sent)],
            on_event,
            on_value,
            address=address,
            shared=shared,
        )
    except (GenerationError, BackendError) as err:
        raise GenerationError(
            f"{err}\nThe demos made so far are kept in the shards; fix the problem and run "
            "again with resume (CLI: --resume) to continue"
        ) from None
    return [detail for (_, detail), _ in values]
