"""Durations kept as histograms of fixed log-spaced buckets, so a period's median and p90 are
a sum of the days' buckets (flat in the period's length) instead of a sort of every value.

The buckets: [0, 1) seconds is bucket 0; bucket b >= 1 holds [RATIO**(b-1), RATIO**b). A
bucket stands for the harmonic mean of its bounds, which is within (RATIO-1)/(RATIO+1) =
1.96% of every value in it. A period's percentile is interpolated between the two ranks
around it as `percentile_cont` does, each rank read as its bucket's value, so the result is
within ERROR_BOUND (relative) or HALF_SECOND (absolute, under one second) of the exact one.
Each day's own median and p90 stay exact (computed from the day's values in the rollup).
"""

from __future__ import annotations

import json
import math

RATIO = 1.04
ERROR_BOUND = (RATIO - 1) / (RATIO + 1)  # 0.0196: relative
HALF_SECOND = 0.5  # absolute, for durations under one second (bucket 0 stands for 0.5 s)


def bucket_sql(value: str) -> str:
    """The bucket of a duration column, in SQL (the same rule as `bucket`)."""
    return f"(CASE WHEN {value} < 1 THEN 0 ELSE floor(ln({value}) / ln({RATIO}))::int + 1 END)"


def histogram_sql(values: str) -> str:
    """A float8[] of durations as a jsonb histogram {"bucket": count}, '{}' when empty."""
    return (
        f"COALESCE((SELECT jsonb_object_agg(b, n) FROM (SELECT {bucket_sql('v')} AS b, count(*) AS n "
        f"FROM unnest({values}) AS v GROUP BY 1) buckets), '{{}}'::jsonb)"
    )


def bucket(value: float) -> int:
    return 0 if value < 1 else math.floor(math.log(value) / math.log(RATIO)) + 1


def bucket_value(index: int) -> float:
    if index <= 0:
        return HALF_SECOND
    low, high = RATIO ** (index - 1), RATIO ** index
    return 2 * low * high / (low + high)


def merge(into: dict[int, int], histogram: dict | str) -> dict[int, int]:
    if isinstance(histogram, str):  # jsonb read by a raw cursor comes as text under Django
        histogram = json.loads(histogram)
    for index, count in histogram.items():
        into[int(index)] = into.get(int(index), 0) + int(count)
    return into


def percentiles(histogram: dict[int, int], fractions=(0.5, 0.9)) -> list[float | None]:
    """`percentile_cont` of the values behind `histogram`, within the bound above."""
    total = sum(histogram.values())
    if not total:
        return [None] * len(fractions)
    ordered = sorted((index, count) for index, count in histogram.items() if count)

    def at(rank: int) -> float:  # the value of the rank-th smallest duration (0-based)
        seen = 0
        for index, count in ordered:
            seen += count
            if rank < seen:
                return bucket_value(index)
        return bucket_value(ordered[-1][0])

    results = []
    for fraction in fractions:
        position = fraction * (total - 1)
        low, high = math.floor(position), math.ceil(position)
        below, above = at(low), at(high)
        results.append(below + (above - below) * (position - low))
    return results
