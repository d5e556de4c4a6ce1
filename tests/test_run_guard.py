"""`run_and_wait` and its one-active-run guard, against a stateful fake of the runs API.

The fake (`tests/fake_ais.py`) refuses a start while a run of the audience is active, as
the platform does, and counts the most runs ever active at once per audience.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import respx

import aep_ais
from aep_ais._guard import RunGuard
from aep_ais.testing import FakeClock
from tests.conftest import API_KEY, BASE_URL, ORG_ID, TOKEN, until
from tests.fake_ais import FakeAIS

AUD = "aud-1"
SINCE = 1_749_000_000


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FakeAIS]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield FakeAIS(router, clock, run_seconds=5.0)


@pytest.fixture
def ais(server: FakeAIS, make_client: Callable[..., aep_ais.AISClient]) -> aep_ais.AISClient:
    return make_client()


def kinds(server: FakeAIS) -> list[str]:
    """The requests so far, as `list`, `start` and `poll:<run>`."""
    out = []
    for _, method, path in server.log:
        if path.endswith("/runs"):
            out.append("start" if method == "POST" else "list")
        elif "/runs/" in path:
            out.append("poll:" + path.rsplit("/", 1)[1])
    return out


# One client, many callers ----------------------------------------------------------------


async def test_fifty_concurrent_calls_on_one_audience_never_have_two_runs_active(
    server: FakeAIS, make_client: Callable[..., aep_ais.AISClient]
) -> None:
    # Fifty runs of one audience: more than its daily quota, so no guardrails here.
    ais = make_client(guardrails=None)
    results: list[aep_ais.IngestionRun] = []
    peak_guard = 0

    async def one() -> None:
        nonlocal peak_guard
        peak_guard = max(peak_guard, len(ais._run_guard))
        results.append(await ais.run_and_wait(AUD, data_filter_start_time=SINCE))

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(one)
    assert len(results) == 50
    assert all(r.status == "SUCCESS" for r in results)
    assert len({r.run_id for r in results}) == 50
    assert server.max_active[AUD] == 1
    assert server.refused == 0
    assert len(server.requests("POST")) == 50
    assert peak_guard == 1  # one lock for one audience, however many callers
    assert len(ais._run_guard) == 0


async def test_calls_for_different_audiences_run_side_by_side(
    server: FakeAIS, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    audiences = [f"aud-{i}" for i in range(30)]
    async with anyio.create_task_group() as tg:
        for audience in audiences:
            tg.start_soon(lambda a=audience: ais.run_and_wait(a, data_filter_start_time=SINCE))
        await until(lambda: len(server.requests("POST")) == 30)
        assert len(ais._run_guard) == 30
    assert len(ais._run_guard) == 0
    assert max(server.max_active.values()) == 1
    # All 30 ran at once on virtual time: together they took about as long as one.
    assert clock.now() < 2 * server.run_seconds + 5


async def test_the_guard_drops_each_lock_when_unused() -> None:
    guard = RunGuard()
    release = anyio.Event()

    async def hold(audience_id: str) -> None:
        async with guard.hold(audience_id):
            await release.wait()

    async with anyio.create_task_group() as tg:
        for i in range(2_000):
            tg.start_soon(hold, f"aud-{i}")
        await until(lambda: len(guard) == 2_000)
        release.set()
    assert len(guard) == 0
    assert guard._slots == {}
    for i in range(5_000):  # one after another: never more than the one in use
        async with guard.hold(f"aud-{i}"):
            assert len(guard) == 1
    assert len(guard) == 0


async def test_a_lock_stays_while_anyone_waits_for_it() -> None:
    guard = RunGuard()
    entered: list[int] = []

    async def user(n: int) -> None:
        async with guard.hold(AUD):
            entered.append(n)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(user, n)
        await until(lambda: len(entered) == 1)
        assert len(guard) == 1
        assert guard.busy(AUD) is not None
    assert entered == [0, 1, 2]
    assert len(guard) == 0
    assert guard.busy(AUD) is None


async def test_in_process_raise_names_the_run_another_call_is_waiting_on(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: ais.run_and_wait(AUD, data_filter_start_time=SINCE))
        await until(lambda: len(server.requests(kind="run")) == 1)
        sent = len(server.log)
        with pytest.raises(aep_ais.RunInProgressError) as caught:
            await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="raise")
        assert len(server.log) == sent  # refused without a request
    first_run = server.runs[AUD][0].run_id
    assert (caught.value.audience_id, caught.value.run_id) == (AUD, first_run)
    assert len(server.runs[AUD]) == 1


async def test_in_process_attach_returns_the_outcome_of_the_run_in_progress(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    results: dict[str, aep_ais.IngestionRun] = {}

    async def call(name: str, if_active: Any) -> None:
        results[name] = await ais.run_and_wait(
            AUD, data_filter_start_time=SINCE, if_active=if_active
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "first", "wait")
        await until(lambda: len(server.requests("POST")) == 1)
        tg.start_soon(call, "attached", "attach")
    assert results["attached"] == results["first"]
    assert results["attached"].status == "SUCCESS"
    assert len(server.runs[AUD]) == 1  # no second run was started


async def test_in_process_attach_to_a_failed_run_raises_its_failure(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    server.run_outcome[AUD] = "FAILED"
    errors: list[BaseException] = []

    async def call(if_active: Any) -> None:
        try:
            await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active=if_active)
        except aep_ais.RunFailedError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "wait")
        await until(lambda: len(server.requests("POST")) == 1)
        tg.start_soon(call, "attach")
    assert len(errors) == 2
    assert {e.run_id for e in errors if isinstance(e, aep_ais.RunFailedError)} == {
        server.runs[AUD][0].run_id
    }
    assert len(server.runs[AUD]) == 1


# A run already active on the server (another process) ------------------------------------


async def test_wait_mode_waits_for_the_active_run_then_starts_its_own(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    other = server.seed_run(AUD, seconds=2.0)
    seen: list[tuple[str, str | None]] = []
    result = await ais.run_and_wait(
        AUD, data_filter_start_time=SINCE, on_status=lambda r: seen.append((r.run_id, r.status))
    )
    ours = server.runs[AUD][1].run_id
    assert result.run_id == ours
    assert result.status == "SUCCESS"
    # Look, wait for the other run (polled at once, then per policy), look again, start.
    assert kinds(server)[:5] == ["list", f"poll:{other}", f"poll:{other}", f"poll:{other}", "list"]
    assert kinds(server)[5] == "start"
    assert seen[0] == (other, "PROCESSING")
    assert (other, "SUCCESS") in seen
    assert seen[-1] == (ours, "SUCCESS")
    assert server.max_active[AUD] == 1
    assert server.refused == 0


async def test_wait_mode_starts_its_run_even_when_the_other_run_failed(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    server.seed_run(AUD, seconds=2.0, outcome="FAILED")
    result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE)
    assert result.status == "SUCCESS"
    assert result.run_id == server.runs[AUD][1].run_id


async def test_attach_mode_returns_the_active_runs_outcome(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    other = server.seed_run(AUD, seconds=2.0)
    result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="attach")
    assert result.run_id == other
    assert result.status == "SUCCESS"
    assert server.requests("POST") == []


async def test_attach_mode_raises_the_active_runs_failure(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    other = server.seed_run(AUD, seconds=2.0, outcome="FAILED")
    with pytest.raises(aep_ais.RunFailedError) as caught:
        await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="attach")
    assert caught.value.run_id == other
    assert [s.status for s in caught.value.run.details] == ["FAILED", "FAILED"]
    assert server.requests("POST") == []


async def test_raise_mode_names_the_active_run_and_starts_nothing(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    other = server.seed_run(AUD, seconds=2.0)
    with pytest.raises(aep_ais.RunInProgressError) as caught:
        await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="raise")
    assert (caught.value.audience_id, caught.value.run_id) == (AUD, other)
    assert kinds(server) == ["list"]
    assert len(ais._run_guard) == 0


async def test_a_finished_run_in_the_listing_is_not_waited_for(
    server: FakeAIS, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    server.seed_run(AUD, seconds=1.0)
    clock.advance(2.0)
    await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="raise")
    assert kinds(server)[:2] == ["list", "start"]


async def test_a_listing_that_lags_behind_the_run_does_not_loop(
    server: FakeAIS, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    other = server.seed_run(AUD, seconds=1.0)
    server.stale_in_listing.add(other)  # listed as PROCESSING for ever
    clock.advance(2.0)
    with anyio.fail_after(5):  # real seconds: a loop would spin without virtual time
        result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE)
    assert result.status == "SUCCESS"
    assert kinds(server)[:4] == ["list", f"poll:{other}", "list", "start"]


# A start refused because of an active run (409 / 422) ------------------------------------


@pytest.mark.parametrize("status", [409, 422])
@pytest.mark.parametrize("if_active", ["wait", "attach", "raise"])
async def test_a_refused_start_looks_for_the_active_run(
    clock: FakeClock,
    make_client: Callable[..., aep_ais.AISClient],
    status: int,
    if_active: Any,
) -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        server = FakeAIS(router, clock, refuse_status=status)
        other = server.seed_run(AUD, seconds=2.0)
        # The listing lags: it shows the other run only after the refusal.
        server.hidden_until_refused.add(other)
        async with make_client() as ais:
            if if_active == "raise":
                with pytest.raises(aep_ais.RunInProgressError) as caught:
                    await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="raise")
                assert caught.value.run_id == other
                cause = aep_ais.ConflictError if status == 409 else aep_ais.UnprocessableEntityError
                assert isinstance(caught.value.__cause__, cause)
                assert kinds(server) == ["list", "start", "list"]
                return
            result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active=if_active)
    assert kinds(server)[:4] == ["list", "start", "list", f"poll:{other}"]
    if if_active == "attach":
        assert result.run_id == other
        assert len(server.runs[AUD]) == 1
    else:
        assert result.run_id == server.runs[AUD][1].run_id
        assert server.refused == 1
    assert result.status == "SUCCESS"


@pytest.mark.parametrize(
    ("status", "error"),
    [(409, aep_ais.ConflictError), (422, aep_ais.UnprocessableEntityError)],
)
async def test_a_refusal_no_listing_ever_explains_ends_at_the_deadline_as_run_in_progress(
    server: FakeAIS, ais: aep_ais.AISClient, status: int, error: type[Exception]
) -> None:
    server.start_error[AUD] = status
    with pytest.raises(aep_ais.RunInProgressError) as caught:
        await ais.run_and_wait(
            AUD, data_filter_start_time=SINCE, poll=aep_ais.PollPolicy(timeout=10)
        )
    assert caught.value.run_id is None
    assert isinstance(caught.value.__cause__, error)
    # Looked again with backoff, never started again, nothing sent past the deadline.
    assert kinds(server)[:3] == ["list", "start", "list"]
    assert set(kinds(server)[3:]) == {"list"} and len(kinds(server)) > 4
    assert all(t < 10 for t, _, _ in server.log)
    assert len(ais._run_guard) == 0


# A run that ends between the refused start and the look (issue 9, item 7) ----------------


@pytest.fixture
def ends_at_refusal(server: FakeAIS, clock: FakeClock) -> str:
    """A run of another process, not listed before the refusal, that ends right after it."""
    other = server.seed_run(AUD, seconds=2.0)
    server.hidden_until_refused.add(other)
    server.on_refusal = lambda: clock.advance(3.0)
    return other


async def test_wait_mode_starts_its_run_when_the_refusing_run_ended_before_the_look(
    server: FakeAIS, ais: aep_ais.AISClient, ends_at_refusal: str
) -> None:
    result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE)
    assert result.status == "SUCCESS"
    assert result.run_id != ends_at_refusal
    assert result.run_id == server.runs[AUD][1].run_id
    assert kinds(server)[:4] == ["list", "start", "list", "start"]
    assert server.refused == 1


async def test_attach_mode_returns_the_run_that_just_ended(
    server: FakeAIS, ais: aep_ais.AISClient, ends_at_refusal: str
) -> None:
    result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="attach")
    assert (result.run_id, result.status) == (ends_at_refusal, "SUCCESS")
    assert len(server.runs[AUD]) == 1
    assert kinds(server) == ["list", "start", "list"]


async def test_raise_mode_names_the_run_that_just_ended(
    server: FakeAIS, ais: aep_ais.AISClient, ends_at_refusal: str
) -> None:
    with pytest.raises(aep_ais.RunInProgressError) as caught:
        await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="raise")
    assert caught.value.run_id == ends_at_refusal
    assert isinstance(caught.value.__cause__, aep_ais.ConflictError)


# A listing that lags behind the start it refused for (issue 10, item 5) ------------------


@pytest.fixture
def lagging(server: FakeAIS) -> str:
    """Another process's run, active for 20 s, that the listing shows only 5 s after start."""
    server.listing_lag = 5.0
    return server.seed_run(AUD, seconds=20.0)


