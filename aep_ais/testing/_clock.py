"""`FakeClock`: virtual time for tests, the emulator and benchmarks."""

from __future__ import annotations

import random

import anyio.lowlevel

__all__ = ["FakeClock"]


class FakeClock:
    """A `Clock` whose time moves only when someone sleeps on it (or calls `advance`).

    `sleep(s)` yields to the event loop once, then moves time forward to the moment the
    sleep would have ended, if that is later than the current time. Tasks that sleep
    concurrently therefore share virtual time instead of adding their waits together.
    Every sleep is recorded in `sleeps`. `random()` draws from a seeded generator, or
    returns `fixed_random` when that is set (handy for exact backoff tables).
    """

    # Time stands still while a request is in flight: the SDK sets no real timer by it.
    virtual = True

    def __init__(
        self,
        *,
        start: float = 0.0,
        epoch: float = 1_750_000_000.0,
        seed: int = 0,
        fixed_random: float | None = None,
    ) -> None:
        self._now = float(start)
        self._epoch = float(epoch)
        self._random = random.Random(seed)
        self.fixed_random = fixed_random
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Virtual seconds since `start`."""
        return self._now

    def time(self) -> float:
        """`epoch` plus the virtual time: a wall clock that moves with `now()`."""
        return self._epoch + self._now

    def random(self) -> float:
        """`fixed_random` if set, else a draw from the seeded generator."""
        if self.fixed_random is not None:
            return self.fixed_random
        return self._random.random()

    async def sleep(self, seconds: float) -> None:
        """Yield once, then move time to when this sleep would have ended."""
        seconds = max(0.0, float(seconds))
        self.sleeps.append(seconds)
        wake_at = self._now + seconds
        # Yield first, so cancellation lands here and concurrent sleepers overlap.
        await anyio.lowlevel.checkpoint()
        if wake_at > self._now:
            self._now = wake_at

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now:g})"
