"""Multi-stage jobs built from the other packages: `compare` (generate -> train -> evaluate)."""

from dexbench.pipelines.compare import compare_generators, compare_table

__all__ = ["compare_generators", "compare_table"]
