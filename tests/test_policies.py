"""Backoff and polling maths, `Retry-After` parsing, policy validation, the system clock."""

from __future__ import annotations

import email.utils
import math
import time

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aep_ais
from aep_ais._policies import parse_retry_after

NOW = 1_750_000_000.0


@pytest.mark.parametrize(
    ("policy", "retry_number", "rand", "retry_after", "expected"),
    [
        (aep_ais.RetryPolicy(), 1, 0.5, None, 0.25),
        (aep_ais.RetryPolicy(), 2, 0.5, None, 0.5),
        (aep_ais.RetryPolicy(), 3, 0.5, None, 1.0),
        (aep_ais.RetryPolicy(), 1, 0.0, None, 0.0),
        (aep_ais.RetryPolicy(), 4, 0.999, None, 3.996),
        # 0.5 * 2**9 = 256, capped at max_backoff.
        (aep_ais.RetryPolicy(), 10, 1.0, None, 30.0),
        (aep_ais.RetryPolicy(), 10, 0.5, None, 15.0),
        # Absurd retry numbers do not overflow.
        (aep_ais.RetryPolicy(), 5000, 0.5, None, 15.0),
        (aep_ais.RetryPolicy(backoff=2.0, max_backoff=5.0), 1, 1.0, None, 2.0),
        (aep_ais.RetryPolicy(backoff=2.0, max_backoff=5.0), 2, 1.0, None, 4.0),
        (aep_ais.RetryPolicy(backoff=2.0, max_backoff=5.0), 3, 1.0, None, 5.0),
        (aep_ais.RetryPolicy(backoff=0.0), 3, 0.7, None, 0.0),
        # Retry-After replaces the draw, capped by max_retry_after, never negative.
        (aep_ais.RetryPolicy(), 1, 0.5, 5.0, 5.0),
        (aep_ais.RetryPolicy(), 3, 0.0, 0.0, 0.0),
        (aep_ais.RetryPolicy(), 1, 0.5, 500.0, 120.0),
        (aep_ais.RetryPolicy(max_retry_after=10.0), 1, 0.5, 11.0, 10.0),
        (aep_ais.RetryPolicy(), 1, 0.5, -3.0, 0.0),
    ],
)
def test_retry_policy_delay(
    policy: aep_ais.RetryPolicy,
    retry_number: int,
    rand: float,
    retry_after: float | None,
    expected: float,
) -> None:
    assert policy.delay(retry_number, rand, retry_after) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("policy", "poll_number", "rand", "expected"),
    [
        # Defaults: interval 1, multiplier 1.2, max 30, jitter 0.1; rand 0.5 means no jitter.
        (aep_ais.PollPolicy(), 0, 0.5, 1.0),
        (aep_ais.PollPolicy(), 1, 0.5, 1.2),
        (aep_ais.PollPolicy(), 2, 0.5, 1.44),
        (aep_ais.PollPolicy(), 0, 0.0, 0.9),
        (aep_ais.PollPolicy(), 0, 1.0, 1.1),
        (aep_ais.PollPolicy(), 100, 0.5, 30.0),
        (aep_ais.PollPolicy(), 100, 0.0, 27.0),
        # Jitter never pushes a wait past max_interval.
        (aep_ais.PollPolicy(), 100, 1.0, 30.0),
        (aep_ais.PollPolicy(), 10**9, 0.5, 30.0),
        (aep_ais.PollPolicy(interval=2.0, multiplier=1.0, jitter=0.0), 50, 0.9, 2.0),
        (
            aep_ais.PollPolicy(interval=1.0, multiplier=2.0, max_interval=5.0, jitter=0.0),
            2,
            0.3,
            4.0,
        ),
        (
            aep_ais.PollPolicy(interval=1.0, multiplier=2.0, max_interval=5.0, jitter=0.0),
            3,
            0.3,
            5.0,
        ),
        (aep_ais.PollPolicy(interval=10.0, jitter=1.0), 0, 0.0, 0.0),
        (aep_ais.PollPolicy(interval=10.0, jitter=1.0), 0, 1.0, 20.0),
    ],
)
def test_poll_policy_delay(
    policy: aep_ais.PollPolicy, poll_number: int, rand: float, expected: float
) -> None:
    assert policy.delay(poll_number, rand) == pytest.approx(expected)


@given(
    retry_number=st.integers(min_value=1, max_value=10_000),
    rand=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    backoff=st.floats(min_value=0.0, max_value=100.0),
    max_backoff=st.floats(min_value=0.0, max_value=1000.0),
)
def test_retry_delay_stays_within_its_ceiling(
    retry_number: int, rand: float, backoff: float, max_backoff: float
) -> None:
    policy = aep_ais.RetryPolicy(backoff=backoff, max_backoff=max_backoff)
    delay = policy.delay(retry_number, rand)
    assert 0.0 <= delay <= max_backoff
    if retry_number < 1000:
        assert delay <= backoff * 2.0 ** (retry_number - 1)


