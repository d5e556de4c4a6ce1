"""`create_many` and `run_many` at platform scale: sandboxes, quotas and journals.

Inputs may name their sandbox: a `run_many` item is an audience id (the client's
sandbox) or a `(sandbox, audience_id)` tuple; a `create_many` item is an `AudienceSpec`
or a `(sandbox, spec)` tuple. Each sandbox's items go through one view of the client
(`with_options(sandbox=...)`), so they share its connections, token, run guard, quota
ledger and rate limit. Tuples were chosen over views as inputs because they are plain
data: a batch read from a file, and its journal, name the sandbox without a client.

Quotas (`run_many`): an item is let through to its start only while the sandbox's count
(runs this client knows of, starts in flight) plus the items already let through and not
yet started stays under the sandbox's quota; otherwise it waits for one of those to
settle, or, once the quota is spent, ends with `QuotaExceededError` without a request.
A server refusal for a sandbox's quota ends the rest of that sandbox's items the same
way, with or without guardrails.

Journals: see `_journal.py` (the file) and `_resume.py` (what a rerun does per item).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import anyio

from ._bulk import BulkResult, OnItem, OnProgress, _bulk, _check_concurrency, _notify
from ._convert import to_dict, to_epoch
from ._errors import QuotaExceededError, ValidationError
from ._journal import Journal, batch_digest
from ._models import AudienceSpec, IngestionRun, Operation
from ._policies import Clock, PollPolicy
from ._quota import RunLedger
from ._resume import journaled_create, journaled_run
from ._validation import check_id, check_run_window
from ._waiting import IfActive, check_if_active

__all__ = ["create_many", "run_many"]

I = TypeVar("I")  # noqa: E741
V = TypeVar("V")

RunItem = str | tuple[str, str]
CreateItem = AudienceSpec | tuple[str, AudienceSpec]


class _Client(Protocol):
    """What the bulk helpers call on a client (or a view of one)."""

    @property
    def sandbox(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    def with_options(self, *, sandbox: str | None = None) -> Any: ...

    async def create_audience(self, spec: AudienceSpec) -> Operation: ...

    async def get_operation(self, operation_id: str) -> Operation: ...

    async def wait_for_operation(
        self, operation_id: str, *, poll: PollPolicy | None = None
    ) -> Operation: ...

    async def create_and_wait(
        self, spec: AudienceSpec, *, poll: PollPolicy | None = None
    ) -> Operation: ...

    async def run_and_wait(
        self,
        audience_id: str,
        *,
        data_filter_start_time: datetime | int,
        data_filter_end_time: datetime | int | None = None,
        poll: PollPolicy | None = None,
        if_active: IfActive = "wait",
        on_started: Callable[[IngestionRun], object] | None = None,
    ) -> IngestionRun: ...

    async def wait_for_run(
        self, audience_id: str, run_id: str, *, poll: PollPolicy | None = None
    ) -> IngestionRun: ...

    async def list_runs(self, audience_id: str) -> Sequence[IngestionRun]: ...


def _split(item: object, default: str, kind: type, what: str) -> tuple[str, Any]:
    if isinstance(item, tuple):
        if len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], kind):
            return item[0], item[1]
    elif isinstance(item, kind):
        return default, item
    raise ValidationError(
        what, f"must be {kind.__name__} or (sandbox, {kind.__name__}), got {item!r}"
    )


class _Views:
    """One view of the client per sandbox, made on first use."""

    def __init__(self, client: _Client) -> None:
        self._views: dict[str, _Client] = {client.sandbox: client}
        self._client = client

    def __call__(self, sandbox: str) -> _Client:
        view = self._views.get(sandbox)
        if view is None:
            view = self._views[sandbox] = self._client.with_options(sandbox=sandbox)
        return view


def _open_journal(
    journal: str | os.PathLike[str] | None, kind: str, settings: dict[str, Any], inputs: list[Any]
) -> Journal | None:
    if journal is None:
        return None
    return Journal.open(
        journal, kind=kind, batch=batch_digest(kind, settings, inputs), items=len(inputs)
    )


async def _run_bulk(
    items: list[I],
    work: Callable[[tuple[int, I]], Awaitable[V]],
    *,
    concurrency: int,
    on_progress: OnProgress | None,
    on_item: OnItem | None,
    journal: Journal | None,
) -> list[BulkResult[I, V]]:
    async def one(entry: tuple[int, I]) -> V:
        index, item = entry
        try:
            value = await work(entry)
        except Exception as exc:
            if on_item is not None:
                await _notify(on_item, index, BulkResult(input=item, error=exc))
            raise
        if on_item is not None:
            await _notify(on_item, index, BulkResult(input=item, value=value))
        return value

    try:
        results = await _bulk(
            list(enumerate(items)), one, concurrency=concurrency, on_progress=on_progress
        )
    finally:
        if journal is not None:
            journal.close()
    return [BulkResult(input=r.input[1], value=r.value, error=r.error) for r in results]


async def create_many(
    client: _Client,
    specs: Iterable[CreateItem],
    *,
    concurrency: int,
    wait: bool = True,
    poll: PollPolicy | None = None,
    on_progress: OnProgress | None = None,
    journal: str | os.PathLike[str] | None = None,
    on_item: OnItem | None = None,
) -> list[BulkResult[CreateItem, Operation]]:
    """Create many audiences, in one or several sandboxes; see the module docstring."""
    limit = _check_concurrency(concurrency)
    items = list(specs)
    split = [
        _split(item, client.sandbox, AudienceSpec, f"specs[{i}]") for i, item in enumerate(items)
    ]
    views = _Views(client)
    book = _open_journal(
        journal,
        "create_many",
        {"wait": wait},
        [[sandbox, to_dict(spec)] for sandbox, spec in split],
    )

    async def work(entry: tuple[int, CreateItem]) -> Operation:
        index = entry[0]
        sandbox, spec = split[index]
        view = views(sandbox)
        if book is None:
            if wait:
                return await view.create_and_wait(spec, poll=poll)
            return await view.create_audience(spec)

        async def finish(operation: Operation | str) -> Operation:
            if isinstance(operation, Operation):
                if not wait or operation.done:
                    return operation
                operation = operation.operation_id
            if wait:
                return await view.wait_for_operation(operation, poll=poll)
            return await view.get_operation(operation)

        return await journaled_create(
            book,
            index,
            create=lambda: view.create_audience(spec),
            finish=finish,
            now=view.clock.time,
        )

    return await _run_bulk(
        items, work, concurrency=limit, on_progress=on_progress, on_item=on_item, journal=book
    )


class _Admission:
    """Lets a sandbox's items through to their start while its quota has room."""

    def __init__(self, ledger: RunLedger | None) -> None:
        self.ledger = ledger
        self.pending: dict[str, int] = {}
        self.settled: dict[str, anyio.Event] = {}
        self.spent: dict[str, QuotaExceededError] = {}

    async def enter(self, sandbox: str, audience_id: str) -> None:
        while True:
            spent = self.spent.get(sandbox)
            if spent is not None:
                raise QuotaExceededError(
                    "sandbox",
                    limit=spent.limit,
                    sandbox=sandbox,
                    resets_at=spent.resets_at,
                )
            ledger = self.ledger
            if ledger is None:
                break
            error = ledger.exceeded(sandbox, audience_id)
            if error is not None:
                if error.scope == "sandbox" and not self.pending.get(sandbox):
                    self.spent[sandbox] = error
                raise error
            room = ledger.guardrails.runs_per_sandbox_per_day - ledger.count(sandbox)
            if self.pending.get(sandbox, 0) < room:
                break
            event = self.settled.setdefault(sandbox, anyio.Event())
            await event.wait()
        self.pending[sandbox] = self.pending.get(sandbox, 0) + 1

    def leave(self, sandbox: str, error: BaseException | None = None) -> None:
        self.pending[sandbox] -= 1
        if isinstance(error, QuotaExceededError) and error.scope == "sandbox":
            self.spent.setdefault(sandbox, error)
        event = self.settled.pop(sandbox, None)
        if event is not None:
            event.set()


