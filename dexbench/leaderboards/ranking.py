"""Which results the leaderboards rank: at least `MIN_RANKED_EPISODES` episodes on the published
evaluation seeds of the env id. Others (fewer episodes, custom seeds) are valid and still shown,
apart, as their rates are not comparable: a few lucky episodes must not outrank a careful
evaluation.
"""

from __future__ import annotations

from typing import Any

MIN_RANKED_EPISODES = 50


def published_seeds(env_id: str, n: int) -> list[int]:
    """The benchmark's first `n` evaluation seeds of an env id (KeyError: none published for the
    id, ValueError: fewer than `n`). Imported late: evaluation is heavier than the boards."""
    from dexbench.evaluation.seeds import eval_seeds

    return list(eval_seeds(env_id, n))


def unranked_reason(result: dict[str, Any]) -> str:
    """Why a checked eval result is left out of the ranking, "" when it is ranked."""
    n, seeds = result["num_episodes"], result["seeds"]["values"]
    reasons = []
    if n < MIN_RANKED_EPISODES:
        reasons.append(f"{n} episode{'s' if n != 1 else ''}, under {MIN_RANKED_EPISODES}")
    try:
        published = seeds == published_seeds(result["env_id"], len(seeds))
    except (KeyError, ValueError):
        published = False
    if not published:
        reasons.append("not the published seeds")
    return "; ".join(reasons)
