"""Workflow steps: `ensure_run`, `reuse_since`, absolute deadlines, `on_created`/`on_started`.

A workflow engine runs a step, may crash anywhere in it, retries it in another process
(here: another client on the same emulator, with a guard of its own) and resumes waits
from ids it stored. Everything runs on the emulator and the fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock, FaultPlan
from tests.conftest import until

SINCE = 1_749_000_000
START = "POST /external-audience/{id}/runs"


class Crash(Exception):
    """A worker dying at a chosen point (as far as the step can tell)."""


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(clock=clock, operation_time=2.0, run_time=60.0, faults=FaultPlan())


@pytest.fixture
def client(emu: Emulator, make_client: Callable[..., aep_ais.AISClient]) -> aep_ais.AISClient:
    return make_client(transport=emu.transport())


@pytest.fixture
async def audience_id(client: aep_ais.AISClient, make_spec: Callable[..., Any]) -> str:
    operation = await client.create_and_wait(make_spec())
    assert operation.audience_id is not None
    return operation.audience_id


def wall(clock: FakeClock, seconds: float = 0.0) -> datetime:
    """The fake clock's wall time `seconds` from now, as an aware datetime."""
    return datetime.fromtimestamp(clock.time() + seconds, tz=UTC)


def starts(emu: Emulator, audience_id: str) -> int:
    return emu.start_attempts[audience_id]


def polls(emu: Emulator, path_part: str) -> list[tuple[str, str, int]]:
    return [r for r in emu.request_log if r[0] == "GET" and path_part in r[1]]


# ensure_run ------------------------------------------------------------------------------


async def test_ensure_run_returns_as_soon_as_the_run_exists(
    emu: Emulator, client: aep_ais.AISClient, audience_id: str, clock: FakeClock
) -> None:
    before = clock.now()
    run = await client.ensure_run(audience_id, data_filter_start_time=SINCE)
    assert clock.now() == before  # no waiting
    assert not run.done
    assert run.audience_id == audience_id
    assert starts(emu, audience_id) == 1
    final = await client.wait_for_run(audience_id, run.run_id)
    assert final.status == aep_ais.RunStatus.SUCCESS
    assert len(client._run_guard) == 0


async def test_ensure_run_waits_out_another_run_then_starts_its_own(
    emu: Emulator,
    client: aep_ais.AISClient,
    audience_id: str,
    make_client: Callable[..., aep_ais.AISClient],
) -> None:
    other = await make_client(transport=emu.transport()).ensure_run(
        audience_id, data_filter_start_time=SINCE
    )
    ours = await client.ensure_run(audience_id, data_filter_start_time=SINCE + 60)
    assert ours.run_id != other.run_id
    assert emu.runs[other.run_id].active(emu.clock.now()) is False


async def test_ensure_run_attaches_or_raises_per_if_active(
    emu: Emulator,
    client: aep_ais.AISClient,
    audience_id: str,
    make_client: Callable[..., aep_ais.AISClient],
) -> None:
    other = await make_client(transport=emu.transport()).ensure_run(
        audience_id, data_filter_start_time=SINCE
    )
    attached = await client.ensure_run(
        audience_id, data_filter_start_time=SINCE + 60, if_active="attach"
    )
    assert attached.run_id == other.run_id
    with pytest.raises(aep_ais.RunInProgressError) as caught:
        await client.ensure_run(audience_id, data_filter_start_time=SINCE, if_active="raise")
    assert caught.value.run_id == other.run_id
    assert starts(emu, audience_id) == 1


async def test_ensure_run_finds_the_run_of_a_lost_start_answer(
    emu: Emulator, client: aep_ais.AISClient, audience_id: str
) -> None:
    emu.faults.script(START, ["drop-after"])
    run = await client.ensure_run(audience_id, data_filter_start_time=SINCE)
    [created] = [r for r in emu.runs.values() if r.audience_id == audience_id]
    assert run.run_id == created.run_id
    assert starts(emu, audience_id) == 1


