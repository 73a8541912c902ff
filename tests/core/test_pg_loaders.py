"""Timestamps come back as Django's own loader gives them, parsed in C (core/db/loaders.py)."""

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg import pq

from core.db.loaders import TIMESTAMPTZ_OID, TimestamptzLoader

pytestmark = [pytest.mark.django_db, pytest.mark.requires("postgresql")]

VALUES = [
    "2026-12-04 23:54:21.939123+00",
    "2026-06-30 12:00:00+02",  # another offset: converted, not relabelled
    "1999-12-31 23:59:59.999999-11",
    "0001-01-01 00:00:00+00",
]


def _loaders() -> tuple[TimestamptzLoader, BaseTzLoader]:
    assert connection.connection is not None
    adapters = connection.connection.adapters
    ours = adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)
    assert ours is not None
    assert issubclass(ours, TimestamptzLoader)

    class Djangos(BaseTzLoader):  # type: ignore[misc]  # untyped in the stubs
        timezone = connection.timezone

    return ours(TIMESTAMPTZ_OID, connection.connection), Djangos(
        TIMESTAMPTZ_OID, connection.connection
    )


def test_connections_load_timestamps_with_the_fast_loader() -> None:
    """Every PostgreSQL connection gets it, in Django's time zone (UTC)."""
    connection.ensure_connection()
    ours, _ = _loaders()

    assert ours.timezone == connection.timezone == datetime.UTC


@pytest.mark.parametrize("text", VALUES)
def test_a_timestamp_loads_as_djangos_loader_loads_it(text: str) -> None:
    """Same instant, same tzinfo, same digits, whatever the offset sent."""
    connection.ensure_connection()
    ours, djangos = _loaders()
    with connection.cursor() as cursor:  # as the server writes it, in UTC
        cursor.execute("SELECT %s::timestamptz::text", [text])
        (sent,) = cursor.fetchone()

    mine, theirs = ours.load(sent.encode()), djangos.load(sent.encode())

    assert mine == theirs
    assert mine.tzinfo is theirs.tzinfo
    assert mine.isoformat() == theirs.isoformat()


def test_a_query_reads_aware_timestamps_through_it() -> None:
    """A query returns the stored instant, aware, in UTC."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2026-06-30 12:00:00.5+02'::timestamptz")
        (value,) = cursor.fetchone()

    assert value == datetime.datetime(
        2026, 6, 30, 10, 0, 0, 500000, tzinfo=datetime.UTC
    )
    assert value.tzinfo is datetime.UTC
