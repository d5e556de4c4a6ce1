"""Waiting helpers: resumable waits, `create_and_wait`, and `run_and_wait` with its run guard.

Semantics every wait shares (`_poll`):

- The deadline is `clock.now() + poll.timeout`, taken when the wait begins (`None`: none).
- A resumable wait (`wait_for_operation`, `wait_for_run`) polls at once; a wait that
  follows a create or a start sleeps first. The sleep before poll `n` (0-based count of
  sleeps) is `poll.delay(n, clock.random())`.
- A `Retry-After` on a poll answer (or on a 429 that ended a poll) is a floor for the
  next sleep: the sleep is `max(scheduled, min(retry_after, retry.max_retry_after))`. It
  never makes a poll come sooner than the policy would, so a past HTTP-date cannot turn
  the wait into a busy loop.
- A request goes out only strictly before the deadline. When the next sleep would reach
  it, the wait sleeps until the deadline, sends nothing more and raises
  `WaitTimeoutError` with the IDs and the last status seen (chained to the last transient
  error, if the last poll failed). Each poll's own retries are bounded by the deadline too.
- Transient errors while polling (`APIConnectionError`, `APITimeoutError`, 429, 5xx) do
  not end the wait; other errors, cancellation included, propagate at once.
- `on_status` sees every polled state, the final one included, before a `FAILED` state
  raises; an error it raises ends the wait.

`run_and_wait` keeps one active run per audience: within a client with the `RunGuard`
(`_guard.py`), across processes by looking at `list_runs` before a start and again after a
start refused with 409 or 422.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs

from ._errors import (
    APIConnectionError,
    ConflictError,
    MalformedResponseError,
    OperationFailedError,
    RateLimitError,
    RunFailedError,
    RunInProgressError,
    ServerError,
    UnprocessableEntityError,
    ValidationError,
    WaitTimeoutError,
)
from ._guard import RunGuard
from ._models import AudienceSpec, IngestionRun, Operation
from ._policies import Clock, PollPolicy
from ._validation import check_id, check_run_window

if TYPE_CHECKING:
    from ._client import AISClient
    from ._transport import Answer

__all__ = [
    "IfActive",
    "OnStatus",
    "RunGuard",
    "create_and_wait",
    "run_and_wait",
    "wait_for_operation",
    "wait_for_run",
]

logger = logging.getLogger("aep_ais")

S = TypeVar("S", Operation, IngestionRun)

OnStatus = Callable[[S], object]
"""A per-call callback that sees every polled state; it may be sync or async."""

IfActive = Literal["wait", "attach", "raise"]
IF_ACTIVE_MODES: frozenset[str] = frozenset({"wait", "attach", "raise"})

# Errors after which a poll is simply tried again later (within the deadline).
_TRANSIENT = (APIConnectionError, RateLimitError, ServerError)


async def _notify(on_status: Callable[[Any], object] | None, state: object) -> None:
    if on_status is None:
        return
    result = on_status(state)
    if inspect.isawaitable(result):
        await result


async def _poll(
    fetch: Callable[[float | None], Awaitable[Answer[S]]],
    *,
    policy: PollPolicy,
    clock: Clock,
    max_hint: float,
    immediate: bool,
    on_status: Callable[[S], object] | None,
    timed_out: Callable[[S | None], WaitTimeoutError],
) -> S:
    """Poll `fetch(deadline)` until its state is done; see the module docstring."""
    deadline = None if policy.timeout is None else clock.now() + policy.timeout
    last: S | None = None
    last_error: Exception | None = None
    hint: float | None = None
    sleeps = 0
    first = True
    while True:
        if not (first and immediate):
            wait = policy.delay(sleeps, clock.random())
            sleeps += 1
            if hint is not None:
                wait = max(wait, min(hint, max_hint))
            if deadline is not None and clock.now() + wait >= deadline:
                left = deadline - clock.now()
                if left > 0:
                    await clock.sleep(left)
                raise timed_out(last) from last_error
            await clock.sleep(wait)
        first = False
        if deadline is not None and clock.now() >= deadline:
            raise timed_out(last) from last_error
        try:
            answer = await fetch(deadline)
        except _TRANSIENT as exc:
            logger.debug("poll failed, will poll again: %s", exc)
            last_error = exc
            hint = getattr(exc, "retry_after", None)
            continue
        last_error = None
        hint = answer.retry_after
        last = answer.value
        await _notify(on_status, last)
        if last.done:
            return last


def _status(state: Operation | IngestionRun | None) -> str | None:
    return None if state is None or state.status is None else str(state.status)


def _operation_outcome(operation: Operation) -> Operation:
    if operation.status == "FAILED":
        raise OperationFailedError(operation)
    if not operation.audience_id:
        # Success is only useful with the id of what was created; an answer without it
        # is the platform's fault, not a reason to hand the caller a half result.
        raise MalformedResponseError(
            f"operation {operation.operation_id} succeeded but its answer has no audienceId",
            status_code=200,
            server_may_have_acted=True,
        )
    return operation


def _run_outcome(run: IngestionRun) -> IngestionRun:
    if run.status == "FAILED":
        raise RunFailedError(run)
    return run


async def _wait_operation(
    client: AISClient,
    operation_id: str,
    *,
    poll: PollPolicy | None,
    on_status: OnStatus[Operation] | None,
    immediate: bool,
) -> Operation:
    check_id(operation_id, "operation_id")
    policy = poll or client.poll

    async def fetch(deadline: float | None) -> Answer[Operation]:
        return await client._get_operation_answer(operation_id, deadline=deadline)

    def timed_out(last: Operation | None) -> WaitTimeoutError:
        return WaitTimeoutError(
            "operation",
            timeout=policy.timeout,
            operation_id=operation_id,
            last_status=_status(last),
        )

    operation = await _poll(
        fetch,
        policy=policy,
        clock=client.clock,
        max_hint=client.retry.max_retry_after,
        immediate=immediate,
        on_status=on_status,
        timed_out=timed_out,
    )
    return _operation_outcome(operation)


async def _wait_run(
    client: AISClient,
    audience_id: str,
    run_id: str,
    *,
    poll: PollPolicy | None,
    on_status: OnStatus[IngestionRun] | None,
    immediate: bool,
) -> IngestionRun:
    check_id(audience_id, "audience_id")
    check_id(run_id, "run_id")
    policy = poll or client.poll

    async def fetch(deadline: float | None) -> Answer[IngestionRun]:
        answer = await client._get_run_answer(audience_id, run_id, deadline=deadline)
        if answer.value.audience_id is None:
            # The errors and the caller need the IDs even when an answer leaves one out.
            return attrs.evolve(answer, value=attrs.evolve(answer.value, audience_id=audience_id))
        return answer

    def timed_out(last: IngestionRun | None) -> WaitTimeoutError:
        return WaitTimeoutError(
            "run",
            timeout=policy.timeout,
            audience_id=audience_id,
            run_id=run_id,
            last_status=_status(last),
        )

    run = await _poll(
        fetch,
        policy=policy,
        clock=client.clock,
        max_hint=client.retry.max_retry_after,
        immediate=immediate,
        on_status=on_status,
        timed_out=timed_out,
    )
    return _run_outcome(run)


async def wait_for_operation(
    client: AISClient,
    operation_id: str,
    *,
    poll: PollPolicy | None = None,
    on_status: OnStatus[Operation] | None = None,
) -> Operation:
    """Poll an audience-creation operation (at once, then per policy) until it ends."""
    return await _wait_operation(
        client, operation_id, poll=poll, on_status=on_status, immediate=True
    )


async def wait_for_run(
    client: AISClient,
    audience_id: str,
    run_id: str,
    *,
    poll: PollPolicy | None = None,
    on_status: OnStatus[IngestionRun] | None = None,
) -> IngestionRun:
    """Poll an ingestion run (at once, then per policy) until it ends."""
    return await _wait_run(
        client, audience_id, run_id, poll=poll, on_status=on_status, immediate=True
    )


async def create_and_wait(
    client: AISClient,
    spec: AudienceSpec,
    *,
    poll: PollPolicy | None = None,
    on_status: OnStatus[Operation] | None = None,
) -> Operation:
    """Create an audience, then wait for its operation; the first poll comes after a sleep."""
    operation = await client.create_audience(spec)
    if operation.done:
        return _operation_outcome(operation)
    return await _wait_operation(
        client, operation.operation_id, poll=poll, on_status=on_status, immediate=False
    )


# run_and_wait ----------------------------------------------------------------------------


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
    if if_active not in IF_ACTIVE_MODES:
        raise ValidationError("if_active", "must be 'wait', 'attach' or 'raise'")
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
