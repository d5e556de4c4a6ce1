"""`RateLimit`: a request rate shared by a client and its views, slowed down by 429s.

`Limiter` is a token bucket on the client's clock. Its rate starts at `per_second`; a 429
cuts it by `decrease` (at most once a second, so a burst of 429s answering requests
sent together counts once) and pauses every sender for the answer's
`Retry-After`; then the rate climbs back by `per_second * recovery` per second until it
is `per_second` again (additive increase, multiplicative decrease). Waiters are served in
turn under one anyio lock, so it works under asyncio and trio alike, and a cancelled
waiter gives its turn up.
"""

from __future__ import annotations

import math
from typing import Any

import anyio
from attrs import field, frozen

from ._errors import ValidationError
from ._policies import Clock

__all__ = ["Limiter", "RateLimit"]


def _number(low: float, high: float = math.inf, *, above: bool = True) -> Any:
    def check(instance: object, attribute: object, value: object) -> None:
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and not math.isnan(value)
            and (value > low if above else value >= low)
            and value <= high
        )
        if not ok:
            name = getattr(attribute, "name", "value")
            where = f"above {low:g}" if above else f"from {low:g}"
            raise ValidationError(name, f"must be a number {where} up to {high:g}, got {value!r}")

    return check


@frozen(kw_only=True)
class RateLimit:
    """At most `per_second` requests a second on average, `burst` at once, for a client.

    One limiter serves the client and every view of it (`with_options`). After a 429 the
    rate drops to `decrease` times itself (never below `per_second * floor`) and every
    request waits out the answer's `Retry-After`; it then grows back by
    `per_second * recovery` each second up to `per_second`. Off unless given:
    `AISClient(rate_limit=RateLimit(per_second=50))`.
    """

    per_second: float = field(validator=_number(0.0))
    burst: int = field(default=1)
    decrease: float = field(default=0.5, validator=_number(0.0, 1.0))
    recovery: float = field(default=0.05, validator=_number(0.0))
    floor: float = field(default=0.05, validator=_number(0.0, 1.0))

    @burst.validator
    def _check_burst(self, attribute: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError("burst", f"must be a whole number of at least 1, got {value!r}")


RateLimit.__module__ = "aep_ais"


class Limiter:
    """The token bucket of one `RateLimit`, on one clock."""

    def __init__(self, policy: RateLimit, clock: Clock) -> None:
        self.policy = policy
        self.clock = clock
        self.rate = float(policy.per_second)
        self._tokens = float(policy.burst)
        self._stamp = clock.now()
        self._paused_until = -math.inf
        self._last_cut = -math.inf
        self._lock: anyio.Lock | None = None
        self.throttled = 0  # 429s seen

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        target = self.policy.per_second
        if self.rate < target:
            self.rate = min(target, self.rate + target * self.policy.recovery * elapsed)
        self._tokens = min(float(self.policy.burst), self._tokens + elapsed * self.rate)

    async def acquire(self) -> None:
        """Wait for this request's turn."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            while True:
                now = self.clock.now()
                self._refill(now)
                wait = self._paused_until - now
                if wait <= 0:
                    # Rounding leaves 0.999...: a wait for the rest would be too short to
                    # move a clock forward.
                    if self._tokens >= 1.0 - 1e-9:
                        self._tokens = max(0.0, self._tokens - 1.0)
                        return
                    wait = (1.0 - self._tokens) / self.rate
                await self.clock.sleep(wait)

    def on_throttled(self, retry_after: float | None) -> None:
        """A 429 came back: slow down, and pause everyone for its `Retry-After`."""
        self.throttled += 1
        now = self.clock.now()
        self._refill(now)
        # 429s answering requests sent together are one signal, not many.
        if now - self._last_cut >= max(1.0, 1.0 / self.rate):
            floor = self.policy.per_second * self.policy.floor
            self.rate = max(floor, self.rate * self.policy.decrease)
            self._last_cut = now
        self._tokens = min(self._tokens, 0.0)
        if retry_after is not None and retry_after > 0:
            self._paused_until = max(self._paused_until, now + min(retry_after, 120.0))
