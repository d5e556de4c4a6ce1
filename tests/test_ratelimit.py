"""`RateLimit`: paced on the client's clock, a one-second window kept, slowed by 429s (AIMD)."""

from __future__ import annotations

import bisect
import itertools

import anyio
import pytest

from aep_ais import RateLimit, ValidationError
from aep_ais._ratelimit import Limiter
from aep_ais.testing import FakeClock


async def _send(limiter: Limiter, clock: FakeClock, n: int) -> list[float]:
    times: list[float] = []
    for _ in range(n):
        await limiter.acquire()
        times.append(clock.now())
    return times


async def _send_together(limiter: Limiter, clock: FakeClock, n: int) -> list[float]:
    """When each of `n` requests queued at once is let go, in turn."""
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        times.append(clock.now())

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return times


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_second": 0},
        {"per_second": -1},
        {"per_second": 5, "burst": 0},
        {"per_second": 5, "decrease": 1.5},
        {"per_second": float("nan")},
        {"per_second": 5, "margin": -0.01},
        {"per_second": 5, "margin": float("nan")},
        {"per_second": 5, "margin": 2.0},
        {"per_second": float("inf")},
        {"per_second": 1e19},
        # More at once than a server counting a second takes.
        {"per_second": 2, "burst": 3},
        {"per_second": 0.5, "burst": 2},
    ],
)
def test_nonsense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RateLimit(**kwargs)  # type: ignore[arg-type]


async def test_paces_requests_at_the_rate_after_the_burst() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=10, burst=3, margin=0), clock)
    times = await _send(limiter, clock, 10)
    assert times[:3] == [0.0, 0.0, 0.0]
    gaps = [b - a for a, b in itertools.pairwise(times[3:])]
    assert all(g == pytest.approx(0.1) for g in gaps)
    assert times[-1] == pytest.approx(0.7)


async def test_never_more_than_the_rate_in_one_second_plus_the_margin() -> None:
    # The burst is taken after a quiet spell, not on top of a full second: a server that
    # counts a one-second window would refuse the 11th request of one second.
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=10, burst=3, margin=0.05), clock)
    times = await _send(limiter, clock, 23)
    assert times[:10] == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    # Held back by the window, then paced: the window's second freeing up is no quiet
    # spell, so no burst again (once the three of the first instant came back together).
    assert times[10:13] == pytest.approx([1.05, 1.15, 1.25])
    gaps = [b - a for a, b in itertools.pairwise(times[10:])]
    assert min(gaps) == pytest.approx(0.1)
    assert _most_in_a_window(times, 1.05) == 10


def _most_in_a_window(times: list[float], width: float) -> int:
    """The most of `times` (sorted) in any stretch `[t, t + width)`."""
    return max(bisect.bisect_left(times, t + width - 1e-9) - i for i, t in enumerate(times))


class LateClock(FakeClock):
    """A fake clock whose sleeps end late, as they do on a busy event loop."""

    def __init__(self, late: float, *, jitter: bool = False) -> None:
        super().__init__(seed=3)
        self.late, self.jitter = late, jitter

    async def sleep(self, seconds: float) -> None:
        late = self.late * self.random() if self.jitter else self.late
        await super().sleep(seconds + late)


async def test_late_wake_ups_are_made_up() -> None:
    # Every sleep ends 10 ms late at 20 a second (a busy loop, not a stall: under a quarter
    # of the 50 ms margin). Once a turn ending late cost the next one a whole interval
    # after it: 200 requests took 12 s. The grid keeps its slots; only the window's
    # one-second stretches lose the lateness, once a second.
    clock = LateClock(0.01)
    limiter = Limiter(RateLimit(per_second=20, margin=0.05), clock)
    times = await _send(limiter, clock, 201)
    assert times[-1] == pytest.approx(10 * (1.05 + 0.01))
    assert _most_in_a_window(times, 1.05) == 20


@pytest.mark.parametrize("burst", [1, 3])
async def test_concurrent_senders_on_a_late_clock_keep_the_rate(burst: int) -> None:
    # 300 senders queued at once on a clock whose sleeps end up to 12 ms late.
    clock = LateClock(0.012, jitter=True)
    policy = RateLimit(per_second=20, burst=burst, margin=0.05)
    limiter = Limiter(policy, clock)
    sent = await _send_together(limiter, clock, 300)
    assert len(sent) == 300
    assert sent == sorted(sent)
    assert _most_in_a_window(sent, 1.05) <= 20
    # Pacing: in any stretch, no more than its length at the rate plus the burst and one
    # made-up interval.
    for width in (0.05, 0.1, 0.25, 0.5):
        assert _most_in_a_window(sent, width) <= width * 20 + burst + 1
    # Lateness is made up, but once a window (15 of them): losing it on every request, as
    # the bucket once did, takes 300 * (0.05 + 0.006) = 16.8 s on average.
    assert sent[-1] <= 300 / 20 * 1.05 + 15 * 0.012


def _most_a_server_counts(arrived: list[float]) -> int:
    """The most requests a server counting a one-second window sees at one arrival."""
    arrived = sorted(arrived)
    return max(
        bisect.bisect_right(arrived, t) - bisect.bisect_right(arrived, t - 1.0) for t in arrived
    )


class StallingClock(FakeClock):
    """A fake clock on which the process stalls once, for `stall` seconds, during a sleep."""

    def __init__(self, stall: float, at_sleep: int) -> None:
        super().__init__()
        self.stall, self.at_sleep, self.count = stall, at_sleep, 0

    async def sleep(self, seconds: float) -> None:
        self.count += 1
        await super().sleep(seconds + (self.stall if self.count == self.at_sleep else 0.0))


