"""The run guard: one lock per audience (and sandbox) within a client, made on demand.

`run_and_wait` holds an audience's lock from its look for an active run to the end of its
wait. Locks are reference-counted, so a client that has touched 100,000 audiences keeps
only the locks somebody holds or waits for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import attrs

from ._models import IngestionRun

__all__ = ["RunGuard"]


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

    @created_by.setter
    def created_by(self, value: str | None) -> None:
        self._shared.created_by = value

    def __len__(self) -> int:
        return len(self._slots)

    def busy(self, audience_id: str) -> _Slot | None:
        """The audience's slot if some call of this client holds it or waits for it."""
        return self._slots.get((self.sandbox, audience_id))

    @asynccontextmanager
    async def hold(self, audience_id: str) -> AsyncIterator[tuple[_Slot, int]]:
        """Hold the audience's lock; yields the slot and its `finished` count on arrival."""
        key = (self.sandbox, audience_id)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.users += 1
        arrived = slot.finished
        try:
            async with slot.lock:
                try:
                    yield slot, arrived
                finally:
                    slot.run_id = None
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]
