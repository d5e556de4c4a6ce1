"""Waits: the poll schedule, `Retry-After`, the deadline, failures, transient errors, cancel.

Everything runs on a `FakeClock`: its `sleeps` list is the exact schedule the SDK followed,
and requests are stamped with the virtual time they went out at.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

import aep_ais
from aep_ais import _waiting
from aep_ais._transport import Answer
from aep_ais.testing import FakeClock
from tests.conftest import AUDIENCE_ID, OPERATION_ID, RUN_ID, until

Sample = Callable[[str], Any]
OP_PATH = f"/external-audience/operations/{OPERATION_ID}"
RUN_PATH = f"/external-audience/{AUDIENCE_ID}/runs/{RUN_ID}"
# interval 1, doubling, capped at 5: with random() fixed at 0.5 the jitter factor is 1.
POLICY = aep_ais.PollPolicy(interval=1.0, multiplier=2.0, max_interval=5.0, timeout=None)


def op(status: str, **extra: Any) -> httpx.Response:
    body = {"operationId": OPERATION_ID, "status": status, **extra}
    if status == "SUCCESS":
        body.setdefault("audienceId", AUDIENCE_ID)
    return httpx.Response(200, json=body)


def run(status: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {
        "runId": RUN_ID,
        "status": status,
        "details": [
            {"stage": "DATASET_INGEST", "status": "SUCCESS", "flowRunId": "f1"},
            {"stage": "PROFILE_STORE_INGEST", "status": status, "flowRunId": "f2"},
        ],
    }
    return httpx.Response(200, json=body, headers=headers)


def stamped(clock: FakeClock, responses: list[Any], times: list[float]) -> Callable[..., Any]:
    """A side effect that answers `responses` in turn and notes each request's time."""
    queue = list(responses)

    def answer(request: httpx.Request) -> Any:
        times.append(clock.now())
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return answer


# The schedule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rand", "expected"),
    [
        (0.5, [1.0, 2.0, 4.0, 5.0, 5.0]),
        # factor 0.9: the cap applies before the jitter as well as after it
        (0.0, [0.9, 1.8, 3.6, 4.5, 4.5]),
        # factor 1.1: the jittered wait is capped again at max_interval
        (1.0, [1.1, 2.2, 4.4, 5.0, 5.0]),
    ],
)
async def test_resumable_wait_polls_at_once_then_follows_the_policy(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    rand: float,
    expected: list[float],
) -> None:
    clock = FakeClock(fixed_random=rand)
    times: list[float] = []
    responses = [op("PROCESSING")] * 5 + [op("SUCCESS", audienceId=AUDIENCE_ID)]
    route = api.get(OP_PATH).mock(side_effect=stamped(clock, responses, times))
    seen: list[str] = []
    async with make_client(clock=clock, poll=POLICY) as ais:
        result = await ais.wait_for_operation(
            OPERATION_ID, on_status=lambda o: seen.append(str(o.status))
        )
    assert result.status == aep_ais.OperationStatus.SUCCESS
    assert result.audience_id == AUDIENCE_ID
    assert clock.sleeps == pytest.approx(expected)
    assert times[0] == 0.0  # the first poll goes out at once
    assert route.call_count == 6
    assert seen == ["PROCESSING"] * 5 + ["SUCCESS"]


async def test_create_and_wait_sleeps_an_interval_before_its_first_poll(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock, make_spec: Any
) -> None:
    api.post("/external-audience/").respond(202, json={"operationId": OPERATION_ID})
    times: list[float] = []
    responses = [op("PROCESSING"), op("SUCCESS", audienceId=AUDIENCE_ID)]
    api.get(OP_PATH).mock(side_effect=stamped(clock, responses, times))
    result = await ais.create_and_wait(make_spec())
    assert result.audience_id == AUDIENCE_ID
    # The client's default policy: 1 s, then 1.2 s (random() is 0.5, so no jitter).
    assert clock.sleeps == pytest.approx([1.0, 1.2])
    assert times == pytest.approx([1.0, 2.2])


