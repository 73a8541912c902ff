"""Tests for the cooperative progress channel."""

import pytest

from utilities.functions.progress import report_progress, reporting_to


class _Cancelled(Exception):
    """Raised by a test callback to cancel work."""


def test_report_without_listener_is_noop() -> None:
    """report_progress does nothing when no callback is installed."""
    report_progress(0.5)


def test_reports_reach_installed_callback() -> None:
    """Fractions reported inside the with block reach the callback."""
    seen: list[float] = []
    with reporting_to(seen.append):
        report_progress(0.25)
        report_progress(0.75)
    assert seen == [0.25, 0.75]


def test_fraction_is_clamped() -> None:
    """Fractions below 0, above 1 or NaN are clamped into 0..1."""
    seen: list[float] = []
    with reporting_to(seen.append):
        report_progress(-3.0)
        report_progress(7.5)
        report_progress(float("nan"))
    assert seen == [0.0, 1.0, 0.0]


def test_callback_removed_after_block() -> None:
    """The callback is uninstalled when the with block ends, even on error."""
    seen: list[float] = []
    with pytest.raises(_Cancelled), reporting_to(seen.append):
        raise _Cancelled
    report_progress(0.5)
    assert seen == []


def test_nested_blocks_restore_outer_callback() -> None:
    """An inner reporting_to block shadows the outer one only while it lasts."""
    outer: list[float] = []
    inner: list[float] = []
    with reporting_to(outer.append):
        with reporting_to(inner.append):
            report_progress(0.1)
        report_progress(0.2)
    assert inner == [0.1]
    assert outer == [0.2]


def test_callback_exception_propagates() -> None:
    """An exception raised by the callback propagates out of report_progress."""

    def cancel(fraction: float) -> None:
        raise _Cancelled(fraction)

    with reporting_to(cancel), pytest.raises(_Cancelled):
        report_progress(0.5)
