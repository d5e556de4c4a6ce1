"""`create_many` and `run_many`: order, partial failure, the concurrency bound, progress, cancel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest
import respx

import aep_ais
from aep_ais.testing import FakeClock
from tests.conftest import BASE_URL, spec, until
from tests.fake_ais import FakeAIS

SINCE = 1_749_000_000


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FakeAIS]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield FakeAIS(router, clock, op_seconds=3.0, run_seconds=5.0)


@pytest.fixture
def ais(server: FakeAIS, make_client: Callable[..., aep_ais.AISClient]) -> aep_ais.AISClient:
    return make_client()


def specs(n: int) -> list[aep_ais.AudienceSpec]:
    return [spec(name=f"audience {i}") for i in range(n)]


# create_many ------------------------------------------------------------------------------


async def test_results_come_in_input_order_whatever_order_items_end_in(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    inputs = specs(6)
    # The first input takes longest, the last the least: they end in reverse order.
    for i, s in enumerate(inputs):
        server.op_span[s.name] = 10.0 - i
    results = await ais.create_many(inputs, concurrency=6)
    assert [r.input for r in results] == inputs
    assert all(r.ok and r.error is None for r in results)
    values = [r.value for r in results]
    assert all(v is not None and v.status == "SUCCESS" for v in values)
    assert [v.audience_name for v in values if v is not None] == [s.name for s in inputs]
    ends = [server.operations[v.operation_id].ends for v in values if v is not None]
    assert ends == sorted(ends, reverse=True)


async def test_one_failure_does_not_stop_the_others(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    inputs = [*specs(4), spec(name="")]  # the last one is refused before sending
    server.create_error["audience 1"] = 400
    server.op_outcome["audience 2"] = "FAILED"
    results = await ais.create_many(inputs, concurrency=2)
    assert [r.ok for r in results] == [True, False, False, True, False]
    assert isinstance(results[1].error, aep_ais.BadRequestError)
    assert isinstance(results[2].error, aep_ais.OperationFailedError)
    assert isinstance(results[4].error, aep_ais.ValidationError)
    assert all(r.value is None for r in results if not r.ok)
    assert results[3].value is not None and results[3].value.audience_id is not None
    assert len(server.requests("POST")) == 4


@pytest.mark.parametrize("concurrency", [1, 3, 7])
async def test_the_concurrency_bound_is_never_exceeded(
    server: FakeAIS, ais: aep_ais.AISClient, concurrency: int
) -> None:
    inputs = specs(20)
    for i, s in enumerate(inputs):
        server.op_span[s.name] = 5.0 + (i % 4)  # uneven, so slots free up out of order
    results = await ais.create_many(inputs, concurrency=concurrency)
    assert all(r.ok for r in results)
    assert server.max_in_flight == concurrency  # reached, never exceeded
    assert server.in_flight == 0


async def test_progress_is_reported_after_each_item(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    server.create_error["audience 3"] = 400
    progress: list[tuple[int, int]] = []
    await ais.create_many(specs(5), concurrency=2, on_progress=lambda d, t: progress.append((d, t)))
    assert progress == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


async def test_an_async_progress_callback_is_awaited(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    progress: list[int] = []

    async def on_progress(done: int, total: int) -> None:
        await anyio.lowlevel.checkpoint()
        progress.append(done)

    await ais.create_many(specs(3), concurrency=3, on_progress=on_progress)
    assert sorted(progress) == [1, 2, 3]


async def test_a_failing_progress_callback_is_logged_and_the_bulk_call_goes_on(
    server: FakeAIS, ais: aep_ais.AISClient, caplog: pytest.LogCaptureFixture
) -> None:
    server.create_error["audience 2"] = 400
    calls: list[tuple[int, int]] = []

    def on_progress(done: int, total: int) -> None:
        calls.append((done, total))
        if done == 1:
            raise RuntimeError("progress bar broke")

    with caplog.at_level("WARNING", logger="aep_ais"):
        results = await ais.create_many(specs(4), concurrency=2, on_progress=on_progress)
    assert [r.input.name for r in results] == [f"audience {i}" for i in range(4)]
    assert [r.ok for r in results] == [True, True, False, True]
    assert isinstance(results[2].error, aep_ais.BadRequestError)
    assert all(r.value is not None for r in results if r.ok)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    [record] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert record.name == "aep_ais"
    assert "on_progress(1, 4) raised" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


async def test_a_failing_async_progress_callback_does_not_stop_run_many(
    server: FakeAIS, ais: aep_ais.AISClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def on_progress(done: int, total: int) -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError(f"bad {done}")

    with caplog.at_level("WARNING", logger="aep_ais"):
        results = await ais.run_many(
            ["aud-a", "aud-b", "aud-c"],
            data_filter_start_time=SINCE,
            concurrency=3,
            on_progress=on_progress,
        )
    assert [r.value.audience_id for r in results if r.value] == ["aud-a", "aud-b", "aud-c"]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 3
    assert all(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in warnings)


async def test_cancellation_inside_the_progress_callback_still_propagates(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    server.op_span["audience 0"] = 1.0  # ends first; the others run for 1000 s
    server.op_seconds = 1000.0
    progress: list[int] = []
    with anyio.CancelScope() as scope:

        async def on_progress(done: int, total: int) -> None:
            progress.append(done)
            scope.cancel()
            await anyio.lowlevel.checkpoint()  # the cancellation lands here
            progress.append(-1)

        await ais.create_many(specs(3), concurrency=3, on_progress=on_progress)
    assert scope.cancelled_caught
    assert progress == [1]


async def test_each_item_is_reported_with_its_index_and_result_as_it_ends(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    inputs = [*specs(3), spec(name="")]  # the last one is refused before sending
    for i, s in enumerate(inputs[:3]):
        server.op_span[s.name] = 10.0 - i  # they end in reverse order
    seen: list[tuple[int, aep_ais.BulkResult[Any, Any]]] = []
    results = await ais.create_many(inputs, concurrency=4, on_item=lambda i, r: seen.append((i, r)))
    # Reported as each ends: the refused one first, the longest last, each once.
    assert seen[0][0] == 3 and seen[-1][0] == 0
    assert sorted(i for i, _ in seen) == [0, 1, 2, 3]
    assert {i: r for i, r in seen} == dict(enumerate(results))


async def test_an_async_item_callback_is_awaited_for_run_many(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    seen: list[tuple[int, str | None]] = []

    async def on_item(index: int, result: aep_ais.BulkResult[Any, Any]) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append((index, result.value.audience_id if result.value else None))

    await ais.run_many(
        ["aud-a", "aud-b"], data_filter_start_time=SINCE, concurrency=1, on_item=on_item
    )
    assert seen == [(0, "aud-a"), (1, "aud-b")]


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_failing_item_callback_is_logged_and_changes_no_result(
    server: FakeAIS, ais: aep_ais.AISClient, caplog: pytest.LogCaptureFixture, is_async: bool
) -> None:
    def broken(index: int, result: aep_ais.BulkResult[Any, Any]) -> None:
        raise ValueError(f"bad {index}")

    async def broken_async(index: int, result: aep_ais.BulkResult[Any, Any]) -> None:
        await anyio.lowlevel.checkpoint()
        broken(index, result)

    with caplog.at_level("WARNING", logger="aep_ais"):
        results = await ais.create_many(
            [*specs(2), spec(name="")],
            concurrency=3,
            on_item=broken_async if is_async else broken,
        )
    assert [r.ok for r in results] == [True, True, False]
    assert isinstance(results[2].error, aep_ais.ValidationError)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert sorted(r.getMessage() for r in warnings) == [
        f"on_item({i}, ...) raised; the bulk call goes on" for i in range(3)
    ]
    assert all(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in warnings)


async def test_without_wait_only_the_creates_are_sent(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    results = await ais.create_many(specs(3), concurrency=2, wait=False)
    assert [r.value.operation_id for r in results if r.value] == ["op-1", "op-2", "op-3"]
    assert server.requests(kind="operation") == []


async def test_a_per_call_poll_policy_reaches_each_wait(
    server: FakeAIS, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    policy = aep_ais.PollPolicy(interval=0.5, multiplier=1.0, timeout=None)
    await ais.create_many(specs(2), concurrency=1, poll=policy)
    assert set(clock.sleeps) == {0.5}


async def test_an_empty_input_gives_an_empty_list(server: FakeAIS, ais: aep_ais.AISClient) -> None:
    progress: list[Any] = []
    assert await ais.create_many([], concurrency=1, on_progress=progress.append) == []
    assert progress == []


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5, "4"])
async def test_a_bad_concurrency_is_refused_before_any_request(
    server: FakeAIS, ais: aep_ais.AISClient, concurrency: Any
) -> None:
    with pytest.raises(aep_ais.ValidationError, match="concurrency"):
        await ais.create_many(specs(2), concurrency=concurrency)
    with pytest.raises(aep_ais.ValidationError, match="concurrency"):
        await ais.run_many(["a"], data_filter_start_time=SINCE, concurrency=concurrency)
    assert server.log == []


async def test_cancelling_the_caller_cancels_every_item(
    server: FakeAIS, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    server.op_seconds = 1000.0
    progress: list[int] = []
    with anyio.CancelScope() as scope:

        async def watch() -> None:
            await until(lambda: len(server.requests("POST")) >= 4)
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await ais.create_many(
                specs(10), concurrency=4, on_progress=lambda d, t: progress.append(d)
            )
    assert scope.cancelled_caught
    assert progress == []
    assert len(server.requests("POST")) == 4  # the other six never started
    sent = len(server.log)
    await clock.sleep(5000)
    assert len(server.log) == sent  # nothing is still polling


async def test_an_error_is_kept_as_the_exception_object(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    server.create_error["audience 0"] = 500
    [result] = await ais.create_many(specs(1), concurrency=1, wait=False)
    assert isinstance(result.error, aep_ais.InternalServerError)
    assert result.error.status_code == 500
    assert not result.ok


# run_many ---------------------------------------------------------------------------------


async def test_run_many_runs_each_audience_and_keeps_input_order(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    audiences = ["aud-c", "aud-a", "aud-b"]
    results = await ais.run_many(audiences, data_filter_start_time=SINCE, concurrency=3)
    assert [r.input for r in results] == audiences
    assert [r.value.audience_id for r in results if r.value] == audiences
    assert all(r.value is not None and r.value.status == "SUCCESS" for r in results)
    assert server.max_in_flight == 3


async def test_run_many_serialises_a_repeated_audience(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    audiences = ["aud-x", "aud-y", "aud-x", "aud-x"]
    results = await ais.run_many(audiences, data_filter_start_time=SINCE, concurrency=4)
    assert all(r.ok for r in results)
    assert server.max_active["aud-x"] == 1
    assert server.refused == 0
    assert len(server.runs["aud-x"]) == 3
    assert len(ais._run_guard) == 0


async def test_run_many_reports_failed_runs_and_others_succeed(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    server.run_outcome["aud-bad"] = "FAILED"
    other = server.seed_run("aud-busy", seconds=1000.0)
    results = await ais.run_many(
        ["aud-ok", "aud-bad", "aud-busy"],
        data_filter_start_time=SINCE,
        concurrency=2,
        if_active="raise",
    )
    assert [r.ok for r in results] == [True, False, False]
    assert isinstance(results[1].error, aep_ais.RunFailedError)
    assert results[1].error.audience_id == "aud-bad"
    assert isinstance(results[2].error, aep_ais.RunInProgressError)
    assert results[2].error.run_id == other


async def test_run_many_refuses_a_bad_window_once_before_any_request(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    with pytest.raises(aep_ais.ValidationError, match="data_filter_end_time"):
        await ais.run_many(
            ["a", "b"],
            data_filter_start_time=SINCE,
            data_filter_end_time=SINCE - 10,
            concurrency=2,
        )
    with pytest.raises(aep_ais.ValidationError, match="if_active"):
        await ais.run_many(
            ["a"],
            data_filter_start_time=SINCE,
            concurrency=1,
            if_active="never",  # type: ignore[arg-type]
        )
    assert server.log == []


# BulkResult -------------------------------------------------------------------------------


def test_bulk_result_is_a_small_frozen_value() -> None:
    ok = aep_ais.BulkResult(input="a", value=1)
    failed = aep_ais.BulkResult(input="b", error=ValueError("x"))
    assert ok.ok and not failed.ok
    assert failed.value is None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ok.value = 2  # type: ignore[misc]
    assert repr(ok) == "BulkResult(input='a', value=1, error=None)"
    assert type(ok).__module__ == "aep_ais"