async def test_per_call_policy_overrides_the_client_default(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    api.get(OP_PATH).mock(side_effect=[op("PROCESSING"), op("PROCESSING"), op("SUCCESS")])
    fast = aep_ais.PollPolicy(interval=0.25, multiplier=1.0, timeout=None)
    await ais.wait_for_operation(OPERATION_ID, poll=fast)
    assert clock.sleeps == [0.25, 0.25]


async def test_an_async_on_status_is_awaited(api: respx.MockRouter, ais: aep_ais.AISClient) -> None:
    api.get(RUN_PATH).mock(side_effect=[run("PROCESSING"), run("SUCCESS")])
    seen: list[str | None] = []

    async def on_status(state: aep_ais.IngestionRun) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(state.status)

    await ais.wait_for_run(AUDIENCE_ID, RUN_ID, on_status=on_status)
    assert seen == ["PROCESSING", "SUCCESS"]


# Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", [7.0, 2.0, 4.0]),  # longer than the schedule: honoured
        ("0.5", [1.0, 2.0, 4.0]),  # shorter: the policy's own wait stands (it is a floor)
        # FakeClock's wall clock reads Sun, 15 Jun 2025 15:06:40 GMT (epoch 1_750_000_000).
        ("Sun, 15 Jun 2025 15:05:40 GMT", [1.0, 2.0, 4.0]),  # a date in the past: no floor
        ("Sun, 15 Jun 2025 15:07:00 GMT", [20.0, 2.0, 4.0]),  # a date 20 s ahead
        ("100000", [120.0, 2.0, 4.0]),  # capped at RetryPolicy.max_retry_after
        ("soon", [1.0, 2.0, 4.0]),  # unreadable: ignored
    ],
)
async def test_retry_after_on_a_poll_answer_sets_a_floor_for_the_next_wait(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    header: str,
    expected: list[float],
) -> None:
    clock = FakeClock(fixed_random=0.5)
    api.get(RUN_PATH).mock(
        side_effect=[
            run("PROCESSING", headers={"Retry-After": header}),
            run("PROCESSING"),
            run("PROCESSING"),
            run("SUCCESS"),
        ]
    )
    async with make_client(clock=clock, poll=POLICY) as ais:
        await ais.wait_for_run(AUDIENCE_ID, RUN_ID)
    assert clock.sleeps == pytest.approx(expected)


async def test_retry_after_is_read_on_every_answer(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient], clock: FakeClock
) -> None:
    api.get(RUN_PATH).mock(
        side_effect=[
            run("PROCESSING", headers={"Retry-After": "3"}),
            run("PROCESSING", headers={"Retry-After": "9"}),
            run("PROCESSING"),
            run("SUCCESS"),
        ]
    )
    async with make_client(poll=POLICY) as ais:
        await ais.wait_for_run(AUDIENCE_ID, RUN_ID)
    assert clock.sleeps == [3.0, 9.0, 4.0]


async def test_retry_after_never_carries_the_wait_past_its_deadline(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient], clock: FakeClock
) -> None:
    times: list[float] = []
    responses = [run("PROCESSING", headers={"Retry-After": "60"})]
    route = api.get(RUN_PATH).mock(side_effect=stamped(clock, responses, times))
    policy = aep_ais.PollPolicy(interval=1.0, timeout=10.0)
    async with make_client() as ais:
        with pytest.raises(aep_ais.WaitTimeoutError) as caught:
            await ais.wait_for_run(AUDIENCE_ID, RUN_ID, poll=policy)
    assert clock.sleeps == [10.0]
    assert clock.now() == 10.0
    assert route.call_count == 1
    assert caught.value.last_status == "PROCESSING"


# The deadline ---------------------------------------------------------------------------


