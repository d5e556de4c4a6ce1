"""A stand-in for `AISClient.ensure_run`, landing on `main` in parallel (to remove then).

`ensure_run` is fixed in DESIGN.md ("Workflow steps"); until the SDK has it, this helper
gives the same answer from the public client methods.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

import aep_ais
from aep_ais import AISClient, IngestionRun

__all__ = ["ensure_run"]


async def ensure_run(
    ais: AISClient,
    audience_id: str,
    *,
    data_filter_start_time: datetime | int,
    data_filter_end_time: datetime | int | None,
    if_active: aep_ais.IfActive,
    reuse_since: datetime | None,
) -> IngestionRun:
    """`AISClient.ensure_run`, or a plain look-then-start until the SDK has it."""
    native = getattr(ais, "ensure_run", None)
    if native is not None:
        run: IngestionRun = await native(
            audience_id,
            data_filter_start_time=data_filter_start_time,
            data_filter_end_time=data_filter_end_time,
            if_active=if_active,
            reuse_since=reuse_since,
        )
        return run
    runs = await ais.list_runs(audience_id, limit=10, sort_by="-createdAt")
    start = _epoch(data_filter_start_time)
    end = None if data_filter_end_time is None else _epoch(data_filter_end_time)
    if reuse_since is not None:
        for run in runs:
            same = (
                run.data_filter_start_time is not None
                and _epoch(run.data_filter_start_time) == start
                and (
                    end is None
                    or (
                        run.data_filter_end_time is not None
                        and _epoch(run.data_filter_end_time) == end
                    )
                )
            )
            if same and run.created_at is not None and run.created_at >= reuse_since:
                return run
    active = next((run for run in runs if not run.done), None)
    if active is not None:
        if if_active == "raise":
            raise aep_ais.RunInProgressError(audience_id, active.run_id)
        if if_active == "attach":
            return active
        with contextlib.suppress(aep_ais.RunFailedError):
            await ais.wait_for_run(audience_id, active.run_id)
    return await ais.start_run(
        audience_id,
        data_filter_start_time=data_filter_start_time,
        data_filter_end_time=data_filter_end_time,
    )


def _epoch(value: datetime | int) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else int(value)