# reuse_since -------------------------------------------------------------------------------


async def test_a_crash_between_start_and_wait_then_reuse_since_finds_the_first_run(
    emu: Emulator,
    client: aep_ais.AISClient,
    audience_id: str,
    clock: FakeClock,
    make_client: Callable[..., aep_ais.AISClient],
) -> None:
    began = wall(clock)

    async def crash(run: aep_ais.IngestionRun) -> None:
        raise Crash(run.run_id)

    with pytest.raises(Crash) as caught:
        await client.run_and_wait(
            audience_id, data_filter_start_time=SINCE, on_started=crash, reuse_since=began
        )
    first = str(caught.value)
    clock.advance(5.0)
    # The retry runs in another process: a client of its own, knowing nothing.
    retry = make_client(transport=emu.transport())
    run = await retry.ensure_run(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    assert run.run_id == first
    assert starts(emu, audience_id) == 1
    final = await retry.run_and_wait(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    assert (final.run_id, final.status) == (first, aep_ais.RunStatus.SUCCESS)
    assert starts(emu, audience_id) == 1
    # Once ended, the run is still the one a retry gets back.
    again = await retry.ensure_run(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    assert (again.run_id, again.done) == (first, True)
    assert starts(emu, audience_id) == 1


async def test_reuse_since_with_a_lagging_listing_that_refuses_queries(
    clock: FakeClock,
    make_client: Callable[..., aep_ais.AISClient],
    make_spec: Callable[..., Any],
) -> None:
    emu = Emulator(clock=clock, run_time=60.0, list_query="refuse", listing_lag=5)
    first = make_client(transport=emu.transport())
    audience_id = (await first.create_and_wait(make_spec())).audience_id
    assert audience_id is not None
    began = wall(clock)
    run = await first.ensure_run(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    # The retry comes at once: the listing does not show the run yet, the start is refused,
    # and the looks again find it once it shows.
    retry = make_client(transport=emu.transport())
    found = await retry.ensure_run(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    assert found.run_id == run.run_id
    assert starts(emu, audience_id) == 2  # the refused one started nothing
    assert len(emu.runs) == 1


async def test_reuse_since_matches_only_the_same_window_created_since_then(
    emu: Emulator, client: aep_ais.AISClient, audience_id: str, clock: FakeClock
) -> None:
    early = await client.run_and_wait(audience_id, data_filter_start_time=SINCE)
    clock.advance(10.0)
    began = wall(clock)
    # An earlier run with the same window is not reused: it was created before `began`.
    mine = await client.ensure_run(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    assert mine.run_id != early.run_id
    await client.wait_for_run(audience_id, mine.run_id)
    # Another window is not the same step's run.
    other = await client.ensure_run(
        audience_id, data_filter_start_time=SINCE + 1, reuse_since=began
    )
    assert other.run_id not in {early.run_id, mine.run_id}
    await client.wait_for_run(audience_id, other.run_id)
    # An end time, when given, must match too (the emulator fills in the start's moment).
    end = emu.runs[mine.run_id].data_filter_end_time
    same = await client.ensure_run(
        audience_id, data_filter_start_time=SINCE, data_filter_end_time=end, reuse_since=began
    )
    assert same.run_id == mine.run_id
    fresh = await client.ensure_run(
        audience_id,
        data_filter_start_time=SINCE,
        data_filter_end_time=end + 1,
        reuse_since=began,
    )
    assert fresh.run_id not in {early.run_id, mine.run_id, other.run_id}


async def test_reuse_since_compares_whole_seconds_as_the_api_stamps_them(
    emu: Emulator, client: aep_ais.AISClient, audience_id: str, clock: FakeClock
) -> None:
    clock.advance(0.7)  # the run's createdAt is this second, cut to a whole second
    began = wall(clock)
    run = await client.ensure_run(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    again = await client.ensure_run(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    assert again.run_id == run.run_id


async def test_reuse_since_returns_a_failed_run_as_it_ended(
    emu: Emulator, client: aep_ais.AISClient, audience_id: str, clock: FakeClock
) -> None:
    emu.failing_runs.add(audience_id)
    began = wall(clock)
    with pytest.raises(aep_ais.RunFailedError) as caught:
        await client.run_and_wait(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    run = await client.ensure_run(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    assert (run.run_id, run.status) == (caught.value.run_id, aep_ais.RunStatus.FAILED)
    with pytest.raises(aep_ais.RunFailedError):
        await client.run_and_wait(audience_id, data_filter_start_time=SINCE, reuse_since=began)
    assert starts(emu, audience_id) == 1


# deadline ---------------------------------------------------------------------------------


async def test_a_resumed_wait_with_the_first_deadline_times_out_on_time(
    emu: Emulator,
    client: aep_ais.AISClient,
    audience_id: str,
    clock: FakeClock,
    make_client: Callable[..., aep_ais.AISClient],
) -> None:
    t0 = clock.now()
    deadline = wall(clock, 30.0)
    kept: list[str] = []

    async def keep(run: aep_ais.IngestionRun) -> None:
        kept.append(run.run_id)

    def crash_at_12s(run: aep_ais.IngestionRun) -> None:
        if clock.now() - t0 >= 12.0:
            raise Crash

    with pytest.raises(Crash):
        await client.run_and_wait(
            audience_id,
            data_filter_start_time=SINCE,
            on_started=keep,
            on_status=crash_at_12s,
            deadline=deadline,
        )
    assert 12.0 <= clock.now() - t0 < 30.0
    resumed = make_client(transport=emu.transport())
    with pytest.raises(aep_ais.WaitTimeoutError) as caught:
        await resumed.wait_for_run(audience_id, kept[0], deadline=deadline)
    assert clock.now() - t0 == pytest.approx(30.0)
    assert caught.value.deadline == deadline
    assert (caught.value.run_id, caught.value.audience_id) == (kept[0], audience_id)
    assert deadline.isoformat() in str(caught.value)
    # Nothing was sent at or after the deadline.
    assert all(t < t0 + 30.0 for t, _, _ in emu.request_times)
    # A wait resumed after the deadline times out at once, sending nothing.
    sent = len(emu.request_log)
    with pytest.raises(aep_ais.WaitTimeoutError):
        await resumed.wait_for_run(audience_id, kept[0], deadline=deadline)
    assert len(emu.request_log) == sent


async def test_the_earlier_of_deadline_and_poll_timeout_wins(
    client: aep_ais.AISClient, audience_id: str, clock: FakeClock
) -> None:
    run = await client.ensure_run(audience_id, data_filter_start_time=SINCE)
    t0 = clock.now()
    with pytest.raises(aep_ais.WaitTimeoutError) as caught:
        await client.wait_for_run(
            audience_id,
            run.run_id,
            poll=aep_ais.PollPolicy(timeout=10.0),
            deadline=wall(clock, 40.0),
        )
    assert clock.now() - t0 == pytest.approx(10.0)
    assert caught.value.timeout == 10.0
    t1 = clock.now()
    with pytest.raises(aep_ais.WaitTimeoutError):
        await client.wait_for_run(
            audience_id,
            run.run_id,
            poll=aep_ais.PollPolicy(timeout=40.0),
            deadline=wall(clock, 5.0),
        )
    assert clock.now() - t1 == pytest.approx(5.0)


async def test_a_deadline_in_another_time_zone_is_the_same_moment(
    client: aep_ais.AISClient, audience_id: str, clock: FakeClock
) -> None:
    run = await client.ensure_run(audience_id, data_filter_start_time=SINCE)
    t0 = clock.now()
    there = wall(clock, 20.0).astimezone(timezone_of(-7))
    with pytest.raises(aep_ais.WaitTimeoutError):
        await client.wait_for_run(audience_id, run.run_id, deadline=there)
    assert clock.now() - t0 == pytest.approx(20.0)


def timezone_of(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


async def test_create_and_wait_and_wait_for_operation_keep_the_deadline(
    emu: Emulator,
    make_client: Callable[..., aep_ais.AISClient],
    make_spec: Callable[..., Any],
    clock: FakeClock,
) -> None:
    slow = Emulator(clock=clock, operation_time=100.0)
    ais = make_client(transport=slow.transport())
    t0 = clock.now()
    deadline = wall(clock, 15.0)
    created: list[aep_ais.Operation] = []
    with pytest.raises(aep_ais.WaitTimeoutError) as caught:
        await ais.create_and_wait(make_spec(), on_created=created.append, deadline=deadline)
    assert clock.now() - t0 == pytest.approx(15.0)
    assert caught.value.server_may_have_acted
    assert caught.value.operation_id == created[0].operation_id
    assert caught.value.deadline == deadline
    with pytest.raises(aep_ais.WaitTimeoutError):
        await ais.wait_for_operation(created[0].operation_id, deadline=deadline)
    assert clock.now() - t0 == pytest.approx(15.0)


async def test_the_deadline_bounds_ensure_run_waiting_out_another_run(
    emu: Emulator,
    client: aep_ais.AISClient,
    audience_id: str,
    clock: FakeClock,
    make_client: Callable[..., aep_ais.AISClient],
) -> None:
    other = await make_client(transport=emu.transport()).ensure_run(
        audience_id, data_filter_start_time=SINCE
    )
    t0 = clock.now()
    with pytest.raises(aep_ais.WaitTimeoutError) as caught:
        await client.ensure_run(audience_id, data_filter_start_time=SINCE, deadline=wall(clock, 8))
    assert clock.now() - t0 == pytest.approx(8.0)
    assert caught.value.run_id == other.run_id
    assert starts(emu, audience_id) == 1
    assert len(client._run_guard) == 0


@pytest.mark.parametrize(
    ("call", "what"),
    [
        ("wait_for_operation", "deadline"),
        ("wait_for_run", "deadline"),
        ("create_and_wait", "deadline"),
        ("run_and_wait", "deadline"),
        ("ensure_run", "deadline"),
        ("run_and_wait", "reuse_since"),
        ("ensure_run", "reuse_since"),
    ],
)
async def test_a_naive_datetime_is_refused_before_any_request(
    emu: Emulator, client: aep_ais.AISClient, make_spec: Callable[..., Any], call: str, what: str
) -> None:
    naive = datetime(2026, 1, 1, 12, 0)
    args: dict[str, tuple[Any, ...]] = {
        "wait_for_operation": ("op-1",),
        "wait_for_run": ("aud-1", "run-1"),
        "create_and_wait": (make_spec(),),
        "run_and_wait": ("aud-1",),
        "ensure_run": ("aud-1",),
    }
    kwargs: dict[str, Any] = {what: naive}
    if call in {"run_and_wait", "ensure_run"}:
        kwargs["data_filter_start_time"] = SINCE
    with pytest.raises(aep_ais.ValidationError) as caught:
        await getattr(client, call)(*args[call], **kwargs)
    assert caught.value.field == what
    assert emu.request_log == []


# on_created / on_started ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_created_is_called_once_before_any_poll(
    emu: Emulator, client: aep_ais.AISClient, make_spec: Callable[..., Any], kind: str
) -> None:
    seen: list[tuple[str, int]] = []

    def note(operation: aep_ais.Operation) -> None:
        seen.append((operation.operation_id, len(polls(emu, "operations"))))

    async def anote(operation: aep_ais.Operation) -> None:
        note(operation)

    operation = await client.create_and_wait(
        make_spec(), on_created=note if kind == "sync" else anote
    )
    assert seen == [(operation.operation_id, 0)]
    assert len(polls(emu, "operations")) >= 1


async def test_on_created_that_raises_ends_the_call_and_leaves_the_creation_alone(
    emu: Emulator, client: aep_ais.AISClient, make_spec: Callable[..., Any], clock: FakeClock
) -> None:
    def broken(operation: aep_ais.Operation) -> None:
        raise Crash(operation.operation_id)

    with pytest.raises(Crash) as caught:
        await client.create_and_wait(make_spec(), on_created=broken)
    assert polls(emu, "operations") == []
    # The creation goes on at the server; it can still be waited for.
    done = await client.wait_for_operation(str(caught.value))
    assert done.status == aep_ais.OperationStatus.SUCCESS
    assert len(emu.operations) == 1


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_started_sees_the_own_run_once_before_any_poll(
    emu: Emulator,
    client: aep_ais.AISClient,
    audience_id: str,
    make_client: Callable[..., aep_ais.AISClient],
    kind: str,
) -> None:
    # Another caller's run is active: "wait" waits it out without calling on_started.
    other = await make_client(transport=emu.transport()).ensure_run(
        audience_id, data_filter_start_time=SINCE
    )
    seen: list[tuple[str, int]] = []

    def note(run: aep_ais.IngestionRun) -> None:
        seen.append((run.run_id, len(polls(emu, f"/runs/{run.run_id}"))))

    async def anote(run: aep_ais.IngestionRun) -> None:
        note(run)

    final = await client.run_and_wait(
        audience_id, data_filter_start_time=SINCE, on_started=note if kind == "sync" else anote
    )
    assert final.run_id != other.run_id
    assert seen == [(final.run_id, 0)]


async def test_on_started_sees_the_run_found_after_a_lost_answer_or_attached(
    emu: Emulator,
    client: aep_ais.AISClient,
    audience_id: str,
    make_client: Callable[..., aep_ais.AISClient],
) -> None:
    seen: list[str] = []
    emu.faults.script(START, ["drop-after"])
    found = await client.run_and_wait(
        audience_id, data_filter_start_time=SINCE, on_started=lambda r: seen.append(r.run_id)
    )
    assert seen == [found.run_id]
    other = await make_client(transport=emu.transport()).ensure_run(
        audience_id, data_filter_start_time=SINCE
    )
    seen.clear()
    attached = await client.run_and_wait(
        audience_id,
        data_filter_start_time=SINCE,
        if_active="attach",
        on_started=lambda r: seen.append(r.run_id),
    )
    assert seen == [other.run_id] == [attached.run_id]


async def test_on_started_that_raises_ends_the_call_and_leaves_the_run_alone(
    emu: Emulator, client: aep_ais.AISClient, audience_id: str, clock: FakeClock
) -> None:
    def broken(run: aep_ais.IngestionRun) -> None:
        raise Crash(run.run_id)

    with pytest.raises(Crash) as caught:
        await client.run_and_wait(audience_id, data_filter_start_time=SINCE, on_started=broken)
    run_id = str(caught.value)
    assert polls(emu, f"/runs/{run_id}") == []
    assert len(client._run_guard) == 0
    final = await client.wait_for_run(audience_id, run_id)
    assert final.status == aep_ais.RunStatus.SUCCESS


# Cancellation -----------------------------------------------------------------------------


async def test_cancelling_ensure_run_releases_the_guard(
    emu: Emulator,
    client: aep_ais.AISClient,
    audience_id: str,
    make_client: Callable[..., aep_ais.AISClient],
) -> None:
    other = await make_client(transport=emu.transport()).ensure_run(
        audience_id, data_filter_start_time=SINCE
    )
    async with anyio.create_task_group() as tg:

        async def step() -> None:
            await client.ensure_run(audience_id, data_filter_start_time=SINCE)

        tg.start_soon(step)
        # It waits out the other run, holding the audience's lock.
        await until(lambda: client._run_guard.busy(audience_id) is not None)
        await until(lambda: len(polls(emu, f"/runs/{other.run_id}")) >= 1)
        tg.cancel_scope.cancel()
    assert len(client._run_guard) == 0
    assert starts(emu, audience_id) == 1
    # The audience is free again for this client.
    ours = await client.ensure_run(audience_id, data_filter_start_time=SINCE)
    assert ours.run_id != other.run_id
