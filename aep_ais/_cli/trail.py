"""What a command has talked to and waited for, so its last message can say where it was.

A Ctrl-C ends a wait at any point, even before its first poll; the client below notes the
operation or run the platform has just handed out, and the status line notes each polled
state, so the message of an interruption can name the id and the command that resumes.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import attrs

from .._client import AISClient
from .._models import AudienceSpec, IngestionRun, Operation

__all__ = ["Trail", "TrailClient"]


@attrs.define
class Trail:
    """The API host of a command and the last operation or run it heard of."""

    host: str | None = None
    waiting_for: str | None = None
    resume: str | None = None

    def saw(self, state: object, audience_id: str | None = None) -> None:
        """Note a state (an `Operation` or `IngestionRun`); others are ignored."""
        if isinstance(state, Operation):
            self.waiting_for = f"operation {state.operation_id}"
            self.resume = f"aep-ais status {state.operation_id} --wait"
        elif isinstance(state, IngestionRun):
            audience = state.audience_id or audience_id
            if audience is None:
                return
            self.waiting_for = f"run {state.run_id} of audience {audience}"
            self.resume = f"aep-ais run-status {audience} {state.run_id} --wait"

    def interrupted(self) -> str:
        """The message of a Ctrl-C: what was going on and how to pick it up again."""
        if self.waiting_for is None or self.resume is None:
            return "interrupted"
        return (
            f"interrupted; {self.waiting_for} carries on at the platform, "
            f"resume the wait with `{self.resume}`"
        )


class TrailClient(AISClient):
    """The SDK client, noting each operation and run it creates on a `Trail`."""

    # Set right after construction (`with_trail`): `from_env` and friends build the client.
    trail: Trail

    def with_trail(self, trail: Trail) -> TrailClient:
        """This client, noting on `trail` (which also learns the client's host)."""
        self.trail = trail
        trail.host = urlsplit(self.base_url).netloc or self.base_url
        return self

    async def create_audience(self, spec: AudienceSpec) -> Operation:
        """Submit an audience for creation; the operation id goes on the trail."""
        operation = await super().create_audience(spec)
        self.trail.saw(operation)
        return operation

    async def start_run(
        self,
        audience_id: str,
        *,
        data_filter_start_time: datetime | int,
        data_filter_end_time: datetime | int | None = None,
    ) -> IngestionRun:
        """Start an ingestion run; its id goes on the trail."""
        run = await super().start_run(
            audience_id,
            data_filter_start_time=data_filter_start_time,
            data_filter_end_time=data_filter_end_time,
        )
        self.trail.saw(run, audience_id)
        return run
