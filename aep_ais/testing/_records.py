"""The emulator's state records and how each is shown on the wire.

Status is never stored: it is worked out from the clock when asked (`status(now)`), so the
emulator needs no background tasks and virtual time (`FakeClock`) moves it as well as real
time does. Records are plain dataclasses; tests may read them but should not change them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

__all__ = ["STAGES", "AudienceRecord", "OperationRecord", "RunRecord", "Scope"]

Scope = tuple[str, str]
"""`(org id, sandbox name)`: everything lives in exactly one scope."""

STAGES = ("DATASET_INGEST", "PROFILE_STORE_INGEST")
DAY = 86400.0


@dataclass
class AudienceRecord:
    """An external audience. `details` is the normalised create request."""

    audience_id: str
    scope: Scope
    details: dict[str, Any]
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    expires_at: float

    @property
    def sandbox(self) -> str:
        """The sandbox the audience lives in."""
        return self.scope[1]

    @property
    def name(self) -> str:
        """The audience's name."""
        return str(self.details["name"])

    @property
    def source_path(self) -> str:
        """Where its source data lives (`sourceSpec.path`)."""
        return str(self.details["sourceSpec"]["params"]["path"])

    @property
    def ttl_in_days(self) -> int:
        """Its data expiration, in days."""
        return int(self.details["ttlInDays"])

    def wire(self) -> dict[str, Any]:
        """The audience as the PATCH answer shows it (`sourceSpec` without `params`)."""
        d = copy.deepcopy(self.details)
        out: dict[str, Any] = {"audienceId": self.audience_id, "audienceName": d.pop("name")}
        d["sourceSpec"] = d["sourceSpec"]["params"]
        out.update(d)
        out.update(
            createdBy=self.created_by,
            createdAt=self.created_at,
            updatedBy=self.updated_by,
            updatedAt=self.updated_at,
        )
        return out


@dataclass
class OperationRecord:
    """An audience-creation operation; it ends at `done_at` (a `clock.now()` reading)."""

    operation_id: str
    scope: Scope
    details: dict[str, Any]
    audience_id: str
    created_at: int
    created_by: str
    done_at: float
    ends_failed: bool
    settled: bool = False

    @property
    def name(self) -> str:
        """The name of the audience the operation creates."""
        return str(self.details["name"])

    def status(self, now: float) -> str:
        """`PROCESSING` until `done_at`, then `SUCCESS` or `FAILED`."""
        if now < self.done_at:
            return "PROCESSING"
        return "FAILED" if self.ends_failed else "SUCCESS"

    def wire(self, now: float, processing_seconds: float) -> dict[str, Any]:
        """The operation as `GET .../operations/{id}` answers it at `now`."""
        status = self.status(now)
        out: dict[str, Any] = {
            "operationId": self.operation_id,
            "status": status,
            "operationDetails": copy.deepcopy(self.details),
            "audienceName": self.name,
        }
        if status == "SUCCESS":
            out["audienceId"] = self.audience_id
        updated = (
            self.created_at if status == "PROCESSING" else self.created_at + processing_seconds
        )
        out.update(
            createdBy=self.created_by,
            createdAt=self.created_at,
            updatedBy=self.created_by,
            updatedAt=int(updated),
        )
        return out


@dataclass
class RunRecord:
    """An ingestion run: stage one ends halfway through `run_time`, stage two at the end."""

    run_id: str
    audience_id: str
    scope: Scope
    audience_name: str
    source_path: str
    data_filter_start_time: int
    data_filter_end_time: int
    differential: bool
    created_at: int
    created_by: str
    started: float
    run_time: float
    fails: bool
    flow_run_ids: tuple[str, str]
    seq: int = 0

    @property
    def ends_at(self) -> float:
        """When the run ends, on the emulator's clock."""
        return self.started + self.run_time

    def active(self, now: float) -> bool:
        """Whether the run is still in progress at `now`."""
        return now < self.ends_at

    def status(self, now: float) -> str:
        """`PROCESSING` while going, then `SUCCESS`, or `FAILED` for a failing run."""
        if self.active(now):
            return "PROCESSING"
        return "FAILED" if self.fails else "SUCCESS"

    def stages(self, now: float) -> list[dict[str, Any]]:
        """Both stages; a failing run fails at `PROFILE_STORE_INGEST`."""
        half = self.started + self.run_time / 2.0
        first = "PROCESSING" if now < half else "SUCCESS"
        if now < half:
            second = "QUEUED"
        elif now < self.ends_at:
            second = "PROCESSING"
        else:
            second = "FAILED" if self.fails else "SUCCESS"
        return [
            {"stage": stage, "status": status, "flowRunId": flow}
            for stage, status, flow in zip(STAGES, (first, second), self.flow_run_ids, strict=True)
        ]

    def wire(self, now: float, *, status: bool = True, details: bool = True) -> dict[str, Any]:
        """The run as the API answers it at `now` (the start's answer has no status)."""
        out: dict[str, Any] = {
            "audienceName": self.audience_name,
            "audienceId": self.audience_id,
            "runId": self.run_id,
        }
        if status:
            out["status"] = self.status(now)
        out.update(
            differentialIngestion=self.differential,
            dataFilterStartTime=self.data_filter_start_time,
            dataFilterEndTime=self.data_filter_end_time,
            createdAt=self.created_at,
            createdBy=self.created_by,
        )
        if details:
            out["details"] = self.stages(now)
        return out


for _cls in (AudienceRecord, OperationRecord, RunRecord):
    _cls.__module__ = "aep_ais.testing"
