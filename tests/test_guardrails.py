"""Guardrails and the rate limit on a client, against the emulator on virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import anyio
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock
from benchmarks._lifecycle import audience_spec

ORG = "0123456789ABCDEF01234567@AdobeOrg"
SINCE = 1_749_000_000


def _client(emu: Emulator, clock: FakeClock, **kwargs: object) -> aep_ais.AISClient:
    return aep_ais.AISClient(
        org_id=ORG,
        sandbox="s1",
        auth=aep_ais.StaticToken("tok"),
        api_key="key",
        clock=clock,
        transport=emu.transport(),
        poll=aep_ais.PollPolicy(interval=1.0, jitter=0.0),
        **kwargs,  # type: ignore[arg-type]
    )


async def _audiences(ais: aep_ais.AISClient, n: int, prefix: str = "g") -> list[str]:
    ops = await ais.create_many(
        [audience_spec(i, prefix) for i in range(n)], concurrency=min(n, 20)
    )
    return [r.value.audience_id for r in ops if r.value is not None and r.value.audience_id]


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Emulator, FakeClock]]:
    clock = FakeClock()
    yield Emulator(clock=clock, operation_time=1.0, run_time=1.0), clock


def _starts(emu: Emulator) -> int:
    return sum(
        1 for method, path, _ in emu.request_log if method == "POST" and path.endswith("/runs")
    )


async def test_an_audience_past_its_quota_is_refused_without_a_request(
    setup: tuple[Emulator, FakeClock],
) -> None:
    emu, clock = setup
    async with _client(emu, clock) as ais:
        (aud,) = await _audiences(ais, 1)
        for _ in range(10):
            await ais.run_and_wait(aud, data_filter_start_time=SINCE)
        before = len(emu.request_log)
        with pytest.raises(aep_ais.QuotaExceededError) as caught:
            await ais.start_run(aud, data_filter_start_time=SINCE)
    err = caught.value
    assert (err.scope, err.limit, err.sandbox, err.audience_id) == ("audience", 10, "s1", aud)
    assert err.retryable and err.resets_at is not None and err.__cause__ is None
    assert len(emu.request_log) == before  # nothing sent
    assert _starts(emu) == 10


async def test_a_server_refusal_for_a_guardrail_is_a_quota_error(
    setup: tuple[Emulator, FakeClock],
) -> None:
    emu, clock = setup
    # A client that believes in a bigger quota meets the server's.
    roomy = aep_ais.Guardrails(runs_per_sandbox_per_day=1000, runs_per_audience_per_day=1000)
    async with _client(emu, clock, guardrails=roomy) as ais:
        (aud,) = await _audiences(ais, 1)
        for _ in range(10):
            await ais.run_and_wait(aud, data_filter_start_time=SINCE)
        with pytest.raises(aep_ais.QuotaExceededError) as caught:
            await ais.run_and_wait(aud, data_filter_start_time=SINCE)
        assert caught.value.scope == "audience"
        assert isinstance(caught.value.__cause__, aep_ais.UnprocessableEntityError)
        starts = _starts(emu)
        # From now on the client knows: no request for this audience.
        with pytest.raises(aep_ais.QuotaExceededError) as again:
            await ais.start_run(aud, data_filter_start_time=SINCE)
        assert again.value.__cause__ is None and _starts(emu) == starts


async def test_without_guardrails_the_server_refusal_is_still_a_quota_error(
    setup: tuple[Emulator, FakeClock],
) -> None:
    emu, clock = setup
    async with _client(emu, clock, guardrails=None) as ais:
        assert ais.guardrails is None
        (aud,) = await _audiences(ais, 1)
        for _ in range(10):
            await ais.run_and_wait(aud, data_filter_start_time=SINCE)
        with pytest.raises(aep_ais.QuotaExceededError) as caught:
            await ais.start_run(aud, data_filter_start_time=SINCE)
    assert caught.value.scope == "audience" and caught.value.limit == 10
    assert isinstance(caught.value.__cause__, aep_ais.UnprocessableEntityError)


async def test_a_run_in_progress_is_still_a_run_in_progress(
    setup: tuple[Emulator, FakeClock],
) -> None:
    emu, clock = setup
    async with _client(emu, clock) as ais:
        (aud,) = await _audiences(ais, 1)
        first = await ais.start_run(aud, data_filter_start_time=SINCE)
        with pytest.raises(aep_ais.ConflictError):
            await ais.start_run(aud, data_filter_start_time=SINCE)
        with pytest.raises(aep_ais.RunInProgressError) as caught:
            await ais.run_and_wait(aud, data_filter_start_time=SINCE, if_active="raise")
        assert caught.value.run_id == first.run_id
        # The refused start does not count against the quota.
        assert ais._ledger is not None and ais._ledger.count("s1", aud) == 1


async def test_runs_another_client_started_count_once_seen_in_a_listing(
    setup: tuple[Emulator, FakeClock],
) -> None:
    emu, clock = setup
    async with _client(emu, clock) as other, _client(emu, clock) as ais:
        (aud,) = await _audiences(other, 1)
        for _ in range(9):
            await other.run_and_wait(aud, data_filter_start_time=SINCE)
        await ais.run_and_wait(aud, data_filter_start_time=SINCE)  # lists first: sees 9
        await ais.list_runs(aud)
        assert ais._ledger is not None and ais._ledger.count("s1", aud) == 10
        before = len(emu.request_log)
        with pytest.raises(aep_ais.QuotaExceededError):
            await ais.start_run(aud, data_filter_start_time=SINCE)
        assert len(emu.request_log) == before


async def test_views_share_the_ledger_per_sandbox(setup: tuple[Emulator, FakeClock]) -> None:
    emu, clock = setup
    small = aep_ais.Guardrails(runs_per_sandbox_per_day=2, runs_per_audience_per_day=10)
    async with _client(emu, clock, guardrails=small) as ais:
        dev = ais.with_options(sandbox="dev")
        assert dev.guardrails is small
        auds = await _audiences(ais, 3)
        dev_auds = await _audiences(dev, 1, prefix="d")
        await ais.start_run(auds[0], data_filter_start_time=SINCE)
        await ais.with_options(retry=aep_ais.RetryPolicy()).start_run(
            auds[1], data_filter_start_time=SINCE
        )
        with pytest.raises(aep_ais.QuotaExceededError) as caught:
            await ais.start_run(auds[2], data_filter_start_time=SINCE)
        assert caught.value.scope == "sandbox" and caught.value.sandbox == "s1"
        await dev.start_run(dev_auds[0], data_filter_start_time=SINCE)  # its own quota


async def test_guardrails_and_rate_limit_are_read_only() -> None:
    emu, clock = Emulator(clock=FakeClock()), FakeClock()
    ais = _client(emu, clock, rate_limit=aep_ais.RateLimit(per_second=5))
    assert ais.guardrails == aep_ais.Guardrails()
    assert ais.rate_limit == aep_ais.RateLimit(per_second=5)
    with pytest.raises(AttributeError, match="read-only"):
        ais.guardrails = None  # type: ignore[misc]
    with pytest.raises(aep_ais.ValidationError, match="rate_limit"):
        _client(emu, clock, rate_limit=5)


# The emulator's rate limit and the client's ------------------------------------------


async def test_the_emulator_answers_429_beyond_its_rate() -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, rate_limit=5)
    no_retry = aep_ais.RetryPolicy(max_attempts=1)
    async with _client(emu, clock, retry=no_retry) as ais:
        outcomes = []
        for _ in range(7):
            try:
                await ais.list_runs("a1")
            except aep_ais.NotFoundError:
                outcomes.append(404)
            except aep_ais.RateLimitError as exc:
                outcomes.append(429)
                assert exc.retry_after == 1.0
    assert outcomes == [404] * 5 + [429] * 2
    assert emu.throttled == 2
    clock.advance(1.0)
    async with _client(emu, clock, retry=no_retry) as ais:
        with pytest.raises(aep_ais.NotFoundError):
            await ais.list_runs("a1")


async def _burst(rate_limit: aep_ais.RateLimit | None) -> tuple[Emulator, FakeClock]:
    clock = FakeClock()
    emu = Emulator(clock=clock, rate_limit=10)
    async with _client(emu, clock, rate_limit=rate_limit) as ais:
        views = [ais, ais.with_options(sandbox="dev")]

        async def one(i: int) -> None:
            # Without a limiter, some calls run out of retries on 429s.
            with pytest.raises((aep_ais.NotFoundError, aep_ais.RateLimitError)):
                await views[i % 2].list_runs(f"a{i}")

        async with anyio.create_task_group() as tg:
            for i in range(60):
                tg.start_soon(one, i)
    return emu, clock


async def test_a_shared_rate_limit_keeps_client_and_views_under_the_server_rate() -> None:
    emu, clock = await _burst(aep_ais.RateLimit(per_second=10))
    assert emu.throttled == 0
    # 60 requests at 10 a second, each further second's window 50 ms (the margin) longer.
    assert clock.now() == pytest.approx(5.9 + 5 * 0.05, abs=0.01)
    emu, _ = await _burst(None)
    assert emu.throttled > 0  # the baseline: 429s, each waited out


def test_the_rate_limit_works_under_trio() -> None:
    async def main() -> int:
        emu, _ = await _burst(aep_ais.RateLimit(per_second=10))
        return emu.throttled

    assert anyio.run(main, backend="trio") == 0


async def test_a_cancelled_start_keeps_counting_until_a_listing_shows_its_run() -> None:
    import httpx

    clock = FakeClock()
    arrived = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            arrived.set()
            await anyio.sleep_forever()
        created = int(clock.time())
        run = {"runId": "r-lost", "status": "PROCESSING", "createdAt": created}
        return httpx.Response(200, json={"runs": [run]})

    small = aep_ais.Guardrails(runs_per_sandbox_per_day=1, runs_per_audience_per_day=1)
    async with aep_ais.AISClient(
        org_id=ORG,
        auth=aep_ais.StaticToken("tok"),
        api_key="key",
        clock=clock,
        transport=httpx.MockTransport(handler),
        guardrails=small,
    ) as ais:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(ais.start_run, "a1", data_filter_start_time=SINCE))
            await arrived.wait()
            tg.cancel_scope.cancel()
        # The server may have started it: the quota is held, nothing more is sent.
        with pytest.raises(aep_ais.QuotaExceededError):
            await ais.start_run("a2", data_filter_start_time=SINCE)
        await ais.list_runs("a1")  # the run shows up: counted once, not twice
        assert ais._ledger is not None and ais._ledger.count(ais.sandbox) == 1