async def test_past_the_deadline_the_wait_raises_with_ids_and_sends_nothing_more(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient], clock: FakeClock
) -> None:
    times: list[float] = []
    route = api.get(OP_PATH).mock(side_effect=stamped(clock, [op("PROCESSING")], times))
    policy = aep_ais.PollPolicy(interval=1.0, multiplier=2.0, max_interval=30.0, timeout=10.0)
    async with make_client() as ais:
        with pytest.raises(aep_ais.WaitTimeoutError) as caught:
            await ais.wait_for_operation(OPERATION_ID, poll=policy)
    # Polls at 0, 1, 3, 7; the next would be at 15, so the wait sleeps to 10 and stops.
    assert times == [0.0, 1.0, 3.0, 7.0]
    assert clock.sleeps == [1.0, 2.0, 4.0, 3.0]
    assert clock.now() == 10.0
    assert route.call_count == 4
    error = caught.value
    assert (error.kind, error.operation_id, error.last_status, error.timeout) == (
        "operation",
        OPERATION_ID,
        "PROCESSING",
        10.0,
    )
    assert f"wait_for_operation('{OPERATION_ID}')" in str(error)


async def test_a_run_wait_timeout_names_the_audience_and_the_run(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient]
) -> None:
    api.get(RUN_PATH).mock(return_value=run("QUEUED"))
    async with make_client() as ais:
        with pytest.raises(aep_ais.WaitTimeoutError) as caught:
            await ais.wait_for_run(
                AUDIENCE_ID, RUN_ID, poll=aep_ais.PollPolicy(interval=2.0, timeout=3.0)
            )
    error = caught.value
    assert (error.kind, error.audience_id, error.run_id, error.last_status) == (
        "run",
        AUDIENCE_ID,
        RUN_ID,
        "QUEUED",
    )


async def test_a_zero_timeout_sends_no_request_at_all(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    # No route is defined: any request would fail the test.
    with pytest.raises(aep_ais.WaitTimeoutError) as caught:
        await ais.wait_for_operation(OPERATION_ID, poll=aep_ais.PollPolicy(timeout=0.0))
    assert caught.value.last_status is None
    assert clock.sleeps == []


async def test_a_poll_that_lands_exactly_on_the_deadline_is_not_sent(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient], clock: FakeClock
) -> None:
    times: list[float] = []
    api.get(OP_PATH).mock(side_effect=stamped(clock, [op("PROCESSING")], times))
    policy = aep_ais.PollPolicy(interval=2.0, multiplier=1.0, timeout=4.0)
    async with make_client() as ais:
        with pytest.raises(aep_ais.WaitTimeoutError):
            await ais.wait_for_operation(OPERATION_ID, poll=policy)
    assert times == [0.0, 2.0]
    assert clock.now() == 4.0


async def test_transport_retries_inside_a_poll_stop_at_the_deadline(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient], clock: FakeClock
) -> None:
    times: list[float] = []
    api.get(OP_PATH).mock(side_effect=stamped(clock, [httpx.Response(503)], times))
    policy = aep_ais.PollPolicy(interval=1.0, timeout=2.0)
    async with make_client() as ais:
        with pytest.raises(aep_ais.WaitTimeoutError) as caught:
            await ais.wait_for_operation(OPERATION_ID, poll=policy)
    # The transport retries after 0.25, 0.5 and 1.0 s (full jitter at 0.5); its attempts
    # end at 1.75, and the next poll would be at 2.75, so the wait ends at 2.
    assert times == [0.0, 0.25, 0.75, 1.75]
    assert all(t < 2.0 for t in times)
    assert clock.now() == 2.0
    assert caught.value.last_status is None
    assert isinstance(caught.value.__cause__, aep_ais.ServiceUnavailableError)


# Outcomes -------------------------------------------------------------------------------


