"""Scripted source demonstrators, one per task, written against the public env API only
(`base.py`: the machinery; `<task>.py`: each task's script), found by `demonstrators.py`; the
`scripted` generator that runs them is `generator.py`.
"""

from dexbench.generators.scripted.base import ScriptedDemonstrator, demonstrator_rng
from dexbench.generators.scripted.demonstrators import DEMONSTRATORS, make_demonstrator

__all__ = ["DEMONSTRATORS", "ScriptedDemonstrator", "demonstrator_rng", "make_demonstrator"]