@given(
    poll_number=st.integers(min_value=0, max_value=10**6),
    rand=st.floats(min_value=0.0, max_value=1.0),
    interval=st.floats(min_value=0.0, max_value=100.0, exclude_min=True),
    multiplier=st.floats(min_value=1.0, max_value=10.0),
    max_interval=st.floats(min_value=0.0, max_value=1000.0, exclude_min=True),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_poll_delay_stays_within_max_interval(
    poll_number: int,
    rand: float,
    interval: float,
    multiplier: float,
    max_interval: float,
    jitter: float,
) -> None:
    policy = aep_ais.PollPolicy(
        interval=interval, multiplier=multiplier, max_interval=max_interval, jitter=jitter
    )
    assert 0.0 <= policy.delay(poll_number, rand) <= max_interval


def test_policy_defaults() -> None:
    retry = aep_ais.RetryPolicy()
    assert (retry.max_attempts, retry.backoff, retry.max_backoff, retry.max_retry_after) == (
        4,
        0.5,
        30.0,
        120.0,
    )
    poll = aep_ais.PollPolicy()
    assert (poll.interval, poll.multiplier, poll.max_interval, poll.jitter) == (
        1.0,
        1.2,
        30.0,
        0.1,
    )
    # Every wait has a finite default deadline.
    assert poll.timeout is not None
    assert math.isfinite(poll.timeout)
    assert aep_ais.PollPolicy(timeout=None).timeout is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"backoff": -0.1},
        {"backoff": math.nan},
        {"max_backoff": -1.0},
        {"max_retry_after": -1.0},
        {"max_attempts": 2.5},
        {"max_attempts": True},
    ],
)
def test_retry_policy_refuses_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(aep_ais.ValidationError) as caught:
        aep_ais.RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == next(iter(kwargs))
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": -1.0},
        {"multiplier": 0.5},
        {"max_interval": -1.0},
        {"jitter": -0.1},
        {"jitter": 1.5},
        {"timeout": -1.0},
        {"timeout": math.nan},
        {"interval": 0.0},
        {"max_interval": 0.0},
        {"jitter": "0.1"},
    ],
)
def test_poll_policy_refuses_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(aep_ais.ValidationError) as caught:
        aep_ais.PollPolicy(**kwargs)
    assert caught.value.field == next(iter(kwargs))


def test_policies_are_frozen_values() -> None:
    policy = aep_ais.RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.max_attempts = 10  # type: ignore[misc]
    assert aep_ais.RetryPolicy(max_attempts=2) == aep_ais.RetryPolicy(max_attempts=2)
    assert attrs.evolve(aep_ais.PollPolicy(), timeout=5.0).timeout == 5.0


# Retry-After ----------------------------------------------------------------------------


def date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 5 ", 5.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        (date(NOW + 30), 30.0),
        (date(NOW), 0.0),
        (date(NOW - 3600), 0.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),
        # The obsolete forms HTTP still asks recipients to read; both are GMT.
        ("Sunday, 06-Nov-94 08:49:37 GMT", 0.0),
        ("Sun Nov  6 08:49:37 1994", 0.0),
        (email.utils.formatdate(NOW + 60).replace("-0000", "+0000"), 60.0),
        (None, None),
        ("", None),
        ("   ", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("-inf", None),
        ("Mon, 99 Foo 2025 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    result = parse_retry_after(value, NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_parse_retry_after_date_without_zone_is_gmt() -> None:
    stamp = email.utils.formatdate(NOW + 10, usegmt=True).removesuffix(" GMT")
    assert parse_retry_after(stamp, NOW) == pytest.approx(10.0)


# Clocks -----------------------------------------------------------------------------


def test_system_clock_is_a_clock_with_seedable_jitter() -> None:
    clock = aep_ais.SystemClock(seed=7)
    assert isinstance(clock, aep_ais.Clock)
    draws = [clock.random() for _ in range(5)]
    same_seed = aep_ais.SystemClock(seed=7)
    assert draws == [same_seed.random() for _ in range(5)]
    assert draws != [aep_ais.SystemClock(seed=8).random() for _ in range(5)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert clock.now() <= clock.now()
    assert abs(clock.time() - time.time()) < 5
    assert repr(clock) == "SystemClock()"


async def test_system_clock_sleeps_zero_for_negative() -> None:
    # A negative wait must not raise; it returns at once.
    await aep_ais.SystemClock().sleep(-1.0)