async def test_wait_mode_looks_again_until_the_listing_shows_the_run_then_waits_for_it(
    server: FakeAIS, ais: aep_ais.AISClient, lagging: str, clock: FakeClock
) -> None:
    result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE)
    assert result.run_id == server.runs[AUD][1].run_id
    assert clock.now() >= 20.0
    assert server.refused == 1  # looked again, never started again before it showed
    order = kinds(server)
    assert order[:3] == ["list", "start", "list"]
    first_poll = order.index(f"poll:{lagging}")
    assert set(order[2:first_poll]) == {"list"}


async def test_attach_mode_waits_until_the_listing_shows_the_run(
    server: FakeAIS, ais: aep_ais.AISClient, lagging: str
) -> None:
    result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="attach")
    assert (result.run_id, result.status) == (lagging, "SUCCESS")
    assert len(server.runs[AUD]) == 1


async def test_raise_mode_raises_run_in_progress_at_once_even_if_no_run_is_listed(
    server: FakeAIS, ais: aep_ais.AISClient, lagging: str, clock: FakeClock
) -> None:
    with pytest.raises(aep_ais.RunInProgressError) as caught:
        await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="raise")
    assert caught.value.run_id is None
    assert isinstance(caught.value.__cause__, aep_ais.ConflictError)
    assert kinds(server) == ["list", "start", "list"]
    assert clock.now() == 0.0


