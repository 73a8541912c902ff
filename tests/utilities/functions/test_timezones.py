"""Tests for convert_timezone."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from utilities.functions.timezones import convert_timezone

NOON_UTC_SUMMER = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
NOON_UTC_WINTER = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)


def test_convert_applies_summer_time() -> None:
    """Europe/Paris is UTC+2 in July."""
    result = convert_timezone(NOON_UTC_SUMMER, "Europe/Paris")
    assert result == NOON_UTC_SUMMER
    assert (result.hour, result.utcoffset()) == (14, timedelta(hours=2))


def test_convert_applies_winter_time() -> None:
    """America/New_York is UTC-5 in January."""
    result = convert_timezone(NOON_UTC_WINTER, "America/New_York")
    assert (result.hour, result.utcoffset()) == (7, timedelta(hours=-5))


def test_convert_from_fixed_offset_keeps_instant() -> None:
    """A moment with a non-UTC offset is converted as the same instant."""
    moment = datetime(
        2024, 3, 10, 23, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    result = convert_timezone(moment, "UTC")
    assert result == moment
    assert (result.day, result.hour, result.minute) == (10, 18, 0)


def test_naive_moment_is_value_error() -> None:
    """A datetime without an offset raises ValueError."""
    with pytest.raises(ValueError, match="offset"):
        convert_timezone(datetime(2024, 1, 1, 12, 0), "UTC")


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus_Mons",
        "europe/paris",
        "Europe/Paris/",
        "America",
        "../etc/passwd",
        "/etc/passwd",
        "a\x00b",
        "zone.tab",
        " ",
        ".",
    ],
)
def test_unknown_zone_is_value_error(zone: str) -> None:
    """Unknown or malformed zone names raise ValueError naming the zone."""
    with pytest.raises(ValueError, match="unknown time zone") as info:
        convert_timezone(NOON_UTC_SUMMER, zone)
    assert repr(zone) in str(info.value)


@pytest.mark.parametrize("zone", ["", "A" * 65])
def test_zone_name_length_is_value_error(zone: str) -> None:
    """An empty or over-long zone name raises ValueError."""
    with pytest.raises(ValueError, match="to_zone"):
        convert_timezone(NOON_UTC_SUMMER, zone)


def test_result_out_of_range_is_value_error() -> None:
    """A conversion past year 9999 raises ValueError instead of OverflowError."""
    with pytest.raises(ValueError, match="range"):
        convert_timezone(datetime.max.replace(tzinfo=UTC), "Asia/Tokyo")
