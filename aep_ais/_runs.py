"""`run_and_wait`: start an ingestion run and wait for it, one active run per audience.

Within a client the `RunGuard` (`_guard.py`) serialises calls for one audience; across
processes, the audience's runs are listed before a start, again after a start refused
with 409 or 422 (the status of that refusal is not documented), and again after a start
whose answer was lost, to find the run it may have created instead of leaving it
unwatched or starting a second one.

The listing is the plain, documented `GET .../runs`: no `limit`, `sortBy` or `property`
(those appear only in commented-out text of the docs, so nothing here depends on them).
Its documented order is newest first, but every run it returns is looked at, in case a
server ignores the order.

`ensure_run` is the start half (the look, `if_active`, the start, the recovery), and
returns as soon as the run exists; `run_and_wait` is `ensure_run` and then the wait for
the run, both under the one hold of the audience's lock.

A run is taken for this call's own start only if it is new since this call's own look
just before the start (and asks for the same data window): an earlier run, finished or
not, is never adopted, however close in time or window.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

import attrs

from ._convert import to_epoch
from ._errors import (
    AISError,
    APIConnectionError,
    APIError,
    ConflictError,
    MalformedResponseError,
    ResponseTooLargeError,
    RunFailedError,
    RunInProgressError,
    ServerError,
    TokenError,
    UnprocessableEntityError,
    ValidationError,
)
from ._guard import Hold, RunGuard
from ._models import IngestionRun
from ._policies import PollPolicy
from ._validation import check_aware, check_id, check_run_window
from ._waiting import (
    IfActive,
    OnStatus,
    RunPolls,
    check_if_active,
    earliest,
    ends_at,
    is_transient,
    mark_accepted,
    monotonic,
    notify,
    run_outcome,
    wait_run,
)

__all__ = ["RunCalls", "RunStep", "ensure_run", "run_and_wait"]

logger = logging.getLogger("aep_ais")

T = TypeVar("T")


class RunCalls(RunPolls, Protocol):
    """What `ensure_run` and `run_and_wait` call: the listing, the start and a poll.

    Every start of a run the guard makes goes through `start_run`: a check before each
    start, or a record around it, belongs there.
    """

    async def list_runs(self, audience_id: str) -> Sequence[IngestionRun]:
        """The audience's runs from the plain listing (no query parameters)."""
        ...

    async def start_run(
        self,
        audience_id: str,
        *,
        data_filter_start_time: datetime | int,
        data_filter_end_time: datetime | int | None = None,
    ) -> IngestionRun:
        """`AISClient.start_run`."""
        ...


def _plain(run_id: str) -> bool:
    try:
        check_id(run_id, "run_id")
    except ValidationError:
        return False
    return True


def _created(run: IngestionRun) -> float:
    return run.created_at.timestamp() if run.created_at else 0.0


def _newest(runs: Iterable[IngestionRun]) -> IngestionRun | None:
    return max(runs, key=_created, default=None)


async def _listing(calls: RunCalls, audience_id: str) -> list[IngestionRun]:
    """The audience's runs as the plain listing shows them; ids a path cannot hold are left out."""
    return [r for r in await calls.list_runs(audience_id) if _plain(r.run_id)]


def _newest_active(runs: list[IngestionRun], ignore: set[str]) -> IngestionRun | None:
    """The newest run shown as not done, leaving out runs seen to their end.

    `ignore` keeps a listing that lags behind `get_run` from sending the caller round in
    circles.
    """
    return _newest(r for r in runs if not r.done and r.run_id not in ignore)


# Start failures after which the run may exist all the same.
_MAYBE_STARTED = (APIConnectionError, ServerError, MalformedResponseError, ResponseTooLargeError)