async def run_many(
    client: _Client,
    audience_ids: Iterable[RunItem],
    *,
    data_filter_start_time: datetime | int,
    data_filter_end_time: datetime | int | None = None,
    concurrency: int,
    if_active: IfActive = "wait",
    poll: PollPolicy | None = None,
    on_progress: OnProgress | None = None,
    journal: str | os.PathLike[str] | None = None,
    ledger: RunLedger | None = None,
    on_item: OnItem | None = None,
) -> list[BulkResult[RunItem, IngestionRun]]:
    """Run and wait for many audiences, in one or several sandboxes; see the module docstring."""
    limit = _check_concurrency(concurrency)
    check_run_window(data_filter_start_time, data_filter_end_time)
    check_if_active(if_active)
    items = list(audience_ids)
    split = [
        _split(item, client.sandbox, str, f"audience_ids[{i}]") for i, item in enumerate(items)
    ]
    for i, (_, audience_id) in enumerate(split):
        check_id(audience_id, f"audience_ids[{i}]")
    window = (
        to_epoch(data_filter_start_time),
        None if data_filter_end_time is None else to_epoch(data_filter_end_time),
    )
    views = _Views(client)
    admission = _Admission(ledger)
    book = _open_journal(
        journal,
        "run_many",
        {"window": list(window), "if_active": if_active},
        [list(pair) for pair in split],
    )

    async def start_and_wait(
        view: _Client, sandbox: str, audience_id: str, on_started: Callable[[IngestionRun], None]
    ) -> IngestionRun:
        await admission.enter(sandbox, audience_id)
        entered = True

        def seen(run: IngestionRun) -> None:
            nonlocal entered
            on_started(run)
            # This call's own run exists (`on_started` is not called for another
            # caller's run that "wait" waits out first): its start is in the ledger now,
            # so the next item of the sandbox may go.
            if entered:
                entered = False
                admission.leave(sandbox)

        try:
            return await view.run_and_wait(
                audience_id,
                data_filter_start_time=data_filter_start_time,
                data_filter_end_time=data_filter_end_time,
                poll=poll,
                if_active=if_active,
                on_started=seen,
            )
        except BaseException as exc:
            if entered:
                entered = False
                admission.leave(sandbox, exc)
            raise
        finally:
            if entered:
                admission.leave(sandbox)

    async def work(entry: tuple[int, RunItem]) -> IngestionRun:
        index = entry[0]
        sandbox, audience_id = split[index]
        view = views(sandbox)
        if book is None:
            return await start_and_wait(view, sandbox, audience_id, lambda run: None)

        async def listing() -> Sequence[IngestionRun]:
            return await view.list_runs(audience_id)

        return await journaled_run(
            book,
            index,
            window=window,
            run=lambda on_started: start_and_wait(view, sandbox, audience_id, on_started),
            resume=lambda run_id: view.wait_for_run(audience_id, run_id, poll=poll),
            list_runs=listing,
            now=view.clock.time,
        )

    return await _run_bulk(
        items, work, concurrency=limit, on_progress=on_progress, on_item=on_item, journal=book
    )
