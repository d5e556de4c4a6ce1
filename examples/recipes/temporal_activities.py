"""Temporal: an ingestion run as two activities and their workflow.

`start_run` starts the run (or, on a retry, finds the one its first attempt
started) and returns at once; `wait_for_run` waits for its end, heartbeating
each polled status, up to a deadline fixed when the workflow began. What one
hands the next is JSON: the run as `aep_ais.to_dict` gives it.

Run a worker with `AudienceActivities(ais)`: one client per worker, shared
by every activity it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import aep_ais


def _give_up_unless_retryable(exc: aep_ais.AISError) -> ApplicationError:
    # Temporal retries any error by default; the SDK knows which are worth it.
    return ApplicationError(
        str(exc), type=type(exc).__name__, non_retryable=not exc.retryable
    )


class AudienceActivities:
    """The activities, bound to the worker's client."""

    def __init__(self, ais: aep_ais.AISClient) -> None:
        self._ais = ais

    @activity.defn
    async def start_run(
        self, audience_id: str, window_start: int
    ) -> dict[str, Any]:
        # `scheduled_time` is when the workflow first scheduled this activity:
        # every retry passes the same moment, so a retry after a crash gets
        # the run of the first attempt back instead of starting another.
        first_try = activity.info().scheduled_time
        try:
            run = await self._ais.ensure_run(
                audience_id,
                data_filter_start_time=window_start,
                reuse_since=first_try,
            )
        except aep_ais.AISError as exc:
            raise _give_up_unless_retryable(exc) from exc
        return {"audience_id": audience_id, "run": aep_ais.to_dict(run)}

    @activity.defn
    async def wait_for_run(
        self, started: dict[str, Any], deadline: float
    ) -> dict[str, Any]:
        run = aep_ais.from_dict(aep_ais.IngestionRun, started["run"])

        def beat(polled: aep_ais.IngestionRun) -> None:
            activity.heartbeat(str(polled.status))

        try:
            ended = await self._ais.wait_for_run(
                started["audience_id"],
                run.run_id,
                deadline=datetime.fromtimestamp(deadline, tz=UTC),
                on_status=beat,
            )
        except aep_ais.AISError as exc:
            raise _give_up_unless_retryable(exc) from exc
        return aep_ais.to_dict(ended)


@workflow.defn
class AudienceRunWorkflow:
    """Start a run, then wait up to six hours from the workflow's start."""

    @workflow.run
    async def run(self, audience_id: str, window_start: int) -> dict[str, Any]:
        deadline = workflow.now() + timedelta(hours=6)
        started = await workflow.execute_activity_method(
            AudienceActivities.start_run,
            args=[audience_id, window_start],
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        ended: dict[str, Any] = await workflow.execute_activity_method(
            AudienceActivities.wait_for_run,
            args=[started, deadline.timestamp()],
            start_to_close_timeout=timedelta(hours=6, minutes=5),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=10),
        )
        return ended
