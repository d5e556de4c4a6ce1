"""The layers under the client: each works from what it is given, never from the client.

The polling engine takes a fetch callable, a policy, a clock and a deadline; the run
helpers take a `RunCalls` protocol and a `RunGuard`; the bulk engine a work callable.
These tests drive each with small in-memory stand-ins, no `AISClient` at all,
and check the seams later work builds on (a check before every start, a record around it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import attrs
import pytest

import aep_ais
from aep_ais import _bulk, _runs, _waiting
from aep_ais._guard import RunGuard
from aep_ais.testing import FakeClock
from tests.conftest import until

AUD = "aud-1"
SINCE = 1_749_000_000


@attrs.frozen
class Polled:
    value: Any
    retry_after: float | None = None


def timed_out(last: Any) -> aep_ais.WaitTimeoutError:
    return aep_ais.WaitTimeoutError("run", timeout=None, audience_id=AUD, run_id="r")


# The engine ------------------------------------------------------------------------------


async def test_the_engine_polls_a_plain_callable_until_done() -> None:
    clock = FakeClock(fixed_random=0.5)
    states = iter(["QUEUED", "PROCESSING", "SUCCESS"])

    async def fetch(deadline: float | None) -> Polled:
        return Polled(aep_ais.IngestionRun(run_id="r", status=next(states)))

    # The policy's own timeout (1 s) is not read: only the deadline given ends the wait.
    policy = aep_ais.PollPolicy(interval=2.0, multiplier=1.0, jitter=0.0, timeout=1.0)
    run = await _waiting.poll(fetch, policy=policy, clock=clock, deadline=None, timed_out=timed_out)
    assert run.status == "SUCCESS"
    assert clock.sleeps == [2.0, 2.0]


async def test_the_engine_ends_at_its_deadline_and_sends_nothing_after() -> None:
    clock = FakeClock(fixed_random=0.5)
    fetched: list[tuple[float, float | None]] = []

    async def fetch(deadline: float | None) -> Polled:
        fetched.append((clock.now(), deadline))
        return Polled(aep_ais.IngestionRun(run_id="r", status="PROCESSING"))

    policy = aep_ais.PollPolicy(interval=3.0, multiplier=1.0, jitter=0.0, timeout=None)
    with pytest.raises(aep_ais.WaitTimeoutError):
        await _waiting.poll(fetch, policy=policy, clock=clock, deadline=10.0, timed_out=timed_out)
    assert clock.now() == 10.0
    assert [t for t, _ in fetched] == [0.0, 3.0, 6.0, 9.0]
    # Each fetch learns the deadline, to bound its own retries.
    assert {d for _, d in fetched} == {10.0}


# Runs on a protocol ----------------------------------------------------------------------


class Runs:
    """An in-memory `RunCalls`: runs take `seconds`; one active run per audience."""

    def __init__(self, clock: FakeClock, seconds: float = 5.0) -> None:
        self.clock = clock
        self.max_retry_after = 60.0
        self.seconds = seconds
        self.runs: list[tuple[aep_ais.IngestionRun, float]] = []
        self.starts = 0

    def _state(self, run: aep_ais.IngestionRun, started: float) -> aep_ais.IngestionRun:
        done = self.clock.now() >= started + self.seconds
        return attrs.evolve(run, status="SUCCESS" if done else "PROCESSING")

    async def list_runs(self, audience_id: str) -> Sequence[aep_ais.IngestionRun]:
        return [self._state(r, t) for r, t in reversed(self.runs)]

    async def start_run(
        self,
        audience_id: str,
        *,
        data_filter_start_time: datetime | int,
        data_filter_end_time: datetime | int | None = None,
    ) -> aep_ais.IngestionRun:
        self.starts += 1
        if any(not self._state(r, t).done for r, t in self.runs):
            raise aep_ais.ConflictError("busy", status_code=409)
        start = data_filter_start_time
        run = aep_ais.IngestionRun(
            run_id=f"run-{len(self.runs) + 1}",
            audience_id=audience_id,
            created_at=datetime.fromtimestamp(int(self.clock.time()), tz=UTC),
            data_filter_start_time=(
                start if isinstance(start, datetime) else datetime.fromtimestamp(start, tz=UTC)
            ),
        )
        self.runs.append((run, self.clock.now()))
        return run

    async def run_answer(self, audience_id: str, run_id: str, *, deadline: float | None) -> Polled:
        [(run, started)] = [(r, t) for r, t in self.runs if r.run_id == run_id]
        return Polled(self._state(run, started))


class Checked:
    """A `RunCalls` wrapper: a check before every start and a record around it."""

    def __init__(self, inner: Runs, *, refuse: bool = False) -> None:
        self.inner = inner
        self.refuse = refuse
        self.journal: list[str] = []

    @property
    def clock(self) -> FakeClock:
        return self.inner.clock

    @property
    def max_retry_after(self) -> float:
        return self.inner.max_retry_after

    async def list_runs(self, audience_id: str) -> Sequence[aep_ais.IngestionRun]:
        return await self.inner.list_runs(audience_id)

    async def run_answer(self, audience_id: str, run_id: str, *, deadline: float | None) -> Any:
        return await self.inner.run_answer(audience_id, run_id, deadline=deadline)

    async def start_run(self, audience_id: str, **window: Any) -> aep_ais.IngestionRun:
        if self.refuse:
            raise aep_ais.QuotaExceededError("audience", limit=10, sandbox="prod")
        self.journal.append(f"starting {audience_id}")
        run = await self.inner.start_run(audience_id, **window)
        self.journal.append(f"started {run.run_id}")
        return run


def step(**overrides: Any) -> _runs.RunStep:
    kwargs: dict[str, Any] = {
        "audience_id": AUD,
        "data_filter_start_time": SINCE,
        "data_filter_end_time": None,
        "if_active": "wait",
        "reuse_since": None,
        "deadline": None,
        "policy": aep_ais.PollPolicy(jitter=0.0),
    }
    kwargs.update(overrides)
    return _runs.RunStep(**kwargs)


async def test_runs_work_on_a_protocol_and_every_start_passes_its_start_run() -> None:
    clock = FakeClock(fixed_random=0.5)
    calls = Checked(Runs(clock))
    guard = RunGuard()
    first = await _runs.ensure_run(calls, guard, step())
    assert not first.done
    # The next call waits the first run out, then starts its own.
    second = await _runs.run_and_wait(calls, guard, step(), on_started=None)
    assert (second.run_id, second.status) == ("run-2", "SUCCESS")
    assert calls.journal == ["starting aud-1", "started run-1", "starting aud-1", "started run-2"]
    assert len(guard) == 0


async def test_a_check_before_the_start_that_refuses_ends_the_call_with_nothing_started() -> None:
    clock = FakeClock(fixed_random=0.5)
    inner = Runs(clock)
    guard = RunGuard()
    with pytest.raises(aep_ais.QuotaExceededError):
        await _runs.ensure_run(Checked(inner, refuse=True), guard, step())
    assert inner.starts == 0
    assert len(guard) == 0


# The guard's own rules ---------------------------------------------------------------------


async def test_a_caller_queued_behind_a_run_that_ended_gets_its_outcome_and_later_ones_do_not() -> (
    None
):
    guard = RunGuard()
    final = aep_ais.IngestionRun(run_id="r1", status="SUCCESS")
    seen: dict[str, Any] = {}

    async def queued(name: str) -> None:
        async with guard.hold(AUD) as hold:
            seen[name] = hold.outcome_since_arrival()

    async with anyio.create_task_group() as tg, guard.hold(AUD) as first:
        assert first.outcome_since_arrival() is None
        tg.start_soon(queued, "behind")
        await until(lambda: getattr(guard.busy(AUD), "users", 0) == 2)
        with first.watching("r1"):
            assert guard.busy(AUD) == aep_ais._guard.Busy(run_id="r1", users=2)
        assert getattr(guard.busy(AUD), "run_id", "?") is None
        first.ended(final)
    await queued("later")
    assert seen == {"behind": final, "later": None}
    assert guard.busy(AUD) is None


def test_the_guard_learns_who_we_are_only_from_a_named_creator() -> None:
    guard = RunGuard()
    guard.started(aep_ais.IngestionRun(run_id="r1", created_by="me@tech"))
    guard.started(aep_ais.IngestionRun(run_id="r2"))
    assert guard.created_by == "me@tech"
    assert guard.for_sandbox("dev").created_by == "me@tech"


# The bulk engine ------------------------------------------------------------------------


async def test_the_bulk_engine_keeps_input_order_and_each_items_failure() -> None:
    async def work(name: str) -> str:
        if name == "b":
            raise aep_ais.OperationFailedError(
                aep_ais.Operation(operation_id="op-b", status="FAILED")
            )
        await anyio.lowlevel.checkpoint()
        return f"aud-{name}"

    seen: list[tuple[int, int]] = []
    made = await _bulk._bulk(
        "abc", work, concurrency=2, on_progress=lambda done, total: seen.append((done, total))
    )
    assert [(r.input, r.ok, r.value) for r in made] == [
        ("a", True, "aud-a"),
        ("b", False, None),
        ("c", True, "aud-c"),
    ]
    assert isinstance(made[1].error, aep_ais.OperationFailedError)
    assert seen == [(1, 3), (2, 3), (3, 3)]
