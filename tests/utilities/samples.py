"""Functions that exercise the serving mechanism's edges (served by tests/utilities/urls.py)."""

import asyncio
import os
import time


def boom() -> int:
    """Fail with an unexpected error whose message must not reach the client."""
    raise RuntimeError("secret internal detail")


def wrong_type() -> int:
    """Return something that does not match the declared type."""
    return "not an int"  # type: ignore[return-value]  # the bug under test


def worker_pid() -> int:
    """Return the pid of the process that ran this function."""
    return os.getpid()


def slow(seconds: float) -> float:
    """Sleep in a thread for `seconds`, then return them."""
    time.sleep(seconds)
    return seconds


async def nap(seconds: float) -> float:
    """Sleep on the event loop for `seconds`, then return them."""
    await asyncio.sleep(seconds)
    return seconds


def refuse(reason: str) -> str:
    """Refuse any input with ValueError(reason)."""
    raise ValueError(reason)
