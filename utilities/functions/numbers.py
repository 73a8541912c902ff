"""Descriptive statistics for a list of numbers."""

import math
import statistics
from typing import Annotated

from pydantic import BaseModel, Field

MAX_COUNT = 1_000_000

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Summary(BaseModel):
    """Summary statistics of a list of numbers."""

    count: int
    mean: float
    median: float
    stdev: float
    min: float
    max: float


def describe(
    numbers: Annotated[list[FiniteFloat], Field(min_length=1, max_length=MAX_COUNT)],
) -> Summary:
    """Summarise a list of numbers: count, mean, median, standard deviation, min and max.

    `stdev` is the sample standard deviation (divisor n - 1); for a single
    number it is 0.0. The list must hold 1 to 1,000,000 finite numbers (no NaN
    or infinity). Mean and median are always representable; if the spread of
    values near the floating-point limit (about 1.8e308) is so large that the
    standard deviation would overflow, the request is rejected.
    """
    if len(numbers) > MAX_COUNT:
        raise ValueError(
            f"at most {MAX_COUNT} numbers can be summarised, got {len(numbers)}"
        )
    try:
        values = [float(x) for x in numbers]
    except OverflowError:
        raise ValueError(
            "numbers must be finite floats; a value is too large"
        ) from None
    if not values:
        raise ValueError("numbers must not be empty")
    if not all(map(math.isfinite, values)):
        raise ValueError("numbers must be finite (no NaN or infinity)")

    try:
        mean = statistics.fmean(values)
    except OverflowError:
        mean = math.inf
    if not math.isfinite(mean):
        # The float sum overflowed; compute the mean exactly (slower, always finite here).
        mean = statistics.mean(values)

    ordered = sorted(values)
    median = statistics.median(ordered)  # re-sorting sorted data is cheap
    if not math.isfinite(median):
        # (low + high) / 2 overflowed for two huge middle values; halve them first.
        middle = len(ordered) // 2
        median = ordered[middle - 1] / 2 + ordered[middle] / 2

    try:
        stdev = statistics.stdev(values) if len(values) > 1 else 0.0
    except OverflowError:
        stdev = math.inf

    result = (mean, median, stdev)
    if not all(map(math.isfinite, result)):
        raise ValueError(
            "the numbers are too large to summarise (a result overflows a float)"
        )
    return Summary(
        count=len(values),
        mean=mean,
        median=median,
        stdev=stdev,
        min=ordered[0],
        max=ordered[-1],
    )
