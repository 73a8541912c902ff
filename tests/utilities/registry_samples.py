"""Typed functions for the registry tests: one per signature shape under test.

They live at module level so that `execution="process"` would accept them and
their qualified names are stable. Annotations are read at run time, so this
module uses no `from __future__ import annotations`.
"""

import threading
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class Point(BaseModel):
    """A point on a grid."""

    x: int
    y: int


class Opaque:
    """A plain class that pydantic has no schema for."""


# Parameters that can be modelled.


def plain_int(x: int) -> int:
    """Return `x`."""
    return x


def int_with_default(x: int = 3) -> int:
    """Return `x`, 3 by default."""
    return x


def bounded_int(x: Annotated[int, Field(ge=1, le=10)]) -> int:
    """Return `x`, between 1 and 10."""
    return x


def short_str(x: Annotated[str, Field(max_length=5)]) -> str:
    """Return `x`, at most five characters."""
    return x


def float_list(x: list[float]) -> float:
    """Return the sum of `x`."""
    return sum(x)


def flag(x: bool) -> bool:
    """Return the negation of `x`."""
    return not x


def optional_str(x: str | None = None) -> str:
    """Return `x`, or the empty string for None."""
    return x or ""


def choice(x: Literal["a", "b"]) -> str:
    """Return `x`, "a" or "b"."""
    return x


def moment(x: datetime) -> str:
    """Return `x` in ISO 8601."""
    return x.isoformat()


def point(x: Point) -> int:
    """Return the sum of the coordinates of `x`."""
    return x.x + x.y


def texts(text: str, items: list[str], mapping: dict[str, str]) -> int:
    """Return how many strings were passed."""
    return 1 + len(items) + len(mapping)


# Return values that can be modelled.


def returns_int_list() -> list[int]:
    """Return the first three natural numbers."""
    return [1, 2, 3]


def returns_point() -> Point:
    """Return the origin."""
    return Point(x=0, y=0)


def returns_optional_str() -> str | None:
    """Return nothing."""
    return None


# Functions the registry must refuse.


def untyped(x) -> int:  # type: ignore[no-untyped-def]  # the missing annotation is the point
    """Return `x`."""
    return int(x)


def star_args(*numbers: int) -> int:
    """Return the sum of `numbers`."""
    return sum(numbers)


def star_kwargs(**options: int) -> int:
    """Return how many options were passed."""
    return len(options)


def positional(x: int, /) -> int:
    """Return `x`."""
    return x


def unreturned(x: int):  # type: ignore[no-untyped-def]  # the missing annotation is the point
    """Return `x`."""
    return x


def locked(x: threading.Lock) -> int:
    """Return 0 whatever the lock."""
    return 0


def opaque(x: Opaque) -> int:
    """Return 0 whatever the object."""
    return 0


def returns_opaque(x: int) -> Opaque:
    """Return a new opaque object."""
    return Opaque()


def private(_private: int) -> int:
    """Return `_private`."""
    return _private


def config(model_config: int) -> int:
    """Return `model_config`."""
    return model_config


def undocumented(x: int) -> int:
    return x


# How functions run.


async def coroutine(x: int) -> int:
    """Return `x`, asynchronously."""
    return x


def documented(x: int) -> int:
    """Return `x` unchanged.

    Everything after the summary line is the description,
    line breaks included.
    """
    return x
