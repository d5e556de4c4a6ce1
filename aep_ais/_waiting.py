"""The polling engine, and the waits for an operation or a run built on it.

`poll` takes a fetch callable, a policy, a clock and a deadline, and knows nothing of the
client (as google-api-core's operations take callables). The waits take a small protocol
of the calls they make (`OperationCalls`, `RunPolls`) and plain arguments; the client's
methods are their documented face.

Semantics every wait shares (`poll`):

- The deadline is `clock.now() + poll.timeout`, taken when the wait begins (`None`: none),
  or the call's `deadline=` (an aware `datetime`, read on the clock's wall time) if that
  comes first: a resumed wait given its first deadline ends when the first would have.
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

`ensure_run` and `run_and_wait`, built on these waits, live in `_runs.py`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

import attrs

from . import _observe
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
from ._validation import check_aware, check_id

__all__ = [
    "IfActive",
    "OnStatus",
    "OperationCalls",
    "Polled",
    "RunPolls",
    "create_and_wait",
    "poll",
    "wait_operation",
    "wait_run",
]

logger = logging.getLogger("aep_ais")

S = TypeVar("S", Operation, IngestionRun)
S_co = TypeVar("S_co", covariant=True)

OnStatus = Callable[[S], object]
"""A per-call callback that sees every polled state; it may be sync or async."""

IfActive = Literal["wait", "attach", "raise"]
IF_ACTIVE_MODES: frozenset[str] = frozenset({"wait", "attach", "raise"})


class Polled(Protocol[S_co]):
    """One poll's answer: the state, and the server's `Retry-After` hint in seconds."""

    @property
    def value(self) -> S_co: ...

    @property
    def retry_after(self) -> float | None: ...


class _Timing(Protocol):
    @property
    def clock(self) -> Clock:
        """Time, sleep and jitter of every wait."""
        ...

    @property
    def max_retry_after(self) -> float:
        """The cap on a `Retry-After` hint (`RetryPolicy.max_retry_after`)."""
        ...


class OperationCalls(_Timing, Protocol):
    """What `create_and_wait` and the wait for an operation call."""

    async def create_audience(self, spec: AudienceSpec) -> Operation:
        """`AISClient.create_audience`."""
        ...

    async def operation_answer(
        self, operation_id: str, *, deadline: float | None
    ) -> Polled[Operation]:
        """One poll of an operation, its retries bounded by `deadline` (`clock.now()`)."""
        ...


class RunPolls(_Timing, Protocol):
    """What the wait for a run calls."""

    async def run_answer(
        self, audience_id: str, run_id: str, *, deadline: float | None
    ) -> Polled[IngestionRun]:
        """One poll of a run, its retries bounded by `deadline` (`clock.now()`)."""
        ...


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


def monotonic(clock: Clock, deadline: datetime | None) -> float | None:
    """An aware `deadline` as a reading of `clock.now()` (by way of `clock.time()`)."""
    if deadline is None:
        return None
    return clock.now() + (deadline.timestamp() - clock.time())


def earliest(*ends: float | None) -> float | None:
    """The earliest of the given ends (`None`: no end)."""
    return min((end for end in ends if end is not None), default=None)


def ends_at(clock: Clock, policy: PollPolicy, until: float | None) -> float | None:
    """When a wait beginning now ends: `poll.timeout` from now, or `until` if earlier."""
    return earliest(None if policy.timeout is None else clock.now() + policy.timeout, until)


async def notify(callback: Callable[[Any], object] | None, state: object) -> None:
    """Call a user's sync or async callback (`on_status`, `on_created`, `on_started`)."""
    if callback is None:
        return
    result = callback(state)
    if inspect.isawaitable(result):
        await result


async def poll(
    fetch: Callable[[float | None], Awaitable[Polled[S]]],
    *,
    policy: PollPolicy,
    clock: Clock,
    deadline: float | None,
    timed_out: Callable[[S | None], WaitTimeoutError],
    immediate: bool = True,
    max_hint: float = float("inf"),
    on_status: Callable[[S], object] | None = None,
) -> S:
    """Poll `fetch(deadline)` until its state is done; see the module docstring.

    `deadline` is an absolute end on `clock.now()` (`None`: none; `policy.timeout` is not
    read here). `timed_out(last)` builds the error of a wait past it; `max_hint` caps a
    `Retry-After` hint; `immediate` polls once at once instead of sleeping first.
    """
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
        await notify(on_status, last)
        if last.done:
            return last


def _status(state: Operation | IngestionRun | None) -> str | None:
    return None if state is None or state.status is None else str(state.status)