def _own_run(
    runs: list[IngestionRun],
    *,
    window: tuple[datetime | int, datetime | int | None],
    before: list[IngestionRun],
    ignore: set[str],
    me: str | None,
) -> IngestionRun | None:
    """The run this call's start created, among `runs`, or `None`.

    It must be new since `before` (this call's look just before the start; no run listed
    there, nor one older than the newest listed there) and ask for the same data window
    (the start time, and the end time when one was given). Runs in `ignore` (seen to
    their end by this call) are never it, nor a run created by someone other than `me`
    (the `createdBy` of this client's own runs, once known).
    """
    start, end = to_epoch(window[0]), None if window[1] is None else to_epoch(window[1])
    known = {r.run_id for r in before}
    floor = max((_created(r) for r in before), default=0.0)

    def fits(run: IngestionRun) -> bool:
        if run.run_id in known or run.run_id in ignore or _created(run) < floor:
            return False
        if me is not None and run.created_by is not None and run.created_by != me:
            return False
        if run.data_filter_start_time is None or to_epoch(run.data_filter_start_time) != start:
            return False
        return end is None or (
            run.data_filter_end_time is not None and to_epoch(run.data_filter_end_time) == end
        )

    return _newest(r for r in runs if fits(r))


def _reusable(
    runs: list[IngestionRun],
    *,
    window: tuple[datetime | int, datetime | int | None],
    since: datetime,
) -> IngestionRun | None:
    """The newest run `reuse_since` lets a call take instead of starting one, or `None`.

    A run matches if it was created at or after `since` (to the second) and asks for the
    same data window (the same start time, and the same end time when the call gives
    one), whoever started it and whether it is active or has ended. A run whose
    `createdAt` is unknown never matches.
    """
    start, end = to_epoch(window[0]), None if window[1] is None else to_epoch(window[1])
    # The API stamps `createdAt` in whole seconds: a run created in the second `since`
    # falls in is "at or after" it.
    floor = math.floor(since.timestamp())

    def fits(run: IngestionRun) -> bool:
        if run.created_at is None or run.created_at.timestamp() < floor:
            return False
        if run.data_filter_start_time is None or to_epoch(run.data_filter_start_time) != start:
            return False
        return end is None or (
            run.data_filter_end_time is not None and to_epoch(run.data_filter_end_time) == end
        )

    return _newest(r for r in runs if fits(r))


# How long a start whose answer was lost is looked for in a listing that shows no run of
# it yet (a listing may lag behind a start). The start may also have done nothing, and
# then the call ends with its error after this long.
LOST_START_LOOKS = 60.0


async def _find_own_run(
    calls: RunCalls,
    guard: RunGuard,
    audience_id: str,
    *,
    window: tuple[datetime | int, datetime | int | None],
    before: list[IngestionRun],
    ignore: set[str],
    lost: APIError | APIConnectionError,
    policy: PollPolicy,
    until: float | None,
) -> IngestionRun:
    """The run a start created although its answer was lost, or `lost` raised again.

    A listing that shows no run of this start is looked at again with the poll policy's
    backoff, for `LOST_START_LOOKS` seconds at most and never past `until`: an active run
    may show in a listing only some seconds after its start. If a look fails (for any
    reason: a 4xx of the look says nothing about the start), or no run of this start
    shows in time, the start's own error goes up, with the look's error as its context:
    the server may still have acted, and it says so.
    """
    clock = calls.clock
    give_up = earliest(clock.now() + LOST_START_LOOKS, ends_at(clock, policy, until))
    looks = 0
    while True:
        try:
            runs = await _listing(calls, audience_id)
        except AISError:
            raise lost  # noqa: B904 - the look's error stays as the context
        run = _own_run(runs, window=window, before=before, ignore=ignore, me=guard.created_by)
        if run is not None:
            break
        pause = policy.delay(looks, clock.random())
        looks += 1
        if give_up is not None and clock.now() + pause >= give_up:
            raise lost
        logger.debug("start of a run of %s lost its answer; no run listed yet", audience_id)
        await clock.sleep(pause)
    logger.debug("start of a run of %s lost its answer; found run %s", audience_id, run.run_id)
    return attrs.evolve(run, audience_id=run.audience_id or audience_id)


@attrs.frozen(kw_only=True)
class RunStep:
    """What one `ensure_run` or `run_and_wait` is asked: the client's arguments, as given."""

    audience_id: str
    data_filter_start_time: datetime | int
    data_filter_end_time: datetime | int | None
    if_active: IfActive
    reuse_since: datetime | None
    deadline: datetime | None
    policy: PollPolicy
    on_status: OnStatus[IngestionRun] | None = None


