"""Time zone conversion using the IANA time zone database."""

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field

ZONE_NAME_MAX = 64


def convert_timezone(
    moment: AwareDatetime,
    to_zone: Annotated[str, Field(min_length=1, max_length=ZONE_NAME_MAX)],
) -> datetime:
    """Express a moment in another time zone.

    `moment` must carry a UTC offset (e.g. "2024-03-10T12:00:00+01:00" or a
    trailing "Z"); a local time without an offset is rejected. `to_zone` is an
    IANA time zone name such as "Europe/Paris", "America/New_York" or "UTC",
    matched case-sensitively. The result is the same instant with the offset
    that zone uses at that instant (daylight saving time included). An unknown
    zone name, or a result outside the years 1..9999, is an error.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must include a time zone offset")
    if not 1 <= len(to_zone) <= ZONE_NAME_MAX:
        raise ValueError(f"to_zone must be 1 to {ZONE_NAME_MAX} characters long")
    try:
        zone = ZoneInfo(to_zone)
    except (KeyError, ValueError, OSError):
        # ZoneInfoNotFoundError is a KeyError; malformed keys (absolute or
        # escaping paths, NUL bytes, non-TZif files) give ValueError or OSError.
        raise ValueError(f"unknown time zone: {to_zone!r}") from None
    try:
        return moment.astimezone(zone)
    except OverflowError:
        raise ValueError(
            "the converted moment is outside the supported range of years 1..9999"
        ) from None
