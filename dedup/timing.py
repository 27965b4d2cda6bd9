"""The clock of a run: stage timings (``runs.timings``), the run's timestamps, and documents'
dates as seconds since the epoch (for ``--canonical earliest``)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from .sources.records import parse_date

T = TypeVar("T")


class Timer:
    """Seconds spent in each named stage of a run, in the order they ran.

    >>> timer = Timer()
    >>> with timer.stage("read"):
    ...     pass
    >>> timer.run("sign", lambda: 42), list(timer.timings)
    (42, ['read', 'sign'])
    """

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 4)

    def run(self, name: str, fn: Callable[[], T]) -> T:
        """``fn()`` timed as stage ``name`` (for engines whose stage is one call, such as a
        Spark action)."""
        with self.stage(name):
            return fn()


def now() -> str:
    """The current UTC time as ISO 8601 with milliseconds, as runs store it."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def epoch(date: str | None) -> float:
    """A document's date as seconds since the epoch, NaN when it has none or it cannot be read
    (JSONL dates were checked on reading; a WARC-Date is trusted to be ISO 8601).

    >>> epoch("1970-01-02"), math.isnan(epoch(None)), math.isnan(epoch("soon"))
    (86400.0, True, True)
    """
    try:
        value = parse_date(date)
    except (ValueError, TypeError, OverflowError):
        return math.nan
    return math.nan if value is None else value
