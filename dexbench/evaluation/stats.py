"""Confidence intervals for success rates."""

from __future__ import annotations


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (sensible at 0 % and 100 %, unlike the
    normal approximation), via scipy."""
    from scipy.stats import binomtest

    if n < 1:
        raise ValueError("need at least one episode for an interval")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return round(float(ci.low), 4), round(float(ci.high), 4)
