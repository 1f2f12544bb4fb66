"""Which subtask each arm is in, from subtask signals: the runner's record of every attempt and
the name of the subtask a failed attempt got stuck in (one rule for every generator).

An arm's subtask j ends on the first 0 -> 1 edge of its `term_signal` after subtask j - 1 ended
(signals are false at reset, so a signal true after the first action is an edge).
"""

from __future__ import annotations

import numpy as np

from dexbench.envs.embodiments.base import ARMS

FINAL_CHECK = "final:success check"  # every subtask signalled, but the success check failed


def subtask_progress(task_spec, signals: dict[str, np.ndarray], steps: int) -> dict[str, np.ndarray]:
    """Per arm, (T + 1,) int: the index of the subtask the arm was in before action t, and at
    [T] after the last action (signals[name][t] is the value after action t; len(subtasks) once
    all ended)."""
    out = {}
    for arm in ARMS:
        subtasks = task_spec.subtasks.get(arm, ())
        if not subtasks:
            continue
        index = np.zeros(steps + 1, dtype=np.int64)
        j = 0
        for t in range(steps):
            index[t] = j
            if j < len(subtasks):
                values = signals.get(subtasks[j].term_signal)
                if values is not None and values[t] and (t == 0 or not values[t - 1]):
                    j += 1
        index[steps] = j
        out[arm] = index
    return out


def stuck_subtask(task_spec, reached: dict[str, int], signals: dict[str, bool]) -> str:
    """ "<arm>:<subtask>" of the first arm (reference order) whose subtask `reached[arm]` never
    signalled its end, or FINAL_CHECK when every arm got through."""
    for arm in ARMS:
        subtasks = task_spec.subtasks.get(arm, ())
        if not subtasks:
            continue
        j = min(max(reached.get(arm, 0), 0), len(subtasks) - 1)
        if reached.get(arm, 0) < len(subtasks) and not signals.get(subtasks[j].term_signal, False):
            return f"{arm}:{subtasks[j].name}"
    return FINAL_CHECK
