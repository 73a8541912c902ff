"""Tests for describe."""

import math

import pytest

from utilities.functions.numbers import Summary, describe


def test_describe_basic() -> None:
    """A small list gives the expected count, mean, median, stdev, min and max."""
    result = describe([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert result.count == 8
    assert result.mean == 5.0
    assert result.median == 4.5
    assert result.stdev == pytest.approx(2.138089935299395)
    assert result.min == 2.0
    assert result.max == 9.0


def test_describe_odd_length_median() -> None:
    """The median of an odd-length list is its middle value."""
    assert describe([3.0, 1.0, 2.0]).median == 2.0


def test_describe_single_value_has_zero_stdev() -> None:
    """A single value has stdev 0.0 and is its own mean, median, min and max."""
    assert describe([-1.5]) == Summary(
        count=1, mean=-1.5, median=-1.5, stdev=0.0, min=-1.5, max=-1.5
    )


def test_describe_accepts_ints_when_called_directly() -> None:
    """Integers are treated as floats."""
    result = describe([1, 2, 3, 4])
    assert result.mean == 2.5
    assert isinstance(result.median, float)


def test_describe_huge_values_do_not_overflow_mean_or_median() -> None:
    """Mean and median of huge equal values stay finite."""
    result = describe([1.7e308, 1.7e308, 1.7e308, 1.7e308])
    assert result.mean == 1.7e308
    assert result.median == 1.7e308
    assert result.stdev == 0.0


def test_describe_overflowing_stdev_is_value_error() -> None:
    """A standard deviation beyond the float range raises ValueError."""
    with pytest.raises(ValueError, match="too large to summarise"):
        describe([1.7e308, -1.7e308])


def test_describe_empty_is_value_error() -> None:
    """An empty list raises ValueError."""
    with pytest.raises(ValueError, match="empty"):
        describe([])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_describe_non_finite_is_value_error(bad: float) -> None:
    """NaN or infinite values raise ValueError."""
    with pytest.raises(ValueError, match="finite"):
        describe([1.0, bad])


def test_describe_int_too_large_for_float_is_value_error() -> None:
    """An integer too large for a float raises ValueError, not OverflowError."""
    with pytest.raises(ValueError, match="too large"):
        describe([10**400])
