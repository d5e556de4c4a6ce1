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
- Transient errors while polling (`APIConnectionError`, `APITimeoutError`, 429, 5xx, and
  a `TokenError` from a token endpoint that gave no answer, a 429 or a 5xx) do not end
  the wait; other errors, cancellation included, propagate at once.
- After a create or a start was accepted (`create_and_wait`, `run_and_wait` on its own
  run) the server has acted: an `AISError` that ends the call later says
  `server_may_have_acted=True` and carries the ids to resume with (`operation_id`;
  `audience_id` and `run_id`), whatever request it came from. An id in an accepted
  answer that is not a plain identifier is a `MalformedResponseError` (the server acted),
  never a `ValidationError` (which means nothing was sent).
- `on_status` sees every polled state, the final one included, before a `FAILED` state
  raises; an error it raises ends the wait.

`run_and_wait`, built on these waits, lives in `_runs.py`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs

from ._errors import (
    AISError,
    APIConnectionError,
    MalformedResponseError,
    OperationFailedError,
    RateLimitError,
    RunFailedError,
    ServerError,
    TokenError,
    ValidationError,
    WaitTimeoutError,
)
from ._models import AudienceSpec, IngestionRun, Operation
from ._policies import Clock, PollPolicy
from ._validation import check_id

if TYPE_CHECKING:
    from ._client import AISClient
    from ._transport import Answer

__all__ = [
    "IfActive",
    "OnStatus",
    "create_and_wait",
    "wait_for_operation",
    "wait_for_run",
]

logger = logging.getLogger("aep_ais")

S = TypeVar("S", Operation, IngestionRun)

OnStatus = Callable[[S], object]
"""A per-call callback that sees every polled state; it may be sync or async."""

IfActive = Literal["wait", "attach", "raise"]
IF_ACTIVE_MODES: frozenset[str] = frozenset({"wait", "attach", "raise"})


def check_if_active(if_active: object) -> None:
    """Refuse an `if_active` that is not one of the three modes."""
    if if_active not in IF_ACTIVE_MODES:
        raise ValidationError("if_active", "must be 'wait', 'attach' or 'raise'")


# Errors after which a poll is simply tried again later (within the deadline).
_TRANSIENT = (APIConnectionError, RateLimitError, ServerError)
# Token endpoint answers that say "not now" rather than "never" (no answer is `None`).
_TOKEN_TRANSIENT = frozenset({None, 429, 500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """Whether a failed poll (or look) may simply be tried again later.

    A token endpoint that cannot be reached or fails is as passing as the API failing: a
    6-second IMS outage must not end a 2-hour wait. A refusal (a 4xx from IMS) is not.
    """
    if isinstance(exc, _TRANSIENT):
        return True
    return isinstance(exc, TokenError) and exc.status_code in _TOKEN_TRANSIENT


def mark_accepted(exc: AISError, **ids: str | None) -> None:
    """Mark an error that ends a call after its create or start was accepted.

    The server has acted, whatever request the error came from: `server_may_have_acted`
    becomes true, and the ids a caller resumes with are set where the error lacks them.
    """
    fields = vars(exc)
    fields["server_may_have_acted"] = True
    for name, value in ids.items():
        if value is not None and getattr(exc, name, None) is None:
            fields[name] = value


def accepted_id(value: object, what: str, *, status_code: int, method: str, path: str) -> str:
    """An id from an accepted (2xx) answer, or `MalformedResponseError` if it is not plain.

    `check_id` is for what callers pass in, and its `ValidationError` says that nothing
    was sent; here the server has acted and sent an id the SDK cannot use in a path.
    """
    try:
        return check_id(value, what)
    except ValidationError as exc:
        raise MalformedResponseError(
            f"the answer's {what} is not a plain identifier",
            status_code=status_code,
            body={what: str(value)[:64]},
            method=method,
            path=path,
            server_may_have_acted=True,
        ) from exc


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
        except AISError as exc:
            if not is_transient(exc):
                raise
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


async def _poll_for(
    client: AISClient,
    fetch: Callable[[float | None], Awaitable[Answer[S]]],
    policy: PollPolicy,
    *,
    immediate: bool,
    on_status: Callable[[S], object] | None,
    kind: str,
    ids: dict[str, str],
) -> S:
    """`_poll` on the client's clock and retry cap; a timeout names `kind` and its `ids`."""

    def timed_out(last: S | None) -> WaitTimeoutError:
        return WaitTimeoutError(kind, timeout=policy.timeout, last_status=_status(last), **ids)

    try:
        return await _poll(
            fetch,
            policy=policy,
            clock=client.clock,
            max_hint=client.retry.max_retry_after,
            immediate=immediate,
            on_status=on_status,
            timed_out=timed_out,
        )
    except AISError as exc:
        # `immediate` is false only right after this call's own create or start.
        if not immediate:
            mark_accepted(exc, **ids)
        raise


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

    operation = await _poll_for(
        client,
        fetch,
        policy,
        immediate=immediate,
        on_status=on_status,
        kind="operation",
        ids={"operation_id": operation_id},
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

    run = await _poll_for(
        client,
        fetch,
        policy,
        immediate=immediate,
        on_status=on_status,
        kind="run",
        ids={"audience_id": audience_id, "run_id": run_id},
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
    try:
        if operation.done:
            return _operation_outcome(operation)
        return await _wait_operation(
            client, operation.operation_id, poll=poll, on_status=on_status, immediate=False
        )
    except AISError as exc:
        mark_accepted(exc, operation_id=operation.operation_id)
        raise
