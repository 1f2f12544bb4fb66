"""Generation's worker jobs on Ray (the `ray` backend): their shards travel as bytes, because a
Ray worker may run on another machine.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dexbench.generators.shards import resume_candidates


def _shard_paths(job) -> list[Path]:
    return resume_candidates(Path(job.shard)) + resume_candidates(Path(job.failed_shard))


def shard_files(job) -> dict[str, bytes]:
    """The files of `job`'s shards as they are here (what a resumed task continues from)."""
    return {p.name: p.read_bytes() for p in _shard_paths(job) if p.exists()}


def ship_task(payload: tuple[Callable, Any, dict[str, bytes], Any], emit: Callable[[tuple], Any]):
    """In a Ray worker: `run(job, emit)` on local copies of the job's source and shard files;
    returns (run's outcome, the files the job ends with)."""
    import ray

    run, job, files, source_ref = payload
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
        outcome = run(local, emit)
        return outcome, {p.name: p.read_bytes() for p in here.iterdir() if p.is_file()}  # not sources/


def ship_payloads(jobs: list, run: Callable) -> tuple[list, list[dict[str, bytes]]]:
    """The Ray tasks' payloads for `jobs` (the source put into Ray's object store once, for all)
    and the shard files each was sent (for `write_back`)."""
    import ray

    sent = [shard_files(job) for job in jobs]
    source = jobs[0].source
    source_ref = ray.put(Path(source).read_bytes()) if source is not None else None
    return [(run, job, files, source_ref) for job, files in zip(jobs, sent)], sent


def write_back(job, sent: dict[str, bytes], files: dict[str, bytes]) -> None:
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