@pytest.mark.parametrize("per_second", [4, 10, 100])
async def test_a_request_held_up_by_a_stall_is_counted_from_its_end(per_second: int) -> None:
    # Requests queue. The process stalls for 0.3 s (a long garbage collection) while one
    # waits for its turn, just after the one before it was let go and before that one went
    # out: the server sees it 0.3 s late. The request let go a second after it must not
    # meet it in the server's one-second window.
    stall = 0.3
    clock = StallingClock(stall, at_sleep=2)
    limiter = Limiter(RateLimit(per_second=per_second, margin=0.05), clock)
    granted = await _send_together(limiter, clock, 3 * per_second + 5)
    # The first goes at once; the second and third after a sleep each: the third's (the
    # second sleep) stalled, just after the second was let go.
    arrived = [t + (stall if i == 1 else 0.0) for i, t in enumerate(granted)]
    assert _most_a_server_counts(arrived) <= per_second


@pytest.mark.parametrize("per_second", [4, 10, 100])
async def test_a_stall_seen_by_the_request_queued_next_is_allowed_for(per_second: int) -> None:
    # The third request stalls the process for 0.3 s on its way out (a garbage collection
    # its own allocations set off). The request queued behind it finds its turn long due
    # and goes at once, without a sleep: the stall is told by that turn coming late.
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=per_second, margin=0.05), clock)
    arrived: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        if len(arrived) == 2:
            clock.advance(0.3)
        arrived.append(clock.now())

    async with anyio.create_task_group() as tg:
        for _ in range(3 * per_second + 5):
            tg.start_soon(one)
    assert _most_a_server_counts(arrived) <= per_second


async def test_a_quiet_spell_allows_the_burst_and_no_more() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=10, burst=3, margin=0), clock)
    await _send(limiter, clock, 5)
    clock.advance(60.0)
    times = await _send(limiter, clock, 5)
    assert times == pytest.approx([60.2, 60.2, 60.2, 60.3, 60.4])


async def test_concurrent_senders_share_one_bucket() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=20, margin=0), clock)
    sent = await _send_together(limiter, clock, 41)
    assert len(sent) == 41
    assert max(sent) == pytest.approx(2.0)


async def test_a_429_halves_the_rate_then_it_climbs_back() -> None:
    clock = FakeClock()
    policy = RateLimit(per_second=10, recovery=0.1)
    limiter = Limiter(policy, clock)
    await limiter.acquire()
    limiter.on_throttled(None)
    assert limiter.rate == pytest.approx(5.0)
    # 429s answering requests sent together count once.
    limiter.on_throttled(None)
    assert limiter.rate == pytest.approx(5.0)
    clock.advance(1.0)
    limiter.on_throttled(None)
    assert limiter.rate == pytest.approx(3.0)  # 5 + 1 s of recovery, then halved
    await _send(limiter, clock, 80)
    assert limiter.rate == pytest.approx(10.0)  # back to the configured rate, not above
    assert limiter.throttled == 3


async def test_the_rate_never_drops_below_its_floor() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=10, floor=0.2), clock)
    for _ in range(10):
        limiter.on_throttled(None)
        clock.advance(1.0)
        limiter.rate = min(limiter.rate, 10.0)
    assert limiter.rate >= 2.0 - 1e-9


async def test_no_burst_after_a_429() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=10, burst=5, recovery=1e-9, margin=0), clock)
    limiter.on_throttled(None)
    times = await _send(limiter, clock, 3)
    assert times == pytest.approx([0.2, 0.4, 0.6])  # a whole interval apart, at 5 a second


async def test_a_retry_after_pause_ends_without_a_burst() -> None:
    # Sleeps end 2 ms late, as on any real clock: the pause once filled the bucket, and
    # the first two requests after it went together.
    clock = LateClock(0.002)
    limiter = Limiter(RateLimit(per_second=5, recovery=1e-9), clock)
    limiter.on_throttled(2.0)
    times = await _send_together(limiter, clock, 4)
    assert times[0] >= 2.0
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / 2.5 - 1e-6  # the halved rate's interval: none together


async def test_a_cancelled_sleeper_leaves_no_turn_due() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=10, margin=0.05), clock)
    await _send(limiter, clock, 10)
    with anyio.move_on_after(0) as scope:
        await limiter.acquire()  # held by the window: cancelled while it sleeps
    assert scope.cancelled_caught
    clock.advance(5.0)
    # A turn long "due" would read as a stall and count the last requests as sent now.
    times = await _send(limiter, clock, 10)
    assert times[0] == pytest.approx(5.9)
    assert times == pytest.approx([5.9 + i / 10 for i in range(10)])


def test_a_stall_is_allowed_for_under_trio() -> None:
    async def main() -> list[float]:
        clock = StallingClock(0.3, at_sleep=2)
        limiter = Limiter(RateLimit(per_second=10, margin=0.05), clock)
        granted = await _send_together(limiter, clock, 35)
        return [t + (0.3 if i == 1 else 0.0) for i, t in enumerate(granted)]

    assert _most_a_server_counts(anyio.run(main, backend="trio")) <= 10


async def test_retry_after_pauses_every_sender() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=100, burst=5), clock)
    limiter.on_throttled(7.0)
    await limiter.acquire()
    assert clock.now() >= 7.0


async def test_a_cancelled_waiter_gives_its_turn_up() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=1), clock)
    await limiter.acquire()
    with anyio.move_on_after(0) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught
    await limiter.acquire()  # the lock is free again


def test_works_under_trio() -> None:
    async def main() -> list[float]:
        clock = FakeClock()
        limiter = Limiter(RateLimit(per_second=4, burst=2), clock)
        limiter.on_throttled(1.0)
        return await _send(limiter, clock, 4)

    times = anyio.run(main, backend="trio")
    assert times[0] >= 1.0
    assert times == sorted(times)
