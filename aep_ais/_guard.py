"""The run guard: one lock per audience (and sandbox) within a client, made on demand.

`ensure_run` and `run_and_wait` hold an audience's lock from their look for an active run
to the run they settle on (and `run_and_wait` to the end of its wait). Locks are
reference-counted, so a client that has touched 100,000 audiences keeps only the locks
somebody holds or waits for.

The guard keeps its own rules: a holder tells it which run it watches (`Hold.watching`)
and which runs it saw end (`Hold.ended`); a caller asks it for the outcome of a run that
ended while it queued (`Hold.outcome_since_arrival`), and which run a busy audience's
holder watches (`RunGuard.busy`). Nobody else touches its slots.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import NamedTuple

import anyio
import attrs

from ._models import IngestionRun

__all__ = ["Busy", "Hold", "RunGuard"]


def _new_lock() -> anyio.Lock:
    # Naming `anyio.Lock` at class creation would load anyio's synchronisation module at
    # `import aep_ais` (about 9 ms); only the first guarded run needs it.
    return anyio.Lock()


@attrs.define(eq=False)
class _Slot:
    """One audience's lock and what its holder is doing; shared by everyone queued on it."""

    lock: anyio.Lock = attrs.Factory(_new_lock)
    users: int = 0
    run_id: str | None = None
    # Runs seen to their end by holders, and the last one's final state, so that callers
    # queued with if_active="attach" get the outcome of the run that was active.
    finished: int = 0
    outcome: IngestionRun | None = None


class Busy(NamedTuple):
    """What a busy audience's lock is doing: the run its holder watches, and its users.

    `users` counts the holder and every call queued behind it.
    """

    run_id: str | None
    users: int


class Hold:
    """One caller's hold of an audience's lock (from `RunGuard.hold`)."""

    __slots__ = ("_arrived", "_slot")

    def __init__(self, slot: _Slot, arrived: int) -> None:
        self._slot = slot
        self._arrived = arrived

    def outcome_since_arrival(self) -> IngestionRun | None:
        """The final state of the last run a holder saw end since this caller queued."""
        return self._slot.outcome if self._slot.finished != self._arrived else None

    def ended(self, run: IngestionRun) -> None:
        """Note a run this holder saw to its end (callers queued behind it may take it)."""
        self._slot.finished += 1
        self._slot.outcome = run

    @contextmanager
    def watching(self, run_id: str) -> Iterator[None]:
        """Name the run this holder waits for, while it waits (`RunGuard.busy` shows it)."""
        self._slot.run_id = run_id
        try:
            yield
        finally:
            self._slot.run_id = None


@attrs.define(eq=False)
class _Shared:
    """What a client and its views on other sandboxes share: the locks, and who "we" are."""

    slots: dict[tuple[str, str], _Slot] = attrs.Factory(dict)
    created_by: str | None = None


class RunGuard:
    """Per-audience locks of one client, created on demand and dropped when unused.

    Locks are keyed by sandbox and audience id: the same id in two sandboxes is two
    audiences. A client's views on other sandboxes get `for_sandbox` guards, which share
    the one table of locks and what is known of the client's own runs.
    """

    def __init__(self, sandbox: str = "", *, _shared: _Shared | None = None) -> None:
        self.sandbox = sandbox
        self._shared = _Shared() if _shared is None else _shared
        self._slots = self._shared.slots

    def for_sandbox(self, sandbox: str) -> RunGuard:
        """The guard of a view on `sandbox`: the same table of locks, that sandbox's keys."""
        return self if sandbox == self.sandbox else RunGuard(sandbox, _shared=self._shared)

    @property
    def created_by(self) -> str | None:
        """The `createdBy` of runs this client started (from their start answers).

        A run that names someone else is known to be another caller's, never this client's.
        """
        return self._shared.created_by

    def started(self, run: IngestionRun) -> None:
        """Learn from the answer to one of this client's own starts who "we" are."""
        if run.created_by is not None:
            self._shared.created_by = run.created_by

    def __len__(self) -> int:
        return len(self._slots)

    def busy(self, audience_id: str) -> Busy | None:
        """What the audience's lock is doing, if some call of this client holds or awaits it."""
        slot = self._slots.get((self.sandbox, audience_id))
        return None if slot is None else Busy(run_id=slot.run_id, users=slot.users)

    @asynccontextmanager
    async def hold(self, audience_id: str) -> AsyncIterator[Hold]:
        """Hold the audience's lock (queued behind earlier callers) for the `async with`."""
        key = (self.sandbox, audience_id)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.users += 1
        arrived = slot.finished
        try:
            async with slot.lock:
                try:
                    yield Hold(slot, arrived)
                finally:
                    slot.run_id = None
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]
