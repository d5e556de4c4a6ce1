"""The bounded-concurrency engine under `create_many` and `run_many` (`_many.py`).

`_bulk` runs one piece of work per input on an anyio task group, at most `concurrency`
at once, and gives one `BulkResult` per input in input order.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

import anyio
from attrs import frozen

from ._errors import ValidationError

__all__ = ["BulkResult", "OnItem", "OnProgress"]

logger = logging.getLogger("aep_ais")

I = TypeVar("I")  # noqa: E741
V = TypeVar("V")

OnProgress = Callable[[int, int], object]
"""Called as `on_progress(done, total)` after each item ends; it may be sync or async.

An `Exception` it raises is logged on the `aep_ais` logger at WARNING, with its traceback,
and otherwise ignored: the item keeps its result and the bulk call goes on.
"""


@frozen(kw_only=True)
class BulkResult(Generic[I, V]):
    """The outcome of one input of a bulk call: its `value`, or the `error` it raised."""

    input: I
    value: V | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether this input succeeded (`error` is `None`)."""
        return self.error is None


BulkResult.__module__ = "aep_ais"

OnItem = Callable[[int, BulkResult[Any, Any]], object]
"""Called as `on_item(index, result)` when each item ends; it may be sync or async.

`index` is the item's place in the input and `result` its `BulkResult` (the same one the
bulk call returns for it). An `Exception` it raises is logged on the `aep_ais` logger at
WARNING, with its traceback, and otherwise ignored, as for `OnProgress`.
"""


def _check_concurrency(concurrency: object) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError("concurrency", "must be a whole number of at least 1")
    return concurrency


async def _report(on_progress: OnProgress, done: int, total: int) -> None:
    """Call the user's `on_progress`; its failure is logged, never the bulk call's end."""
    try:
        outcome = on_progress(done, total)
        if inspect.isawaitable(outcome):
            await outcome
    # A progress display that breaks must not throw away work already done (or cancel the
    # items still running); cancellation is a BaseException and still goes through.
    except Exception:
        logger.warning(
            "on_progress(%d, %d) raised; the bulk call goes on", done, total, exc_info=True
        )


async def _notify(on_item: OnItem, index: int, result: BulkResult[Any, Any]) -> None:
    """Call the user's `on_item`; its failure is logged, never the item's or the call's end."""
    try:
        outcome = on_item(index, result)
        if inspect.isawaitable(outcome):
            await outcome
    # As for `on_progress`: a display that breaks must not change any item's outcome;
    # cancellation is a BaseException and still goes through.
    except Exception:
        logger.warning("on_item(%d, ...) raised; the bulk call goes on", index, exc_info=True)


async def _bulk(
    inputs: Iterable[I],
    work: Callable[[I], Awaitable[V]],
    *,
    concurrency: int,
    on_progress: OnProgress | None,
) -> list[BulkResult[I, V]]:
    """Run `work` on every input, at most `concurrency` at a time; results in input order.

    An `Exception` from one item becomes that item's result and leaves the others alone;
    cancellation (and any other `BaseException`) cancels them all and propagates. An
    `Exception` from `on_progress` is logged at WARNING and changes nothing else. The
    limiter is taken before a task is spawned, so a million inputs never make a million
    tasks at once.
    """
    items = list(inputs)
    total = len(items)
    results: list[BulkResult[I, V] | None] = [None] * total
    limiter = anyio.CapacityLimiter(concurrency)
    done = 0

    async def one(index: int, item: I, borrower: object) -> None:
        nonlocal done
        try:
            try:
                value = await work(item)
            # Any failure of one item is its result; cancellation is a BaseException and
            # goes through, cancelling the whole group.
            except Exception as exc:  # noqa: BLE001
                results[index] = BulkResult(input=item, error=exc)
            else:
                results[index] = BulkResult(input=item, value=value)
        finally:
            limiter.release_on_behalf_of(borrower)
        done += 1
        if on_progress is not None:
            await _report(on_progress, done, total)

    async with anyio.create_task_group() as tg:
        for index, item in enumerate(items):
            borrower = object()
            await limiter.acquire_on_behalf_of(borrower)
            tg.start_soon(one, index, item, borrower)
    return [r for r in results if r is not None]