class _Call:
    """One `ensure_run` or `run_and_wait`: its arguments and what it has seen so far."""

    __slots__ = (
        "audience_id",
        "calls",
        "deadline",
        "ended",
        "guard",
        "if_active",
        "on_status",
        "policy",
        "reuse_since",
        "window",
    )

    def __init__(self, calls: RunCalls, guard: RunGuard, step: RunStep) -> None:
        self.calls = calls
        self.guard = guard
        self.audience_id = step.audience_id
        self.window = (step.data_filter_start_time, step.data_filter_end_time)
        self.if_active = step.if_active
        self.reuse_since = step.reuse_since
        self.deadline = step.deadline
        self.policy = step.policy
        self.on_status = step.on_status
        # Runs this call saw to their end.
        self.ended: set[str] = set()

    def until(self) -> float | None:
        """The call's `deadline` on the monotonic clock."""
        return monotonic(self.calls.clock, self.deadline)

    def ended_run(self, hold: Hold, final: IngestionRun) -> None:
        self.ended.add(final.run_id)
        hold.ended(final)

    async def wait_out(self, hold: Hold, run: IngestionRun, *, immediate: bool) -> IngestionRun:
        """Wait for `run` to end, telling the guard which run this holder watches."""
        with hold.watching(run.run_id):
            try:
                final = await wait_run(
                    self.calls,
                    self.audience_id,
                    run.run_id,
                    policy=self.policy,
                    deadline=self.deadline,
                    on_status=self.on_status,
                    immediate=immediate,
                )
            except RunFailedError as exc:
                self.ended_run(hold, exc.run)
                raise
        self.ended_run(hold, final)
        return final


def _begin(calls: RunCalls, guard: RunGuard, step: RunStep) -> _Call:
    """Check a call's arguments (nothing is sent before) and refuse a busy `"raise"`."""
    audience_id = step.audience_id
    check_id(audience_id, "audience_id")
    check_run_window(step.data_filter_start_time, step.data_filter_end_time)
    check_if_active(step.if_active)
    check_aware(step.reuse_since, "reuse_since")
    check_aware(step.deadline, "deadline")
    if step.if_active == "raise":
        busy = guard.busy(audience_id)
        if busy is not None:
            raise RunInProgressError(
                audience_id, busy.run_id, detail="another call of this client has it"
            )
    return _Call(calls, guard, step)


