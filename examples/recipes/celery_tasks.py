"""Celery: one task starts an ingestion run, another waits for it.

Celery's workers are synchronous, so each task runs its coroutine with
`asyncio.run` and builds its client inside it (an `AISClient` belongs to the
event loop it was opened on). The wait holds a worker for at most `hold`
seconds; if the run is still going then, the task retries itself and waits
again, until the deadline fixed when the chain began. Between the tasks the run
travels as JSON: `aep_ais.to_dict` of it.

    refresh_audience("60cc...", window_start=0).delay()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aep_ais
from celery import Celery, Task, chain

app = Celery("audiences")
# How a worker builds its client: from the `AEP_*` environment variables.
app.conf.aep_client_factory = aep_ais.AISClient.from_env


def _client() -> aep_ais.AISClient:
    factory: Callable[[], aep_ais.AISClient] = app.conf.aep_client_factory
    return factory()


def _retry_or_raise(task: Task, exc: aep_ais.AISError) -> Exception:
    if exc.retryable:
        return task.retry(exc=exc, countdown=60, max_retries=5)
    return exc


async def _start(
    audience_id: str, window_start: int, first_try: float
) -> dict[str, Any]:
    async with _client() as ais:
        run = await ais.ensure_run(
            audience_id,
            data_filter_start_time=window_start,
            # A redelivered or retried task gets the run its first try made.
            reuse_since=datetime.fromtimestamp(first_try, tz=UTC),
        )
    return {"audience_id": audience_id, "run": aep_ais.to_dict(run)}


async def _wait(
    started: dict[str, Any], deadline: float, hold: float
) -> dict[str, Any] | None:
    run = aep_ais.from_dict(aep_ais.IngestionRun, started["run"])
    async with _client() as ais:
        # The earlier of the chain's deadline and this task's hold ends it.
        until = min(deadline, ais.clock.time() + hold)
        try:
            ended = await ais.wait_for_run(
                started["audience_id"],
                run.run_id,
                deadline=datetime.fromtimestamp(until, tz=UTC),
            )
        except aep_ais.WaitTimeoutError:
            if until >= deadline:
                raise
            return None  # still going: wait again in a new task
    return aep_ais.to_dict(ended)


@app.task(bind=True)
def start_run(
    self: Task, audience_id: str, window_start: int, first_try: float
) -> dict[str, Any]:
    try:
        return asyncio.run(_start(audience_id, window_start, first_try))
    except aep_ais.AISError as exc:
        raise _retry_or_raise(self, exc) from exc


@app.task(bind=True, max_retries=None)
def wait_for_run(
    self: Task, started: dict[str, Any], deadline: float, hold: float = 600
) -> dict[str, Any]:
    try:
        ended = asyncio.run(_wait(started, deadline, hold))
    except aep_ais.WaitTimeoutError:
        raise  # the chain's deadline has passed: give up
    except aep_ais.AISError as exc:
        raise _retry_or_raise(self, exc) from exc
    if ended is None:
        raise self.retry(countdown=0)
    return ended


def refresh_audience(
    audience_id: str, window_start: int, within: float = 6 * 3600
) -> Any:
    """The chain to send: start, then wait up to `within` seconds."""
    now = time.time()
    return chain(
        start_run.s(audience_id, window_start, now),
        wait_for_run.s(now + within),
    )