async def test_a_failed_operation_raises_with_its_last_state(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.get(OP_PATH).mock(
        side_effect=[op("PROCESSING"), op("FAILED", audienceName="Spring buyers")]
    )
    with pytest.raises(aep_ais.OperationFailedError) as caught:
        await ais.wait_for_operation(OPERATION_ID)
    assert caught.value.operation_id == OPERATION_ID
    assert caught.value.operation.status == "FAILED"
    assert caught.value.operation.audience_name == "Spring buyers"


async def test_a_success_without_an_audience_id_is_a_malformed_answer(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.get(OP_PATH).mock(side_effect=[op("PROCESSING"), op("SUCCESS", audienceId=None)])
    with pytest.raises(aep_ais.MalformedResponseError) as caught:
        await ais.wait_for_operation(OPERATION_ID)
    assert OPERATION_ID in str(caught.value)
    assert "audienceId" in str(caught.value)


async def test_a_failed_run_raises_with_its_stages(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.get(RUN_PATH).mock(side_effect=[run("PROCESSING"), run("FAILED")])
    with pytest.raises(aep_ais.RunFailedError) as caught:
        await ais.wait_for_run(AUDIENCE_ID, RUN_ID)
    failed = caught.value
    # The answer carries no audienceId; the error has it from the call.
    assert (failed.audience_id, failed.run_id) == (AUDIENCE_ID, RUN_ID)
    assert [(s.stage, s.status) for s in failed.run.details] == [
        ("DATASET_INGEST", "SUCCESS"),
        ("PROFILE_STORE_INGEST", "FAILED"),
    ]
    assert "PROFILE_STORE_INGEST=FAILED" in str(failed)


async def test_unknown_statuses_count_as_in_progress(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    route = api.get(RUN_PATH).mock(
        side_effect=[run("STAGING"), run("PROFILE_MERGE_PENDING"), run("SUCCESS")]
    )
    seen: list[Any] = []
    result = await ais.wait_for_run(AUDIENCE_ID, RUN_ID, on_status=seen.append)
    assert result.status == "SUCCESS"
    assert route.call_count == 3
    assert [s.status for s in seen] == ["STAGING", "PROFILE_MERGE_PENDING", "SUCCESS"]


async def test_a_create_that_fails_is_raised_without_polling(
    api: respx.MockRouter, ais: aep_ais.AISClient, make_spec: Any
) -> None:
    api.post("/external-audience/").respond(409, json={"error_code": "100950-409"})
    with pytest.raises(aep_ais.ConflictError):
        await ais.create_and_wait(make_spec())


async def test_a_non_transient_error_while_polling_ends_the_wait(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    route = api.get(RUN_PATH).mock(side_effect=[run("PROCESSING"), httpx.Response(404)])
    with pytest.raises(aep_ais.NotFoundError):
        await ais.wait_for_run(AUDIENCE_ID, RUN_ID)
    assert route.call_count == 2


async def test_bad_ids_are_refused_before_any_request(ais: aep_ais.AISClient) -> None:
    with pytest.raises(aep_ais.ValidationError, match="run_id"):
        await ais.wait_for_run(AUDIENCE_ID, "../x")
    with pytest.raises(aep_ais.ValidationError, match="operation_id"):
        await ais.wait_for_operation("a b")


# Transient errors -----------------------------------------------------------------------


async def test_transient_errors_while_polling_do_not_end_the_wait(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient], clock: FakeClock
) -> None:
    times: list[float] = []
    responses: list[Any] = [
        httpx.ConnectError("refused"),
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        run("SUCCESS"),
    ]
    route = api.get(RUN_PATH).mock(side_effect=stamped(clock, responses, times))
    # One attempt per request, so each transient error ends one poll.
    async with make_client(poll=POLICY, retry=aep_ais.RetryPolicy(max_attempts=1)) as ais:
        result = await ais.wait_for_run(AUDIENCE_ID, RUN_ID)
    assert result.status == "SUCCESS"
    assert route.call_count == 5
    # The 429's Retry-After of 3 s beats the scheduled 2 s.
    assert clock.sleeps == [1.0, 3.0, 4.0, 5.0]


async def test_transient_errors_are_retried_by_the_transport_too(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    route = api.get(OP_PATH).mock(
        side_effect=[httpx.Response(502), httpx.ConnectError("x"), op("SUCCESS")]
    )
    result = await ais.wait_for_operation(OPERATION_ID)
    assert result.status == "SUCCESS"
    assert route.call_count == 3
    assert clock.sleeps == [0.25, 0.5]  # the transport's backoff, within one poll


# Cancellation ---------------------------------------------------------------------------


async def test_cancelling_a_wait_stops_polling_at_once(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    route = api.get(RUN_PATH).mock(return_value=run("PROCESSING"))
    with anyio.CancelScope() as scope:

        def on_status(state: aep_ais.IngestionRun) -> None:
            if route.call_count == 3:
                scope.cancel()

        await ais.wait_for_run(AUDIENCE_ID, RUN_ID, on_status=on_status)
    assert scope.cancelled_caught
    assert route.call_count == 3
    # Three more checkpoints give any leftover task a chance to poll again.
    for _ in range(3):
        await clock.sleep(60)
    assert route.call_count == 3


async def test_cancelling_from_a_task_group_leaves_no_task_behind(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    route = api.get(OP_PATH).mock(return_value=op("PROCESSING"))
    finished = anyio.Event()

    async def waiter() -> None:
        try:
            await ais.wait_for_operation(OPERATION_ID)
        finally:
            finished.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await until(lambda: route.call_count >= 2)
        tg.cancel_scope.cancel()
    assert finished.is_set()
    calls = route.call_count
    await clock.sleep(100)
    assert route.call_count == calls


async def test_a_request_cancelled_in_flight_is_not_retried(
    make_client: Callable[..., aep_ais.AISClient], clock: FakeClock
) -> None:
    calls = 0

    async def hang(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    ais = make_client(transport=httpx.MockTransport(hang))
    async with ais, anyio.create_task_group() as tg:
        tg.start_soon(ais.wait_for_operation, OPERATION_ID)
        await until(lambda: calls >= 1)
        tg.cancel_scope.cancel()
    assert calls == 1
    assert clock.sleeps == []  # no backoff either: the cancellation went straight up


# Property: the schedule -----------------------------------------------------------------

CAP = aep_ais.RetryPolicy().max_retry_after


class _Transient(aep_ais.RateLimitError):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__("busy", status_code=429, retry_after=retry_after)


@settings(max_examples=200, deadline=None)
@given(
    interval=st.floats(0.0, 50.0, exclude_min=True),
    multiplier=st.floats(1.0, 3.0),
    max_interval=st.floats(0.0, 60.0, exclude_min=True),
    jitter=st.floats(0.0, 1.0),
    timeout=st.one_of(st.none(), st.floats(0.0, 400.0)),
    seed=st.integers(0, 2**16),
    immediate=st.booleans(),
    answers=st.lists(
        st.tuples(
            st.booleans(),  # a transient error instead of a state
            st.one_of(st.none(), st.floats(0.0, 1000.0)),  # a Retry-After hint
        ),
        max_size=40,
    ),
)
def test_the_poll_schedule_stays_within_its_bounds(
    interval: float,
    multiplier: float,
    max_interval: float,
    jitter: float,
    timeout: float | None,
    seed: int,
    immediate: bool,
    answers: list[tuple[bool, float | None]],
) -> None:
    policy = aep_ais.PollPolicy(
        interval=interval,
        multiplier=multiplier,
        max_interval=max_interval,
        jitter=jitter,
        timeout=timeout,
    )
    clock = FakeClock(seed=seed)
    fetched_at: list[float] = []
    hints: list[float | None] = []

    async def fetch(deadline: float | None) -> Answer[aep_ais.IngestionRun]:
        fetched_at.append(clock.now())
        if len(fetched_at) > len(answers):
            return Answer(aep_ais.IngestionRun(run_id="r", status="SUCCESS"), 200, None)
        transient, hint = answers[len(fetched_at) - 1]
        hints.append(hint)
        if transient:
            raise _Transient(hint)
        return Answer(aep_ais.IngestionRun(run_id="r", status="RUNNING"), 200, hint)

    def timed_out(last: aep_ais.IngestionRun | None) -> aep_ais.WaitTimeoutError:
        return aep_ais.WaitTimeoutError("run", timeout=timeout, audience_id="a", run_id="r")

    async def main() -> bool:
        try:
            await _waiting.poll(
                fetch,
                policy=policy,
                clock=clock,
                deadline=None if timeout is None else clock.now() + timeout,
                max_hint=CAP,
                immediate=immediate,
                on_status=None,
                timed_out=timed_out,
            )
        except aep_ais.WaitTimeoutError:
            return True
        return False

    did_time_out = anyio.run(main)
    # Each sleep follows the answer before it (none before the first, if it slept first).
    before = ([] if immediate else [None]) + hints
    for i, slept in enumerate(clock.sleeps):
        assert slept >= 0.0
        hint = before[i] if i < len(before) else None
        bound = max_interval if hint is None else max(max_interval, min(hint, CAP))
        assert slept <= bound + 1e-9
    if timeout is not None:
        assert all(t < timeout for t in fetched_at)
        assert clock.now() <= timeout + 1e-9
        if did_time_out:
            assert math.isclose(clock.now(), timeout, abs_tol=1e-9)
    else:
        assert not did_time_out


# End to end, on the emulator, under both backends ------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_full_life_cycle_with_the_waiting_helpers_on_the_emulator(backend: str) -> None:
    from aep_ais.testing import Emulator
    from tests.conftest import spec

    async def main() -> None:
        clock = FakeClock(fixed_random=0.5)
        emu = Emulator(clock=clock, operation_time=3.0, run_time=6.0)
        # Transient faults on the first polls: the waits ride through them.
        emu.faults.script("GET /external-audience/operations/x", [503, "drop", 429])
        client = aep_ais.AISClient(
            org_id="0123456789ABCDEF01234567@AdobeOrg",
            auth=aep_ais.StaticToken("static-token"),
            api_key="my-api-key",
            clock=clock,
            transport=emu.transport(),
        )
        async with client as ais:
            created = await ais.create_many(
                [spec(name=f"Life cycle {i}") for i in range(3)], concurrency=2
            )
            assert all(r.ok for r in created), [r.error for r in created]
            ids = [r.value.audience_id for r in created if r.value and r.value.audience_id]
            assert len(ids) == 3 and set(ids) <= set(emu.audiences)

            # The same audience twice: the guard runs them one after the other.
            ran = await ais.run_many(
                [ids[0], ids[1], ids[0]], data_filter_start_time=1_700_000_000, concurrency=3
            )
            assert [r.value.status for r in ran if r.value] == ["SUCCESS"] * 3
            assert emu.start_attempts[ids[0]] == 2  # never refused: no start while active
            assert all(status != 409 for _, _, status in emu.request_log)

            # Someone else's run is active: attach to it rather than start another.
            theirs = await ais.start_run(ids[1], data_filter_start_time=1_700_000_000)
            attached = await ais.run_and_wait(
                ids[1], data_filter_start_time=1_700_000_000, if_active="attach"
            )
            assert attached.run_id == theirs.run_id
            assert attached.status == "SUCCESS"

            # A wait that times out is resumed from its IDs alone.
            started = await ais.start_run(ids[2], data_filter_start_time=1_700_000_000)
            with pytest.raises(aep_ais.WaitTimeoutError) as caught:
                await ais.wait_for_run(ids[2], started.run_id, poll=aep_ais.PollPolicy(timeout=2.0))
            error = caught.value
            assert error.last_status is not None and error.last_status != "SUCCESS"
            assert (error.audience_id, error.run_id) == (ids[2], started.run_id)
            assert error.run_id is not None and error.audience_id is not None
            resumed = await ais.wait_for_run(error.audience_id, error.run_id)
            assert resumed.status == "SUCCESS"
            assert [s.status for s in resumed.details] == ["SUCCESS", "SUCCESS"]
            assert len(ais._run_guard) == 0
        assert emu.faults_injected == {"503-before": 1, "drop-before": 1, "429": 1}
        assert len(emu.runs) == 5

    anyio.run(main, backend=backend)
