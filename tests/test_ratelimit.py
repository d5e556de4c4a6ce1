"""`RateLimit`: a token bucket on the client's clock, slowed by 429s (AIMD), asyncio and trio."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_second": 0},
        {"per_second": -1},
        {"per_second": 5, "burst": 0},
        {"per_second": 5, "decrease": 1.5},
        {"per_second": float("nan")},
    ],
)
def test_nonsense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RateLimit(**kwargs)  # type: ignore[arg-type]


async def test_paces_requests_at_the_rate_after_the_burst() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=10, burst=3), clock)
    times = await _send(limiter, clock, 13)
    assert times[:3] == [0.0, 0.0, 0.0]
    gaps = [b - a for a, b in itertools.pairwise(times[3:])]
    assert all(g == pytest.approx(0.1) for g in gaps)
    assert times[-1] == pytest.approx(1.0)


async def test_concurrent_senders_share_one_bucket() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimit(per_second=20), clock)
    sent: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        sent.append(clock.now())

    async with anyio.create_task_group() as tg:
        for _ in range(41):
            tg.start_soon(one)
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
