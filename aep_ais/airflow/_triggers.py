"""Triggers that wait for an operation or an ingestion run in Airflow's triggerer.

Each trigger polls with the SDK (`wait_for_operation`, `wait_for_run`) under its
`PollPolicy`, and ends with exactly one `TriggerEvent` whose payload is JSON:

- `{"status": "success", "operation" | "run": to_dict(final state)}`
- `{"status": "failed", "message": ..., "operation" | "run": to_dict(last state)}` (a run's
  stages are in its `details`)
- `{"status": "timeout", "message": ..., "retryable": true}` when the deadline passed
- `{"status": "error", "message": ..., "retryable": bool}` for any other SDK error

The deadline is absolute (epoch seconds) and serialized, so a trigger that the triggerer
re-creates (after a restart, on another machine) keeps the first deadline instead of
starting a new wait. Transient errors while polling never end the wait early.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from airflow.triggers.base import BaseTrigger, TriggerEvent

import aep_ais
from aep_ais import AISClient, AISError, PollPolicy, to_dict

from ._hook import AEPHook
from ._provider import DEFAULT_CONN_ID

__all__ = ["AEPIngestionRunTrigger", "AEPOperationTrigger", "deadline_epoch", "poll_fields"]

# The PollPolicy fields a trigger carries; the timeout comes from the deadline.
_POLL_FIELDS = ("interval", "multiplier", "max_interval", "jitter")


def poll_fields(poll: PollPolicy | Mapping[str, Any] | None) -> dict[str, float] | None:
    """A `PollPolicy` (or its fields) as the JSON a trigger serializes, without `timeout`."""
    if poll is None:
        return None
    values = attrs.asdict(poll) if isinstance(poll, PollPolicy) else dict(poll)
    unknown = sorted(set(values) - {*_POLL_FIELDS, "timeout"})
    if unknown:
        raise aep_ais.ValidationError("poll", f"unknown PollPolicy fields {unknown}")
    fields = {name: float(values[name]) for name in _POLL_FIELDS if name in values}
    PollPolicy(**fields)  # refuses bad values now, not in the triggerer
    return fields


def deadline_epoch(deadline: datetime | float | str | None) -> float | None:
    """An absolute deadline as epoch seconds (`None`: the wait has no end)."""
    if deadline is None:
        return None
    if isinstance(deadline, str):
        deadline = datetime.fromisoformat(deadline)
    if isinstance(deadline, datetime):
        if deadline.tzinfo is None:
            raise aep_ais.ValidationError("deadline", "must be timezone-aware")
        return deadline.timestamp()
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or math.isnan(deadline):
        raise aep_ais.ValidationError("deadline", "must be a datetime or epoch seconds")
    return float(deadline)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


class _AEPTrigger(BaseTrigger):
    """What both triggers share: the connection, the deadline, the poll policy."""

    _classpath: str
    _payload_key: str

    def __init__(
        self,
        *,
        deadline: datetime | float | str | None,
        aep_conn_id: str = DEFAULT_CONN_ID,
        poll: PollPolicy | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.deadline = deadline_epoch(deadline)
        self.aep_conn_id = aep_conn_id
        self.poll = poll_fields(poll)

    def _kwargs(self) -> dict[str, Any]:
        return {"deadline": self.deadline, "aep_conn_id": self.aep_conn_id, "poll": self.poll}

    def hook(self) -> AEPHook:
        """The hook that builds the client this trigger polls with."""
        return AEPHook(self.aep_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait, then yield one event: success, failure, timeout or error."""
        yield TriggerEvent(await self._outcome())  # type: ignore[no-untyped-call]

    async def on_kill(self) -> None:
        """Leave the server alone: the API has no way to cancel a run or an operation."""
        self.log.warning(
            "%s: the External Audiences API cannot cancel it; it goes on on the platform",
            self._what(),
        )

    async def _outcome(self) -> dict[str, Any]:
        try:
            async with await self.hook().aget_conn() as ais:
                left = None if self.deadline is None else self.deadline - ais.clock.time()
                if left is not None and left <= 0:
                    # Past the deadline nothing is sent, not even one poll.
                    return self._timed_out(None)
                base = ais.poll if self.poll is None else PollPolicy(**self.poll)
                policy = attrs.evolve(base, timeout=left)
                try:
                    final = await self._wait(ais, policy)
                except aep_ais.WaitTimeoutError as exc:
                    return self._timed_out(exc.last_status)
        except (aep_ais.OperationFailedError, aep_ais.RunFailedError) as exc:
            last = exc.operation if isinstance(exc, aep_ais.OperationFailedError) else exc.run
            message = f"{type(exc).__name__}: {exc}"
            return {"status": "failed", "message": message, self._payload_key: to_dict(last)}
        except AISError as exc:
            return {
                "status": "error",
                "message": f"{type(exc).__name__}: {exc}",
                "retryable": exc.retryable,
            }
        return {"status": "success", self._payload_key: to_dict(final)}

    def _timed_out(self, last_status: str | None) -> dict[str, Any]:
        deadline = "its deadline" if self.deadline is None else _iso(self.deadline)
        return {
            "status": "timeout",
            "message": f"{self._what()} was still {last_status or 'not finished'} at {deadline}",
            "retryable": True,
        }

    async def _wait(self, ais: AISClient, policy: PollPolicy) -> object:
        raise NotImplementedError

    def _what(self) -> str:
        raise NotImplementedError


