"""Which results the leaderboards rank: at least `MIN_RANKED_EPISODES` episodes on the published
evaluation seeds of the env id, in one of the benchmark's test sets: the env as registered, or
with the objects drawn per episode (`object_variants="random"`, the flywheel's held-out set; its
results are ranked among themselves). Others (fewer episodes, custom seeds, an env made with
other kwargs, such as a longer horizon) are valid and still shown, apart, as their rates are not
comparable: a few lucky episodes, or an easier env, must not outrank a careful evaluation.
"""

from __future__ import annotations

from typing import Any

MIN_RANKED_EPISODES = 50
TEST_SETS = {"": {}, "objects varied": {"object_variants": "random"}}  # name -> the env kwargs


def test_set(result: dict[str, Any]) -> str | None:
    """The name of the test set a result was evaluated on ("" for the env as registered), or None
    when its env kwargs are none of the benchmark's."""
    kwargs = result.get("env_kwargs") or {}
    return next((name for name, wanted in TEST_SETS.items() if kwargs == wanted), None)


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
    if test_set(result) is None:
        reasons.append(f"an env made with {result.get('env_kwargs')}: not a benchmark test set")
    return "; ".join(reasons)
