"""`RateLimit`: a request rate shared by a client and its views, slowed down by 429s.

`Limiter` is a token bucket on the client's clock. Its rate starts at `per_second`; a 429
cuts it by `decrease` (at most once a second, so a burst of 429s answering requests
sent together counts once) and pauses every sender for the answer's
`Retry-After`; then the rate climbs back by `per_second * recovery` per second until it
is `per_second` again (additive increase, multiplicative decrease). Senders take slots in
call order and sleep on the clock (anyio), so it works under asyncio and trio alike.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from attrs import field, frozen

from ._errors import ValidationError
from ._policies import Clock

__all__ = ["Limiter", "RateLimit"]

# The window a server counts requests in, with a little room for the time a request
# takes to reach it.
_WINDOW = 1.001


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
    """The schedule of one `RateLimit`, on one clock (a GCRA-style token bucket).

    Each `acquire` takes the next free slot at once (no lock: slots go in call order),
    `1 / rate` after the previous one, or up to `burst - 1` slots in the past after an
    idle spell, and sleeps until it. A sender that wakes a little late does not push the
    later slots back, so sleep overshoot is not lost throughput. A cancelled sender's slot
    is simply unused.
    """

    def __init__(self, policy: RateLimit, clock: Clock) -> None:
        self.policy = policy
        self.clock = clock
        self.rate = float(policy.per_second)
        self._next = -math.inf  # the next free slot (clock.now() seconds)
        self._stamp = clock.now()
        self._last_cut = -math.inf
        self._sent: deque[float] = deque()  # when the last requests went out
        self.throttled = 0  # 429s seen

    def _recover(self, now: float) -> None:
        target = self.policy.per_second
        if self.rate < target:
            elapsed = max(0.0, now - self._stamp)
            self.rate = min(target, self.rate + target * self.policy.recovery * elapsed)
        self._stamp = now

    async def acquire(self) -> None:
        """Wait for this request's slot, then for room in the last second's window."""
        now = self.clock.now()
        self._recover(now)
        slot = max(self._next, now - (self.policy.burst - 1) / self.rate)
        self._next = slot + 1.0 / self.rate
        if slot > now:
            await self.clock.sleep(slot - now)
        # Late wake-ups may bunch up; a server counts requests per second, so a request
        # also waits until fewer than `rate` (plus `burst - 1`) went out in the last one.
        room = max(1, int(self.rate)) + self.policy.burst - 1
        sent = self._sent
        while True:
            now = self.clock.now()
            while len(sent) > room:
                sent.popleft()
            if len(sent) < room or sent[0] <= now - _WINDOW:
                break
            await self.clock.sleep(sent[0] + _WINDOW - now)
        sent.append(now)

    def on_throttled(self, retry_after: float | None) -> None:
        """A 429 came back: slow down, and hold every new slot back for its `Retry-After`."""
        self.throttled += 1
        now = self.clock.now()
        self._recover(now)
        # 429s answering requests sent together are one signal, not many.
        if now - self._last_cut >= max(1.0, 1.0 / self.rate):
            floor = self.policy.per_second * self.policy.floor
            self.rate = max(floor, self.rate * self.policy.decrease)
            self._last_cut = now
        pause = 0.0 if retry_after is None else min(max(retry_after, 0.0), 120.0)
        self._next = max(self._next, now + pause)
