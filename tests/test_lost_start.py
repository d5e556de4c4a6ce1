"""`run_and_wait` after a start whose answer was lost: find the run, never start a second.

The emulator's scripted faults let a start be carried out and its answer then be lost
("-after"), or be refused before anything happened ("-before"), which the client cannot
tell apart: only the listing can.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock, FaultPlan

SINCE = 1_749_000_000
START = "POST /external-audience/{id}/runs"
LIST = "GET /external-audience/{id}/runs"


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(clock=clock, operation_time=2.0, run_time=6.0, faults=FaultPlan())


@pytest.fixture
async def audience(
    emu: Emulator,
    make_client: Callable[..., aep_ais.AISClient],
    make_spec: Callable[..., aep_ais.AudienceSpec],
) -> tuple[aep_ais.AISClient, str]:
    ais = make_client(transport=emu.transport())
    operation = await ais.create_and_wait(make_spec())
    assert operation.audience_id is not None
    return ais, operation.audience_id


def runs_of(emu: Emulator, audience_id: str) -> list[Any]:
    return [r for r in emu.runs.values() if r.audience_id == audience_id]


def starts_sent(emu: Emulator, audience_id: str) -> int:
    """Start requests that reached the emulator, answered or not."""
    path = f"/external-audience/{audience_id}/runs"
    return sum(1 for method, p, _ in emu.request_log if method == "POST" and p == path)


@pytest.mark.parametrize(
    "fault", ["drop-after", "500-after", "502-after", "504-after", "truncated", "html-after"]
)
async def test_a_run_whose_start_answer_was_lost_is_found_and_waited_for(
    emu: Emulator, audience: tuple[aep_ais.AISClient, str], fault: str
) -> None:
    ais, audience_id = audience
    emu.faults.script(START, [fault])
    run = await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    assert run.status == aep_ais.RunStatus.SUCCESS
    [created] = runs_of(emu, audience_id)
    assert run.run_id == created.run_id
    assert emu.start_attempts[audience_id] == 1


async def test_a_run_that_ended_before_the_look_is_returned_with_its_outcome(
    emu: Emulator, audience: tuple[aep_ais.AISClient, str]
) -> None:
    ais, audience_id = audience
    emu.failing_runs.add(audience_id)
    # The answer is lost after the run was created; by the time the listing is read the
    # run has failed: its failure is what the caller gets.
    emu.faults.script(START, ["drop-after"])
    with pytest.raises(aep_ais.RunFailedError) as caught:
        await ais.run_and_wait(
            audience_id, data_filter_start_time=SINCE, data_filter_end_time=SINCE + 3600
        )
    [created] = runs_of(emu, audience_id)
    assert caught.value.run_id == created.run_id
    assert caught.value.audience_id == audience_id


@pytest.mark.parametrize("fault", ["500-before", "502-before"])
async def test_a_start_that_did_nothing_raises_its_error_and_starts_nothing_more(
    emu: Emulator, audience: tuple[aep_ais.AISClient, str], fault: str
) -> None:
    ais, audience_id = audience
    emu.faults.script(START, [fault])
    with pytest.raises(aep_ais.ServerError) as caught:
        await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    assert caught.value.server_may_have_acted
    assert runs_of(emu, audience_id) == []
    assert starts_sent(emu, audience_id) == 1


async def test_an_earlier_run_of_the_same_window_is_not_taken_for_this_one(
    emu: Emulator, clock: FakeClock, audience: tuple[aep_ais.AISClient, str]
) -> None:
    ais, audience_id = audience
    earlier = await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    clock.advance(600)
    emu.faults.script(START, ["500-before"])
    with pytest.raises(aep_ais.InternalServerError):
        await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    assert [r.run_id for r in runs_of(emu, audience_id)] == [earlier.run_id]


async def test_a_run_of_another_window_is_not_taken_for_this_one(
    emu: Emulator, audience: tuple[aep_ais.AISClient, str]
) -> None:
    ais, audience_id = audience
    await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    emu.faults.script(START, ["500-before"])
    with pytest.raises(aep_ais.InternalServerError):
        await ais.run_and_wait(audience_id, data_filter_start_time=SINCE + 60)
    assert len(runs_of(emu, audience_id)) == 1


async def test_when_the_listing_fails_too_the_start_error_goes_up(
    emu: Emulator, audience: tuple[aep_ais.AISClient, str]
) -> None:
    ais, audience_id = audience
    emu.faults.script(START, ["drop-after"])
    # The first listing (the look for an active run) succeeds; the one after the lost
    # answer fails on every attempt the retry policy allows.
    emu.faults.script(LIST, ["ok"] + ["503"] * ais.retry.max_attempts)
    with pytest.raises(aep_ais.APIConnectionError) as caught:
        await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    assert caught.value.server_may_have_acted
    assert emu.start_attempts[audience_id] == 1


# Issue 9, item 6: never adopt an earlier run --------------------------------------------


@pytest.mark.parametrize("fault", ["500-before", "502-before", "503-before"])
async def test_a_run_of_the_same_window_finished_seconds_ago_is_never_adopted(
    emu: Emulator, clock: FakeClock, audience: tuple[aep_ais.AISClient, str], fault: str
) -> None:
    ais, audience_id = audience
    # Someone ran this window moments ago (well within any clock-skew allowance) ...
    earlier = await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    clock.advance(1.0)
    # ... and this call's start fails before the server does anything.
    emu.faults.script(START, [fault])
    with pytest.raises(aep_ais.AISError) as caught:
        await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    assert not isinstance(caught.value, aep_ais.RunInProgressError)
    assert caught.value.server_may_have_acted is True  # type: ignore[attr-defined]
    assert caught.value.audience_id == audience_id  # type: ignore[attr-defined]
    assert [r.run_id for r in runs_of(emu, audience_id)] == [earlier.run_id]


async def test_a_run_started_and_ended_after_the_look_is_still_found(
    emu: Emulator, clock: FakeClock, audience: tuple[aep_ais.AISClient, str]
) -> None:
    ais, audience_id = audience
    earlier = await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    clock.advance(1.0)
    # The start is carried out, its answer comes only after the run has ended.
    emu.faults.slow_seconds = 60.0
    emu.faults.script(START, ["slow-after"])
    run = await ais.with_options(timeout=600).run_and_wait(
        audience_id, data_filter_start_time=SINCE
    )
    assert run.run_id != earlier.run_id
    assert run.status == aep_ais.RunStatus.SUCCESS
    assert len(runs_of(emu, audience_id)) == 2


# A listing that lags behind the start ---------------------------------------------------


@pytest.mark.parametrize("fault", ["drop-after", "502-after"])
async def test_a_lost_start_is_found_in_a_listing_that_lags(
    clock: FakeClock,
    make_client: Callable[..., aep_ais.AISClient],
    make_spec: Callable[..., aep_ais.AudienceSpec],
    fault: str,
) -> None:
    emu = Emulator(clock=clock, run_time=30.0, listing_lag=5, faults=FaultPlan())
    ais = make_client(transport=emu.transport())
    audience_id = (await ais.create_and_wait(make_spec())).audience_id
    assert audience_id is not None
    emu.faults.script(START, [fault])
    run = await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    [created] = runs_of(emu, audience_id)
    assert (run.run_id, run.status) == (created.run_id, aep_ais.RunStatus.SUCCESS)
    assert starts_sent(emu, audience_id) == 1


async def test_a_start_that_did_nothing_is_looked_for_a_minute_at_most(
    emu: Emulator, clock: FakeClock, audience: tuple[aep_ais.AISClient, str]
) -> None:
    ais, audience_id = audience
    emu.faults.script(START, ["502-before"])
    t0 = clock.now()
    with pytest.raises(aep_ais.ServerError):
        await ais.run_and_wait(audience_id, data_filter_start_time=SINCE)
    assert clock.now() - t0 <= 60.0
    assert starts_sent(emu, audience_id) == 1