async def _wait(
    timing: _Timing,
    fetch: Callable[[float | None], Awaitable[Polled[S]]],
    *,
    policy: PollPolicy,
    deadline: datetime | None,
    immediate: bool,
    on_status: Callable[[S], object] | None,
    kind: str,
    ids: dict[str, str],
) -> S:
    """`poll` on the caller's clock and retry cap; a timeout names `kind` and its `ids`."""

    def timed_out(last: S | None) -> WaitTimeoutError:
        return WaitTimeoutError(
            kind, timeout=policy.timeout, deadline=deadline, last_status=_status(last), **ids
        )

    clock = timing.clock
    try:
        # Poll events, `aep.polls` and the hooks (aep_ais._observe): the engine's fetch,
        # wrapped.
        watch = _observe.Watch(kind, ids, clock.now)
        async with watch:
            return await poll(
                watch.fetch(fetch),
                policy=policy,
                clock=clock,
                deadline=ends_at(clock, policy, monotonic(clock, deadline)),
                timed_out=timed_out,
                immediate=immediate,
                max_hint=timing.max_retry_after,
                on_status=on_status,
            )
    except AISError as exc:
        # `immediate` is false only right after this call's own create or start.
        if not immediate:
            mark_accepted(exc, **ids)
        raise


def operation_outcome(operation: Operation) -> Operation:
    """A done operation, or the error its ending means."""
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


def run_outcome(run: IngestionRun) -> IngestionRun:
    """A done run, or `RunFailedError` if it failed."""
    if run.status == "FAILED":
        raise RunFailedError(run)
    return run


async def wait_operation(
    calls: OperationCalls,
    operation_id: str,
    *,
    policy: PollPolicy,
    deadline: datetime | None,
    on_status: OnStatus[Operation] | None,
    immediate: bool = True,
) -> Operation:
    """`AISClient.wait_for_operation`, on `calls`."""
    check_id(operation_id, "operation_id")
    check_aware(deadline, "deadline")

    async def fetch(until: float | None) -> Polled[Operation]:
        return await calls.operation_answer(operation_id, deadline=until)

    operation = await _wait(
        calls,
        fetch,
        policy=policy,
        deadline=deadline,
        immediate=immediate,
        on_status=on_status,
        kind="operation",
        ids={"operation_id": operation_id},
    )
    return operation_outcome(operation)


class _Filled:
    """A run poll's answer with the audience id filled in."""

    __slots__ = ("retry_after", "value")

    def __init__(self, value: IngestionRun, retry_after: float | None) -> None:
        self.value = value
        self.retry_after = retry_after


async def wait_run(
    calls: RunPolls,
    audience_id: str,
    run_id: str,
    *,
    policy: PollPolicy,
    deadline: datetime | None,
    on_status: OnStatus[IngestionRun] | None,
    immediate: bool = True,
) -> IngestionRun:
    """`AISClient.wait_for_run`, on `calls`."""
    check_id(audience_id, "audience_id")
    check_id(run_id, "run_id")
    check_aware(deadline, "deadline")

    async def fetch(until: float | None) -> Polled[IngestionRun]:
        answer = await calls.run_answer(audience_id, run_id, deadline=until)
        if answer.value.audience_id is None:
            # The errors and the caller need the IDs even when an answer leaves one out.
            value = attrs.evolve(answer.value, audience_id=audience_id)
            return _Filled(value, answer.retry_after)
        return answer

    run = await _wait(
        calls,
        fetch,
        policy=policy,
        deadline=deadline,
        immediate=immediate,
        on_status=on_status,
        kind="run",
        ids={"audience_id": audience_id, "run_id": run_id},
    )
    return run_outcome(run)


async def create_and_wait(
    calls: OperationCalls,
    spec: AudienceSpec,
    *,
    policy: PollPolicy,
    deadline: datetime | None,
    on_status: OnStatus[Operation] | None,
    on_created: Callable[[Operation], object] | None,
) -> Operation:
    """`AISClient.create_and_wait`, on `calls`: the first poll comes after a sleep."""
    check_aware(deadline, "deadline")
    operation = await calls.create_audience(spec)
    try:
        await notify(on_created, operation)
        if operation.done:
            return operation_outcome(operation)
        return await wait_operation(
            calls,
            operation.operation_id,
            policy=policy,
            deadline=deadline,
            on_status=on_status,
            immediate=False,
        )
    except AISError as exc:
        mark_accepted(exc, operation_id=operation.operation_id)
        raise
