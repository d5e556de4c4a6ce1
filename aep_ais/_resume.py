"""One item of a journaled bulk call: finish, resume or send it, as its journal says.

The steps take the calls they make as callables (create, wait, start-and-wait, list), not
the client, so they are tested on their own.

A create item (`journaled_create`):
- finished `ok` in the journal: its value, no request;
- failed for good (not `retryable`): `EarlierFailureError`, no request;
- its operation id known: the wait resumes from it;
- sent before and its answer never recorded (a crash mid-request, or a failure after
  which the server may have acted): `AnswerLostError`, never sent again silently;
- otherwise (never sent, or a retryable failure the server surely did not act on): sent.

A run item (`journaled_run`) is the same, except that a start whose answer was lost is
looked for: a run of the audience with the item's data window, created no earlier than
the start was sent (less `CLOCK_SKEW`), is taken as the item's run and waited for; if the
listing shows none, the start never took effect and is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._convert import from_dict, to_dict, to_epoch
from ._errors import AISError, AnswerLostError, EarlierFailureError
from ._journal import Journal
from ._models import IngestionRun, Operation

__all__ = ["CLOCK_SKEW", "describe", "journaled_create", "journaled_run"]

# How far a run's `createdAt` (server clock) may precede the journal's intent (client
# clock) and still be taken for that start's run.
CLOCK_SKEW = 30.0


def describe(exc: BaseException) -> dict[str, Any]:
    """An error as the journal keeps it: type, message, retryable, whether it may have acted."""
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "retryable": bool(getattr(exc, "retryable", False)),
        # Errors raised before sending (validation, quota, journal) have no such
        # attribute and acted on nothing; anything else unknown is taken as maybe acted.
        "acted": bool(getattr(exc, "server_may_have_acted", not isinstance(exc, AISError))),
    }


def _earlier(index: int, error: dict[str, Any]) -> EarlierFailureError:
    return EarlierFailureError(
        index=index,
        error_type=str(error.get("type", "Exception")),
        error_message=str(error.get("message", "")),
    )


async def _record(journal: Journal, index: int, work: Awaitable[Any]) -> Any:
    try:
        value = await work
    except Exception as exc:
        journal.write(index, "error", error=describe(exc))
        raise
    journal.write(index, "ok", value=to_dict(value))
    return value


async def journaled_create(
    journal: Journal,
    index: int,
    *,
    create: Callable[[], Awaitable[Operation]],
    finish: Callable[[Operation | str], Awaitable[Operation]],
    now: Callable[[], float],
) -> Operation:
    """Item `index` of a journaled `create_many`.

    `create()` sends the create; `finish(x)` turns a fresh `Operation` or a known
    operation id into the item's result (waits for it, or fetches it without waiting).
    """
    state = journal.state(index)
    if state.value is not None:
        return from_dict(Operation, state.value)
    error = state.error
    if error is not None and not error.get("retryable"):
        raise _earlier(index, error)
    operation_id = state.ids.get("operation_id")
    if operation_id is not None:
        return await _record(journal, index, finish(operation_id))  # type: ignore[no-any-return]
    if state.intent_at is not None and (error is None or error.get("acted", True)):
        lost = AnswerLostError("the create", index=index, path=journal.path)
        journal.write(index, "error", error=describe(lost) | {"retryable": False})
        raise lost
    journal.write(index, "intent", at=now())
    try:
        operation = await create()
    except Exception as exc:
        journal.write(index, "error", error=describe(exc))
        raise
    journal.write(index, "started", operation_id=operation.operation_id)
    return await _record(journal, index, finish(operation))  # type: ignore[no-any-return]


def _same_window(run: IngestionRun, window: tuple[int, int | None]) -> bool:
    if run.data_filter_start_time is None or to_epoch(run.data_filter_start_time) != window[0]:
        return False
    if window[1] is None:
        return True
    end = run.data_filter_end_time
    return end is not None and to_epoch(end) == window[1]


def _own(run: IngestionRun, window: tuple[int, int | None], sent_at: float) -> bool:
    if not _same_window(run, window):
        return False
    return run.created_at is None or run.created_at.timestamp() >= sent_at - CLOCK_SKEW


async def journaled_run(
    journal: Journal,
    index: int,
    *,
    window: tuple[int, int | None],
    run: Callable[[Callable[[IngestionRun], None]], Awaitable[IngestionRun]],
    resume: Callable[[str], Awaitable[IngestionRun]],
    list_runs: Callable[[], Awaitable[Sequence[IngestionRun]]],
    now: Callable[[], float],
) -> IngestionRun:
    """Item `index` of a journaled `run_many`.

    `run(on_started)` starts a run and waits for it (`run_and_wait`), calling
    `on_started` once with the run it waits for; `resume(run_id)` waits for a known run;
    `list_runs()` lists the audience's runs, to find a start whose answer was lost.
    """
    state = journal.state(index)
    if state.value is not None:
        return from_dict(IngestionRun, state.value)
    error = state.error
    if error is not None and not error.get("retryable"):
        raise _earlier(index, error)
    run_id = state.ids.get("run_id")
    if run_id is None and state.intent_at is not None and (error is None or error.get("acted")):
        sent_at = state.intent_at
        for listed in await list_runs():
            if _own(listed, window, sent_at):
                run_id = listed.run_id
                journal.write(index, "started", run_id=run_id)
                break
    if run_id is not None:
        return await _record(journal, index, resume(run_id))  # type: ignore[no-any-return]

    journal.write(index, "intent", at=now())
    seen: list[str] = []

    def on_started(started: IngestionRun) -> None:
        if not seen:
            seen.append(started.run_id)
            journal.write(index, "started", run_id=started.run_id)

    return await _record(journal, index, run(on_started))  # type: ignore[no-any-return]
