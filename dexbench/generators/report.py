"""The report of a generation run: attempts, successes, speed, failure reasons (printed as a
table and saved as JSON beside the dataset)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from dexbench.datasets.hdf5 import json_default


@dataclasses.dataclass
class GenerationReport:
    generator: str
    env_id: str
    seed: int
    workers: int
    config: dict[str, Any]
    requested: int
    out: str
    attempts: int = 0
    successes: int = 0
    success_rate: float = 0.0
    demos_per_cpu_minute: float = 0.0  # successes / CPU minutes (cpu_s), all workers
    mean_length: float = 0.0  # steps, over the successful demos
    failure_reasons: dict[str, int] = dataclasses.field(default_factory=dict)
    wall_s: float = 0.0  # this invocation (a resumed run counts only its own part)
    cpu_s: float = 0.0  # CPU time of all attempts so far, all workers, resumed parts included, + preparation
    max_attempts: int = 0
    failed_out: str | None = None
    prepare_cpu_s: float = 0.0  # a learning generator's preparation (the flywheel's iterations), in cpu_s

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=json_default) + "\n")
        os.replace(tmp, path)
        return path

    def rows(self) -> list[tuple[str, str]]:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.failure_reasons.items(), key=lambda kv: -kv[1]))
        config = ", ".join(f"{k}={v}" for k, v in self.config.items()) or "-"
        rows = [
            ("generator", self.generator),
            ("env", self.env_id),
            ("config", config),
            ("seed / workers", f"{self.seed} / {self.workers}"),
            ("output", self.out),
            ("attempts", f"{self.attempts} (max {self.max_attempts})"),
            ("successes", f"{self.successes} / {self.requested} requested"),
            ("success rate", f"{100 * self.success_rate:.1f} %"),
            ("demos / CPU-minute", f"{self.demos_per_cpu_minute:.2f}"),
            ("mean length", f"{self.mean_length:.1f} steps"),
            ("failures", reasons or "-"),
            (
                "CPU time",
                f"{self.cpu_s:.1f} s" + (f" (preparation {self.prepare_cpu_s:.1f} s)" if self.prepare_cpu_s else ""),
            ),
            ("wall time", f"{self.wall_s:.1f} s"),
        ]
        if self.failed_out:
            rows.insert(5, ("failed demos", self.failed_out))
        return rows

    def table(self) -> str:
        width = max(len(k) for k, _ in self.rows())
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.rows())


def jsonable(value: Any) -> Any:
    """`value` with numpy scalars/arrays and paths turned into plain JSON types."""
    return json.loads(json.dumps(value, default=json_default))
