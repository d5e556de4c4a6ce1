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

A run is taken for this call's own start only if it is new since this call's own look
just before the start (and asks for the same data window): an earlier run, finished or
not, is never adopted, however close in time or window.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

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
from ._guard import RunGuard
from ._models import IngestionRun
from ._policies import PollPolicy
from ._validation import check_id, check_run_window
from ._waiting import (
    IfActive,
    OnStatus,
    _run_outcome,
    _wait_run,
    check_if_active,
    is_transient,
    mark_accepted,
)

if TYPE_CHECKING:
    from ._client import AISClient

__all__ = ["run_and_wait"]

logger = logging.getLogger("aep_ais")

T = TypeVar("T")


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


async def _listing(client: AISClient, audience_id: str) -> list[IngestionRun]:
    """The audience's runs as the plain listing shows them; ids a path cannot hold are left out."""
    return [r for r in await client.list_runs(audience_id) if _plain(r.run_id)]


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


async def _find_own_run(
    client: AISClient,
    audience_id: str,
    *,
    window: tuple[datetime | int, datetime | int | None],
    before: list[IngestionRun],
    ignore: set[str],
    lost: APIError | APIConnectionError,
) -> IngestionRun:
    """The run a start created although its answer was lost, or `lost` raised again.

    If the listing fails too (for any reason: a 4xx of the look says nothing about the
    start), or shows no run of this start, the start's own error goes up, with the look's
    error as its context: the server may still have acted, and it says so.
    """
    try:
        runs = await _listing(client, audience_id)
    except AISError:
        raise lost  # noqa: B904 - the look's error stays as the context
    me = client._run_guard.created_by
    run = _own_run(runs, window=window, before=before, ignore=ignore, me=me)
    if run is None:
        raise lost
    logger.debug("start of a run of %s lost its answer; found run %s", audience_id, run.run_id)
    return attrs.evolve(run, audience_id=run.audience_id or audience_id)


async def run_and_wait(
    client: AISClient,
    audience_id: str,
    *,
    data_filter_start_time: datetime | int,
    data_filter_end_time: datetime | int | None = None,
    poll: PollPolicy | None = None,
    if_active: IfActive = "wait",
    on_status: OnStatus[IngestionRun] | None = None,
) -> IngestionRun:
    """Start an ingestion run, keeping one active run per audience, and wait for it.

    The client's lock for the audience is held from the look for an active run to the end
    of the wait. `poll.timeout` bounds each wait (for another run, and for this one, and
    the looks again after a refused start while the listing shows no run yet), not the
    time spent queued behind this client's other calls for the audience.

    A start refused with 409 or 422 is looked into: a run active in the listing is
    handled per `if_active`; a run that ended between the refusal and the look is started
    after (`"wait"`), returned (`"attach"`) or named in `RunInProgressError` (`"raise"`);
    a listing that shows no run yet is looked at again with the poll policy's backoff
    (`"raise"` does not wait: its `RunInProgressError` may then name no run). No bare
    `ConflictError` leaves: the refusal is the `RunInProgressError`'s `__cause__`.
    """
    check_id(audience_id, "audience_id")
    check_run_window(data_filter_start_time, data_filter_end_time)
    check_if_active(if_active)
    guard: RunGuard = client._run_guard
    if if_active == "raise":
        busy = guard.busy(audience_id)
        if busy is not None:
            raise RunInProgressError(
                audience_id, busy.run_id, detail="another run_and_wait of this client has it"
            )
    policy = poll or client.poll
    clock = client.clock
    window = (data_filter_start_time, data_filter_end_time)
    async with guard.hold(audience_id) as (slot, arrived):
        if if_active == "attach" and slot.finished != arrived and slot.outcome is not None:
            return _run_outcome(slot.outcome)

        ended: set[str] = set()

        def record(final: IngestionRun) -> None:
            ended.add(final.run_id)
            slot.finished += 1
            slot.outcome = final

        async def wait_out(run: IngestionRun, *, immediate: bool) -> IngestionRun:
            slot.run_id = run.run_id
            try:
                final = await _wait_run(
                    client,
                    audience_id,
                    run.run_id,
                    poll=poll,
                    on_status=on_status,
                    immediate=immediate,
                )
            except RunFailedError as exc:
                record(exc.run)
                raise
            finally:
                slot.run_id = None
            record(final)
            return final

        async def own(run: IngestionRun) -> IngestionRun:
            # Our start was accepted: whatever ends the call now, the server has acted.
            try:
                if run.done:
                    record(run)
                    return _run_outcome(run)
                return await wait_out(run, immediate=False)
            except AISError as exc:
                mark_accepted(exc, audience_id=audience_id, run_id=run.run_id)
                raise

        async def patiently(step: Callable[[], Awaitable[T]], *, token_only: bool = False) -> T:
            # Before our start is sent nothing has acted: a look (or a start that got no
            # token, so was never sent) that fails for a passing reason, a token endpoint
            # outage included, is tried again with the poll policy's backoff, within its
            # timeout.
            deadline = None if policy.timeout is None else clock.now() + policy.timeout
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
            runs = await patiently(lambda: _listing(client, audience_id))
            active = _newest_active(runs, ended)
            if active is not None:
                if if_active == "raise":
                    raise RunInProgressError(audience_id, active.run_id) from refusal
                refusal, looks, lag_deadline = None, 0, None
                if if_active == "attach":
                    return await wait_out(active, immediate=True)
                # Another caller's run failing does not stop ours from being started.
                with contextlib.suppress(RunFailedError):
                    await wait_out(active, immediate=True)
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
                        record(between)
                        return _run_outcome(attrs.evolve(between, audience_id=audience_id))
                    refusal, looks, lag_deadline = None, 0, None
                else:
                    if if_active == "raise":
                        raise RunInProgressError(
                            audience_id,
                            detail="the start was refused; the listing shows no run yet",
                        ) from refusal
                    if lag_deadline is None:
                        timeout = policy.timeout
                        lag_deadline = None if timeout is None else clock.now() + timeout
                    pause = policy.delay(looks, clock.random())
                    looks += 1
                    if lag_deadline is not None and clock.now() + pause >= lag_deadline:
                        raise RunInProgressError(
                            audience_id,
                            detail="the start was refused and no run showed in the listing "
                            "within the deadline",
                        ) from refusal
                    logger.debug(
                        "start of %s refused, no run listed yet; looking again", audience_id
                    )
                    await clock.sleep(pause)
                    continue
            before = runs
            try:
                run = await patiently(
                    lambda: client.start_run(
                        audience_id,
                        data_filter_start_time=data_filter_start_time,
                        data_filter_end_time=data_filter_end_time,
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
                        client, audience_id, window=window, before=before, ignore=ended, lost=exc
                    )
                except AISError as lost:
                    mark_accepted(lost, audience_id=audience_id)
                    raise
            else:
                guard.created_by = run.created_by or guard.created_by
            return await own(run)
