"""`RateLimit`: a request rate shared by a client and its views, slowed down by 429s.

`Limiter` paces requests with a token bucket on the client's clock and keeps a one-second
window: never more than `per_second` requests in any second (plus a margin for the way to
the server). Its rate starts at `per_second`; a 429 cuts it by `decrease` (at most once a
second, so a burst of 429s answering requests sent together counts once) and pauses every
sender for the answer's `Retry-After`; then the rate climbs back by
`per_second * recovery` per second until it is `per_second` again (additive increase,
multiplicative decrease). Waiters are served in turn under one anyio lock, so it works
under asyncio and trio alike, and a cancelled waiter gives its turn up.
"""

from __future__ import annotations

import math
from collections import deque
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
    """At most `per_second` requests in any second, `burst` at once, for a client.

    Requests go `1 / per_second` apart, up to `burst` at once after a quiet spell, and
    never more than `per_second` (rounded up) of them in any stretch of one second plus
    `margin` seconds: a server that counts requests over a one-second window sees each one
    a little after it left, and `margin` covers how much that delay varies (50 ms by
    default; raise it for a jittery network). `burst` is at most `per_second` rounded up,
    since a server counting a second refuses more. A turn whose sleep ends late on a busy
    event loop costs the next request nothing (up to one interval), so the pace holds
    under load; a stall of the whole process while requests queue (a long garbage
    collection) is seen, and the requests it held up are counted from its end.

    One limiter serves the client and every view of it (`with_options`). After a 429 the
    rate drops to `decrease` times itself (never below `per_second * floor`) and every
    request waits out the answer's `Retry-After`; it then grows back by
    `per_second * recovery` each second up to `per_second`. Off unless given:
    `AISClient(rate_limit=RateLimit(per_second=50))`.
    """

    per_second: float = field(validator=_number(0.0, 10_000.0))
    burst: int = field(default=1)
    decrease: float = field(default=0.5, validator=_number(0.0, 1.0))
    recovery: float = field(default=0.05, validator=_number(0.0))
    floor: float = field(default=0.05, validator=_number(0.0, 1.0))
    margin: float = field(default=0.05, validator=_number(0.0, 1.0, above=False))

    @burst.validator
    def _check_burst(self, attribute: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError("burst", f"must be a whole number of at least 1, got {value!r}")
        most = math.ceil(self.per_second)
        if value > most:
            raise ValidationError(
                "burst",
                f"must be at most per_second rounded up ({most}): a server allowing "
                f"{self.per_second:g} requests a second refuses more at once, got {value!r}",
            )


RateLimit.__module__ = "aep_ais"


class Limiter:
    """The schedule of one `RateLimit`, on one clock.

    Two rules decide when a request may go:

    - a token bucket: tokens come at `rate` a second (none while paused after a 429), a
      request takes one, and a quiet limiter holds at most `burst`. While requests wait
      their turn it may hold one more: a sleep that ends late (a busy event loop wakes
      sleepers late) then costs the next request nothing, where it used to push every
      later request back by the delay. More than one interval of lateness is lost, so a
      stalled loop never lets a bunch go; nor do tokens saved while the window held
      requests back.
    - a window: never more than `ceil(per_second)` requests in any stretch of one second
      plus `margin` (a server that counts a one-second window sees each request a little
      after it left; the margin covers how much that delay varies, and a longer stall of
      the process is seen and allowed for: `_after_stall`).
    """

    def __init__(self, policy: RateLimit, clock: Clock) -> None:
        self.policy = policy
        self.clock = clock
        self.rate = float(policy.per_second)
        self._tokens = float(policy.burst)
        self._stamp = clock.now()
        self._waiting = 0  # requests inside `acquire`
        self._expected = math.inf  # when the next turn is due, if one is
        self._ran_at = -math.inf  # when the limiter last ran before that turn
        self._sent: deque[float] = deque(maxlen=math.ceil(policy.per_second))
        self._paused_until = -math.inf
        self._last_cut = -math.inf
        self._lock: anyio.Lock | None = None
        self.throttled = 0  # 429s seen

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        # No tokens come while paused after a 429: the pause ends without a burst.
        earned = max(0.0, now - max(self._stamp, self._paused_until))
        self._stamp = now
        target = self.policy.per_second
        if self.rate < target:
            self.rate = min(target, self.rate + target * self.policy.recovery * elapsed)
        # One token more than the burst only for time that requests spent waiting their
        # turn: that is the lateness of their wake-ups, made up.
        cap = self.policy.burst + (1 if self._waiting > 0 else 0)
        self._tokens = min(float(cap), self._tokens + earned * self.rate)

    async def acquire(self) -> None:
        """Wait for this request's turn."""
        if self._lock is None:
            self._lock = anyio.Lock()
        # Time until now was quiet (no one waiting): it fills the bucket up to `burst`.
        self._refill(self.clock.now())
        self._waiting += 1
        try:
            async with self._lock:
                held = False  # by the window
                while True:
                    now = self.clock.now()
                    self._after_stall(now)
                    self._refill(now)
                    due = self._paused_until
                    if self._tokens < 1.0 - 1e-9:
                        due = max(due, now + (1.0 - self._tokens) / self.rate)
                    if len(self._sent) == self._sent.maxlen:
                        window_due = self._sent[0] + 1.0 + self.policy.margin
                        held = held or window_due > max(due, now)
                        due = max(due, window_due)
                    # (1e-9: float sums of intervals land a hair short of a whole token.)
                    if now >= due - 1e-9:
                        if held:
                            # Tokens saved while the window held requests back are no
                            # burst: the window's second freeing up is no quiet spell.
                            self._tokens = min(self._tokens, 1.0)
                        self._tokens = max(0.0, self._tokens - 1.0)
                        self._sent.append(now)
                        # A request queued behind this one takes its turn at once: if it
                        # comes late, the process stalled (see `_after_stall`).
                        self._expected = now if self._waiting > 1 else math.inf
                        self._ran_at = now
                        return
                    self._expected, self._ran_at = due, now
                    await self.clock.sleep(due - now)
        finally:
            self._waiting -= 1
            if not self._waiting:
                # Quiet: no turn is due, and a stall from now on cannot be told.
                self._expected = math.inf

    def _after_stall(self, now: float) -> None:
        """Count requests a stall may have held up as sent that much later.

        The limiter knows when it should run next: a sleeper when its sleep ends, a
        request queued behind one let go at once. Running later than that by more than a
        quarter of `margin` means the process stalled (a long garbage collection, a
        starved CPU), and requests let go shortly before the limiter last ran may have
        been held up as long on their way out: the server counts them that much later.
        The window counts them so too, so that the requests let go a second after them
        cannot meet them in the server's window. While no request waits, no turn is due
        and a stall cannot be told (nor does the window bind).
        """
        if self._expected == math.inf:
            return
        late, self._expected = now - self._expected, math.inf
        if late <= self.policy.margin / 4:
            return
        sent, since = self._sent, self._ran_at - self.policy.margin
        # The newest ones, at the end: moved together, they stay in order, and none
        # passes `now` (none was let go after the limiter last ran).
        for i in range(len(sent) - 1, -1, -1):
            if sent[i] < since:
                break
            sent[i] += late

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
        # No burst after a 429: the next request waits a whole token at the new rate.
        self._tokens = min(self._tokens, 0.0)
        if retry_after is not None and retry_after > 0:
            self._paused_until = max(self._paused_until, now + min(retry_after, 120.0))