class AEPOperationTrigger(_AEPTrigger):
    """Waits for an audience-creation operation to end, up to an absolute `deadline`.

    `deadline` is an aware `datetime`, epoch seconds or an ISO string (`None`: no end);
    `poll` a `PollPolicy` (its `timeout` is replaced by the time left) or `None` for the
    client's own. The event's `operation` is `to_dict` of the final `Operation`.
    """

    _payload_key = "operation"

    def __init__(
        self,
        *,
        operation_id: str,
        deadline: datetime | float | str | None,
        aep_conn_id: str = DEFAULT_CONN_ID,
        poll: PollPolicy | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(deadline=deadline, aep_conn_id=aep_conn_id, poll=poll)
        self.operation_id = operation_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the JSON keyword arguments that re-create this trigger."""
        return (
            "aep_ais.airflow.AEPOperationTrigger",
            {"operation_id": self.operation_id, **self._kwargs()},
        )

    async def _wait(self, ais: AISClient, policy: PollPolicy) -> object:
        return await ais.wait_for_operation(self.operation_id, poll=policy)

    def _what(self) -> str:
        return f"operation {self.operation_id}"


class AEPIngestionRunTrigger(_AEPTrigger):
    """Waits for an ingestion run to end, up to an absolute `deadline`.

    Arguments as for `AEPOperationTrigger`; the event's `run` is `to_dict` of the final
    `IngestionRun`, stages included.
    """

    _payload_key = "run"

    def __init__(
        self,
        *,
        audience_id: str,
        run_id: str,
        deadline: datetime | float | str | None,
        aep_conn_id: str = DEFAULT_CONN_ID,
        poll: PollPolicy | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(deadline=deadline, aep_conn_id=aep_conn_id, poll=poll)
        self.audience_id = audience_id
        self.run_id = run_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the JSON keyword arguments that re-create this trigger."""
        return (
            "aep_ais.airflow.AEPIngestionRunTrigger",
            {"audience_id": self.audience_id, "run_id": self.run_id, **self._kwargs()},
        )

    async def _wait(self, ais: AISClient, policy: PollPolicy) -> object:
        return await ais.wait_for_run(self.audience_id, self.run_id, poll=policy)

    def _what(self) -> str:
        return f"run {self.run_id} of audience {self.audience_id}"


for _cls in (AEPOperationTrigger, AEPIngestionRunTrigger):
    _cls.__module__ = "aep_ais.airflow"
