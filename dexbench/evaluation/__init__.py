"""Evaluation: published seeds, policy rollouts with workers, result JSON, generator comparison."""

from dexbench.evaluation.evaluate import (
    evaluate,
    result_table,
    run_episode,
    write_result,
)
from dexbench.evaluation.seeds import eval_seeds
from dexbench.evaluation.stats import wilson_interval

__all__ = ["eval_seeds", "evaluate", "result_table", "run_episode", "wilson_interval", "write_result"]
