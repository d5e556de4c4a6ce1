"""Retry and polling policies, their backoff maths, `Retry-After` parsing and the `Clock`.

Every wait and every backoff in the SDK goes through a `Clock`, so tests (and the emulator)
can run on virtual time instead of sleeping for real.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import time
from typing import Any, Protocol, runtime_checkable

import anyio
from attrs import field, frozen

from ._errors import ValidationError

__all__ = [
    "Clock",
    "PollPolicy",
    "RetryPolicy",
    "SystemClock",
    "parse_retry_after",
]


@runtime_checkable
class Clock(Protocol):
    """Time, sleep and randomness, as the SDK sees them.

    `now()` is a monotonic reading in seconds, `time()` the wall clock as epoch seconds,
    `sleep()` waits, and `random()` gives a float in `[0, 1)` for jitter. A clock whose
    time stands still while requests are in flight (a fake one) sets `virtual = True`;
    otherwise a wait's deadline is also enforced as a real timeout on its requests.
    """

    def now(self) -> float:
        """A monotonic reading in seconds (only differences between readings mean anything)."""
        ...

    def time(self) -> float:
        """The wall clock as epoch seconds (to read `Retry-After` dates and stamp records)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`; cancellable like any other await."""
        ...

    def random(self) -> float:
        """A uniform draw from `[0, 1)`, for jitter."""
        ...


class SystemClock:
    """The real clock: `time.monotonic`, `anyio.sleep` and a (seedable) `random.Random`."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def now(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    def time(self) -> float:
        """`time.time()`."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """`anyio.sleep`, never negative."""
        await anyio.sleep(max(0.0, seconds))

    def random(self) -> float:
        """A draw from this clock's own `random.Random` (seeded if a seed was given)."""
        return self._random.random()

    def __repr__(self) -> str:
        return "SystemClock()"


Clock.__module__ = "aep_ais"
SystemClock.__module__ = "aep_ais"


def _number(low: float, high: float = math.inf, *, above: bool = False, whole: bool = False) -> Any:
    """An attrs validator: a real (or `whole`) number from `low` (or above it) to `high`."""
    if whole:
        wanted = f"a whole number from {low:g} up"
    elif above:
        wanted = f"a number above {low:g}"
    else:
        wanted = f"a number from {low:g}" + (f" to {high:g}" if high < math.inf else " up")

    def check(instance: object, attribute: Any, value: Any) -> None:
        ok = (
            isinstance(value, int if whole else int | float)
            and not isinstance(value, bool)
            and not math.isnan(value)
            and (value > low if above else value >= low)
            and value <= high
        )
        if not ok:
            raise ValidationError(attribute.name, f"must be {wanted}, got {value!r}")

    return check


_non_negative = _number(0.0)


def _capped_growth(start: float, factor: float, n: int, cap: float) -> float:
    """`min(cap, start * factor ** n)`, without a float overflow for large `n`."""
    if start <= 0.0:
        return 0.0
    try:
        return min(cap, start * factor**n)
    except OverflowError:
        return cap


@frozen(kw_only=True)
class RetryPolicy:
    """How requests are retried after transient failures.

    `max_attempts` counts the first try. The wait before retry `n` (1-based) is drawn
    uniformly from `[0, min(max_backoff, backoff * 2 ** (n - 1))]` ("full jitter"). A
    `Retry-After` from the server replaces that draw, capped at `max_retry_after`.
    """

    max_attempts: int = field(default=4, validator=_number(1, whole=True))
    backoff: float = field(default=0.5, validator=_non_negative)
    max_backoff: float = field(default=30.0, validator=_non_negative)
    max_retry_after: float = field(default=120.0, validator=_non_negative)

    def delay(self, retry_number: int, rand: float, retry_after: float | None = None) -> float:
        """The wait before retry `retry_number` (1-based), given a uniform draw `rand`."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_retry_after)
        ceiling = _capped_growth(self.backoff, 2.0, retry_number - 1, self.max_backoff)
        return ceiling * rand


@frozen(kw_only=True)
class PollPolicy:
    """How a wait polls: intervals, their growth, jitter and the overall deadline.

    The wait before poll `k` (0-based, after the first) is `interval * multiplier ** k`,
    capped at `max_interval`, then scaled by a random factor in `[1 - jitter, 1 + jitter]`
    and capped again. `timeout` (seconds) bounds the whole wait; `None` waits forever.
    """

    # A zero interval would poll in a tight loop: a wait always pauses a little.
    interval: float = field(default=1.0, validator=_number(0.0, above=True))
    multiplier: float = field(default=1.2, validator=_number(1.0))
    max_interval: float = field(default=30.0, validator=_number(0.0, above=True))
    jitter: float = field(default=0.1, validator=_number(0.0, 1.0))
    timeout: float | None = field(default=7200.0)

    @timeout.validator
    def _check_timeout(self, attribute: object, value: float | None) -> None:
        if value is not None:
            _non_negative(self, attribute, value)

    def delay(self, poll_number: int, rand: float) -> float:
        """The wait before poll `poll_number` (0-based), given a uniform draw `rand`."""
        base = _capped_growth(self.interval, self.multiplier, poll_number, self.max_interval)
        factor = 1.0 + self.jitter * (2.0 * rand - 1.0)
        return min(self.max_interval, max(0.0, base * factor))


RetryPolicy.__module__ = "aep_ais"
PollPolicy.__module__ = "aep_ais"


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), or `None`."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            # HTTP dates are always GMT, also in the asctime form that names no zone.
            when = when.replace(tzinfo=datetime.UTC)
        return max(0.0, when.timestamp() - now_epoch)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)