async def test_the_guards_looks_use_the_plain_documented_listing(
    server: FakeAIS, ais: aep_ais.AISClient, lagging: str
) -> None:
    # Issue 10, item 4: no limit, sortBy or property: they are not in the published docs.
    await ais.run_and_wait(AUD, data_filter_start_time=SINCE)
    assert len(server.list_queries) >= 4
    assert set(server.list_queries) == {""}


async def test_a_listing_in_another_order_still_shows_the_active_run(
    clock: FakeClock, make_client: Callable[..., aep_ais.AISClient]
) -> None:
    listing = {
        "runs": [
            {"runId": f"old-{i}", "status": "SUCCESS", "createdAt": 1_750_000_000 + i}
            for i in range(30)
        ]
        + [{"runId": "active", "status": "PROCESSING", "createdAt": 1_750_000_100}]
    }
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.get(f"/external-audience/{AUD}/runs").respond(200, json=listing)
        async with make_client() as ais:
            with pytest.raises(aep_ais.RunInProgressError) as caught:
                await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active="raise")
    assert caught.value.run_id == "active"


async def test_other_start_errors_are_not_taken_for_an_active_run(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    server.start_error[AUD] = 400
    with pytest.raises(aep_ais.BadRequestError):
        await ais.run_and_wait(AUD, data_filter_start_time=SINCE)
    assert kinds(server) == ["list", "start"]


# Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"if_active": "skip"}, "if_active"),
        ({"data_filter_end_time": SINCE - 1}, "data_filter_end_time"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    server: FakeAIS, ais: aep_ais.AISClient, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(aep_ais.ValidationError) as caught:
        await ais.run_and_wait(AUD, data_filter_start_time=SINCE, **kwargs)
    assert field in str(caught.value)
    assert server.log == []


async def test_a_bad_audience_id_is_refused_before_any_request(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    with pytest.raises(aep_ais.ValidationError, match="audience_id"):
        await ais.run_and_wait("../other", data_filter_start_time=SINCE)
    assert server.log == []


# Cancellation ----------------------------------------------------------------------------


async def test_cancelling_mid_poll_and_mid_queue_releases_the_guard(
    server: FakeAIS, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    server.run_seconds = 1000.0
    async with anyio.create_task_group() as tg:
        holder = anyio.CancelScope()
        queued = anyio.CancelScope()

        async def call(scope: anyio.CancelScope) -> None:
            with scope:
                await ais.run_and_wait(AUD, data_filter_start_time=SINCE)

        tg.start_soon(call, holder)
        await until(lambda: len(server.requests(kind="run")) == 2)  # polling its run
        tg.start_soon(call, queued)
        await until(lambda: ais._run_guard.busy(AUD) is not None)
        await until(lambda: getattr(ais._run_guard.busy(AUD), "users", 0) == 2)
        queued.cancel()
        await until(lambda: getattr(ais._run_guard.busy(AUD), "users", 0) == 1)
        holder.cancel()
    assert holder.cancelled_caught and queued.cancelled_caught
    assert len(ais._run_guard) == 0
    sent = len(server.log)
    await clock.sleep(60)
    assert len(server.log) == sent  # nothing is left polling

    # The server was left alone: the cancelled caller's run is still going. The next call
    # finds it, waits for it, then runs its own.
    first = server.runs[AUD][0]
    assert server.active(AUD) == [first]
    server.run_seconds = 5.0
    result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE)
    assert result.status == "SUCCESS"
    assert result.run_id == server.runs[AUD][1].run_id
    assert clock.now() >= first.ends
    assert server.max_active[AUD] == 1
    assert len(ais._run_guard) == 0


async def test_cancelling_during_the_look_for_an_active_run_releases_the_guard(
    server: FakeAIS, ais: aep_ais.AISClient
) -> None:
    with anyio.CancelScope() as scope:
        scope.cancel()
        await ais.run_and_wait(AUD, data_filter_start_time=SINCE)
    assert scope.cancelled_caught
    assert len(ais._run_guard) == 0
    result = await ais.run_and_wait(AUD, data_filter_start_time=SINCE)
    assert result.status == "SUCCESS"


# Under trio -------------------------------------------------------------------------------


def test_the_guard_holds_under_trio() -> None:
    async def main() -> tuple[FakeAIS, list[aep_ais.IngestionRun], int]:
        clock = FakeClock(fixed_random=0.5)
        results: list[aep_ais.IngestionRun] = []
        with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
            server = FakeAIS(router, clock)
            server.seed_run(AUD, seconds=3.0)
            ais = aep_ais.AISClient(
                org_id=ORG_ID,
                auth=aep_ais.StaticToken(TOKEN),
                api_key=API_KEY,
                clock=clock,
                guardrails=None,  # eleven runs of one audience: past its daily quota
            )
            async with ais, anyio.create_task_group() as tg:
                for _ in range(10):

                    async def one() -> None:
                        results.append(await ais.run_and_wait(AUD, data_filter_start_time=SINCE))

                    tg.start_soon(one)
            return server, results, len(ais._run_guard)

    server, results, guard_size = anyio.run(main, backend="trio")
    assert len({r.run_id for r in results}) == 10
    assert server.max_active[AUD] == 1
    assert server.refused == 0
    assert guard_size == 0


def test_a_lagging_listing_and_a_run_that_ended_at_the_refusal_under_trio() -> None:
    async def scenario(lag: bool) -> tuple[str, str, list[str]]:
        clock = FakeClock(fixed_random=0.5)
        with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
            server = FakeAIS(router, clock)
            if lag:
                server.listing_lag = 5.0
                other = server.seed_run(AUD, seconds=20.0)
            else:
                other = server.seed_run(AUD, seconds=2.0)
                server.hidden_until_refused.add(other)
                server.on_refusal = lambda: clock.advance(3.0)
            async with aep_ais.AISClient(
                org_id=ORG_ID, auth=aep_ais.StaticToken(TOKEN), api_key=API_KEY, clock=clock
            ) as ais:
                mode: Any = "attach" if lag else "wait"
                run = await ais.run_and_wait(AUD, data_filter_start_time=SINCE, if_active=mode)
            return other, run.run_id, kinds(server)

    other, attached, _ = anyio.run(scenario, True, backend="trio")
    assert attached == other
    other, ours, order = anyio.run(scenario, False, backend="trio")
    assert ours != other
    assert order[:4] == ["list", "start", "list", "start"]
