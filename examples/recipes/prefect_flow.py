"""Prefect: an ingestion run as two async tasks of one flow.

`start_run` starts the run (a retry gets the run its first try started, by
`reuse_since`); `wait_for_run` waits for its end, up to a deadline fixed when
the flow run was scheduled, so a retried wait never waits longer than planned.
Both are retried only for errors the SDK marks `retryable`. The tasks pass
the run along as JSON (`aep_ais.to_dict`), which Prefect can persist.

    python -c "import asyncio, prefect_flow as f; \
        asyncio.run(f.refresh_audience('60cc...'))"
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import aep_ais
from prefect import flow, task
from prefect.runtime import flow_run


def open_client() -> aep_ais.AISClient:
    """The client of a task: from the `AEP_*` environment variables."""
    return aep_ais.AISClient.from_env()


def retry_if_retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry condition: only what may succeed if tried again."""
    try:
        state.result()
    except aep_ais.AISError as exc:
        return exc.retryable
    except Exception:  # noqa: BLE001 - anything else: Prefect's default, retry
        return True
    return False


@task(retries=5, retry_delay_seconds=30, retry_condition_fn=retry_if_retryable)
async def start_run(
    audience_id: str, window_start: int, first_try: datetime
) -> dict[str, Any]:
    async with open_client() as ais:
        run = await ais.ensure_run(
            audience_id,
            data_filter_start_time=window_start,
            reuse_since=first_try,
        )
    return {"audience_id": audience_id, "run": aep_ais.to_dict(run)}


@task(retries=3, retry_delay_seconds=60, retry_condition_fn=retry_if_retryable)
async def wait_for_run(
    started: dict[str, Any], deadline: datetime
) -> dict[str, Any]:
    run = aep_ais.from_dict(aep_ais.IngestionRun, started["run"])
    async with open_client() as ais:
        ended = await ais.wait_for_run(
            started["audience_id"], run.run_id, deadline=deadline
        )
    return aep_ais.to_dict(ended)


@flow
async def refresh_audience(
    audience_id: str, window_start: int = 0, hours: float = 6
) -> dict[str, Any]:
    # The same moment on every retry of the flow run: when it was scheduled.
    scheduled: datetime = flow_run.scheduled_start_time
    started = await start_run(audience_id, window_start, scheduled)
    return await wait_for_run(started, scheduled + timedelta(hours=hours))
