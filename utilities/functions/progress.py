"""Cooperative progress reporting and cancellation for long-running functions."""

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

ProgressCallback = Callable[[float], None]

_callback: ContextVar[ProgressCallback | None] = ContextVar(
    "progress_callback", default=None
)


def report_progress(fraction: float) -> None:
    """Report how much of the current piece of work is done, as a fraction from 0 to 1.

    The fraction is clamped to 0..1 (NaN counts as 0) and passed to the callback
    installed with `reporting_to`; without one this does nothing. An exception
    raised by the callback (used to cancel a job cooperatively) propagates.
    """
    callback = _callback.get()
    if callback is not None:
        callback(0.0 if math.isnan(fraction) else min(1.0, max(0.0, fraction)))


@contextmanager
def reporting_to(callback: ProgressCallback) -> Iterator[None]:
    """Send `report_progress` calls made inside the `with` block to `callback`."""
    token = _callback.set(callback)
    try:
        yield
    finally:
        _callback.reset(token)


def call_forwarding_progress(
    func: Callable[..., object], kwargs: dict[str, object], sink: Any
) -> object:
    """Call `func(**kwargs)`, putting its progress reports on `sink` (a queue).

    Runs in a pool worker process, where the job's own callback cannot reach.
    """
    with reporting_to(sink.put):
        return func(**kwargs)