async def _ensure(call: _Call, hold: Hold) -> tuple[IngestionRun, bool]:
    """The run this call settles on, under the audience's lock, and whether it started it.

    The run is returned as soon as it exists: this call's own (started, or found after a
    lost answer), an active one taken per `if_active="attach"`, or one `reuse_since` lets
    it take. With `"wait"`, other callers' runs are waited out here first.
    """
    calls, audience_id, if_active = call.calls, call.audience_id, call.if_active
    policy, clock = call.policy, calls.clock
    if if_active == "attach":
        outcome = hold.outcome_since_arrival()
        if outcome is not None:
            return outcome, False
    ended = call.ended

    async def patiently(step: Callable[[], Awaitable[T]], *, token_only: bool = False) -> T:
        # Before our start is sent nothing has acted: a look (or a start that got no
        # token, so was never sent) that fails for a passing reason, a token endpoint
        # outage included, is tried again with the poll policy's backoff, within its
        # timeout.
        deadline = ends_at(clock, policy, call.until())
        tries = 0
        while True:
            try:
                return await step()
            except AISError as exc:
                if not is_transient(exc) or (token_only and not isinstance(exc, TokenError)):
                    raise
                pause = policy.delay(tries, clock.random())
                tries += 1
                if deadline is not None and clock.now() + pause >= deadline:
                    raise
                logger.debug("run guard of %s: %s; trying again", audience_id, exc)
                await clock.sleep(pause)

    refusal: ConflictError | UnprocessableEntityError | None = None
    looks = 0  # looks again after a refusal, while the listing shows no run
    lag_deadline: float | None = None
    before: list[IngestionRun] = []  # the look just before our start
    while True:
        runs = await patiently(lambda: _listing(calls, audience_id))
        if call.reuse_since is not None:
            reused = _reusable(runs, window=call.window, since=call.reuse_since)
            if reused is not None:
                logger.debug("run %s of %s is reused", reused.run_id, audience_id)
                return attrs.evolve(reused, audience_id=reused.audience_id or audience_id), False
        active = _newest_active(runs, ended)
        if active is not None:
            if if_active == "raise":
                raise RunInProgressError(audience_id, active.run_id) from refusal
            refusal, looks, lag_deadline = None, 0, None
            if if_active == "attach":
                return attrs.evolve(active, audience_id=active.audience_id or audience_id), False
            # Another caller's run failing does not stop ours from being started.
            with contextlib.suppress(RunFailedError):
                await call.wait_out(hold, active, immediate=True)
            continue
        if refusal is not None:
            # Refused, yet nothing is active: a run ended in between, or the listing lags.
            known = {r.run_id for r in before} | ended
            between = _newest(r for r in runs if r.run_id not in known)
            if between is not None:
                if if_active == "raise":
                    raise RunInProgressError(
                        audience_id, between.run_id, detail="it ended just after the refusal"
                    ) from refusal
                if if_active == "attach":
                    call.ended_run(hold, between)
                    return attrs.evolve(between, audience_id=audience_id), False
                refusal, looks, lag_deadline = None, 0, None
            else:
                if if_active == "raise":
                    raise RunInProgressError(
                        audience_id,
                        detail="the start was refused; the listing shows no run yet",
                    ) from refusal
                if lag_deadline is None:
                    lag_deadline = ends_at(clock, policy, call.until())
                pause = policy.delay(looks, clock.random())
                looks += 1
                if lag_deadline is not None and clock.now() + pause >= lag_deadline:
                    raise RunInProgressError(
                        audience_id,
                        detail="the start was refused and no run showed in the listing "
                        "within the deadline",
                    ) from refusal
                logger.debug("start of %s refused, no run listed yet; looking again", audience_id)
                await clock.sleep(pause)
                continue
        before = runs
        try:
            run = await patiently(
                lambda: calls.start_run(
                    audience_id,
                    data_filter_start_time=call.window[0],
                    data_filter_end_time=call.window[1],
                ),
                token_only=True,
            )
        except (ConflictError, UnprocessableEntityError) as exc:
            # The refusal's status is not documented: look before deciding.
            refusal = exc
            continue
        except _MAYBE_STARTED as exc:
            # Lost, failed or garbled: if the server may have started the run,
            # look for it rather than leave it unwatched or start a second one.
            if not exc.server_may_have_acted:
                raise
            try:
                run = await _find_own_run(
                    calls,
                    call.guard,
                    audience_id,
                    window=call.window,
                    before=before,
                    ignore=ended,
                    lost=exc,
                    policy=policy,
                    until=call.until(),
                )
            except AISError as lost:
                mark_accepted(lost, audience_id=audience_id)
                raise
        else:
            call.guard.started(run)
        return run, True


async def ensure_run(calls: RunCalls, guard: RunGuard, step: RunStep) -> IngestionRun:
    """`AISClient.ensure_run`, on `calls` under `guard`."""
    call = _begin(calls, guard, step)
    async with guard.hold(call.audience_id) as hold:
        run, ours = await _ensure(call, hold)
        if ours and run.done:
            call.ended_run(hold, run)
        return run


async def run_and_wait(
    calls: RunCalls,
    guard: RunGuard,
    step: RunStep,
    on_started: Callable[[IngestionRun], object] | None,
) -> IngestionRun:
    """`AISClient.run_and_wait`, on `calls` under `guard`: `ensure_run`, then the wait."""
    call = _begin(calls, guard, step)
    audience_id = step.audience_id
    async with guard.hold(audience_id) as hold:
        run, ours = await _ensure(call, hold)
        try:
            await notify(on_started, run)
            if run.done:
                if ours:
                    call.ended_run(hold, run)
                return run_outcome(run)
            # A run of our own was just started: the first poll comes after a sleep.
            return await call.wait_out(hold, run, immediate=not ours)
        except AISError as exc:
            if ours:
                # Our start was accepted: whatever ends the call now, the server has acted.
                mark_accepted(exc, audience_id=audience_id, run_id=run.run_id)
            raise
