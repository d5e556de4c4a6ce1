"""`run_and_wait`: start an ingestion run and wait for it, one active run per audience.

Within a client the `RunGuard` (`_guard.py`) serialises calls for one audience; across
processes, `list_runs` is read before a start, again after a start refused with 409 or 422
(the status of that refusal is not documented), and again after a start whose answer was
lost, to find the run it may have created instead of leaving it unwatched or starting a
second one.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from ._convert import to_epoch
from ._errors import (
    APIConnectionError,
    APIError,
    ConflictError,
    MalformedResponseError,
    ResponseTooLargeError,
    RunFailedError,
    RunInProgressError,
    ServerError,
    UnprocessableEntityError,
)
from ._guard import RunGuard
from ._models import IngestionRun
from ._policies import PollPolicy
from ._validation import check_id, check_run_window
from ._waiting import _TRANSIENT, IfActive, OnStatus, _run_outcome, _wait_run, check_if_active

if TYPE_CHECKING:
    from ._client import AISClient

__all__ = ["run_and_wait"]

logger = logging.getLogger("aep_ais")


def _newest_active(runs: list[IngestionRun], ignore: set[str]) -> IngestionRun | None:
    active = [r for r in runs if not r.done and r.run_id not in ignore]
    if not active:
        return None
    return max(active, key=lambda r: r.created_at.timestamp() if r.created_at else 0.0)


async def _find_active_run(
    client: AISClient, audience_id: str, *, ignore: set[str]
) -> IngestionRun | None:
    """The newest run the listing shows as not done, leaving out runs seen to their end.

    Only one run can be active, so the newest few are enough; all of them are scanned in
    case the server ignores the sort. `ignore` keeps a listing that lags behind `get_run`
    from sending the caller round in circles.
    """
    runs = await client.list_runs(audience_id, limit=10, sort_by="-createdAt")
    return _newest_active(runs, ignore)


# Start failures after which the run may exist all the same.
_MAYBE_STARTED = (APIConnectionError, ServerError, MalformedResponseError, ResponseTooLargeError)

# How far a run's `createdAt` (server clock) may precede the moment the client sent its
# start (client clock) and still be taken for that start's run.
_CLOCK_SKEW = 30.0


async def _find_own_run(
    client: AISClient,
    audience_id: str,
    *,
    window: tuple[datetime | int, datetime | int | None],
    sent_at: float,
    ignore: set[str],
    lost: APIError | APIConnectionError,
) -> IngestionRun:
    """The run a start created although its answer was lost, or `lost` raised again.

    A run counts as this start's own when it asks for the same data window (the start
    time, and the end time when one was given) and was created no earlier than the start
    was sent, less `_CLOCK_SKEW`. If the listing fails too, or shows no such run, the
    original error goes up: the server may still have acted, and it says so.
    """
    start, end = to_epoch(window[0]), None if window[1] is None else to_epoch(window[1])
    try:
        runs = await client.list_runs(audience_id, limit=10, sort_by="-createdAt")
    except _TRANSIENT:
        raise lost from None
    for run in runs:
        if run.run_id in ignore or run.data_filter_start_time is None:
            continue
        if to_epoch(run.data_filter_start_time) != start:
            continue
        if end is not None and (
            run.data_filter_end_time is None or to_epoch(run.data_filter_end_time) != end
        ):
            continue
        if run.created_at is not None and run.created_at.timestamp() < sent_at - _CLOCK_SKEW:
            continue
        logger.debug("start of a run of %s lost its answer; found run %s", audience_id, run.run_id)
        return attrs.evolve(run, audience_id=run.audience_id or audience_id)
    raise lost


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
    of the wait. `poll.timeout` bounds each wait (for another run, and for this one), not
    the time spent queued behind this client's other calls for the audience.
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

        refusal: ConflictError | UnprocessableEntityError | None = None
        while True:
            active = await _find_active_run(client, audience_id, ignore=ended)
            if active is None:
                if refusal is not None:
                    raise refusal
                sent_at = client.clock.time()
                try:
                    run = await client.start_run(
                        audience_id,
                        data_filter_start_time=data_filter_start_time,
                        data_filter_end_time=data_filter_end_time,
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
                    run = await _find_own_run(
                        client,
                        audience_id,
                        window=(data_filter_start_time, data_filter_end_time),
                        sent_at=sent_at,
                        ignore=ended,
                        lost=exc,
                    )
                if run.done:
                    record(run)
                    return _run_outcome(run)
                return await wait_out(run, immediate=False)
            if if_active == "raise":
                raise RunInProgressError(audience_id, active.run_id) from refusal
            refusal = None
            if if_active == "attach":
                return await wait_out(active, immediate=True)
            # Another caller's run failing does not stop ours from being started.
            with contextlib.suppress(RunFailedError):
                await wait_out(active, immediate=True)
