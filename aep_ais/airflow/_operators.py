"""Deferrable operators: create an audience, run an ingestion.

Both start the work in the worker, then hand the wait to the triggerer (`deferrable=True`,
the default) or wait in the worker (`deferrable=False`). Their XCom is `to_dict` of the
final `Operation` or `IngestionRun`: the API's own JSON, so the next task reads
`audienceId` or `runId`. How a failure ends the task is in `_base.py`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context

import aep_ais
from aep_ais import AISError, AudienceSpec, IngestionRun, Operation, from_dict, to_dict

from ._base import (
    FIRST_TRY_KEY,
    OPERATION_KEY,
    AEPOperator,
    as_time,
    aware,
    event_error,
    task_error,
)
from ._hook import run_sync
from ._triggers import AEPIngestionRunTrigger, AEPOperationTrigger

__all__ = ["AEPCreateAudienceOperator", "AEPIngestionRunOperator"]


class AEPCreateAudienceOperator(AEPOperator):
    """Creates an external audience and waits until the platform has it.

    `spec` is an `aep_ais.AudienceSpec` or the API's own create body (a dict, templated).
    The XCom is `to_dict` of the final `Operation` (`audienceId` holds the new id).
    With a task state store (Airflow 3.3), a retry waits for the operation the first try
    started instead of creating the audience again. `deferrable`, `poll` (a `PollPolicy`)
    and `wait_timeout` (seconds or a `timedelta`, default `poll.timeout`) shape the wait.
    """

    template_fields: Sequence[str] = ("spec",)
    ui_color = "#fa0f00"

    def __init__(self, *, spec: AudienceSpec | Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def _spec(self) -> AudienceSpec:
        if isinstance(self.spec, AudienceSpec):
            return self.spec
        if not isinstance(self.spec, Mapping):
            raise aep_ais.ValidationError("spec", "must be an AudienceSpec or a dict")
        return from_dict(AudienceSpec, dict(self.spec))

    def execute(self, context: Context) -> dict[str, Any]:
        """Create (or, on a retry, find) the operation, then wait or defer."""
        store = context.get("task_state_store")
        known = store.get(OPERATION_KEY) if store is not None else None

        client = self._client()

        async def start() -> tuple[Operation, float | None]:
            async with client as ais:
                deadline = self._deadline(ais)
                if isinstance(known, str):
                    self.log.info("a previous try started operation %s: waiting for it", known)
                    return await ais.get_operation(known), deadline
                return await ais.create_audience(self._spec()), deadline

        try:
            operation, deadline = run_sync(start)
        except AISError as exc:
            raise task_error(exc) from exc
        if store is not None and known is None:
            store.set(OPERATION_KEY, operation.operation_id)
        self.log.info("operation %s is %s", operation.operation_id, operation.status or "submitted")
        if operation.done:
            return self._finish(operation)
        if self.deferrable:
            self.defer(
                trigger=AEPOperationTrigger(
                    operation_id=operation.operation_id,
                    deadline=deadline,
                    aep_conn_id=self.aep_conn_id,
                    poll=self.poll,
                ),
                method_name="execute_complete",
            )

        client = self._client()

        async def wait() -> Operation:
            async with client as ais:
                return await ais.wait_for_operation(
                    operation.operation_id, poll=self._remaining(ais, deadline)
                )

        try:
            return to_dict(run_sync(wait))
        except AISError as exc:
            raise task_error(exc) from exc

    def _finish(self, operation: Operation) -> dict[str, Any]:
        if operation.status == aep_ais.OperationStatus.FAILED:
            raise task_error(aep_ais.OperationFailedError(operation))
        return to_dict(operation)

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        """The trigger's event: the operation's `to_dict` on success, else the task fails."""
        if event.get("status") == "success":
            result: dict[str, Any] = event["operation"]
            self.log.info("audience %s created", result.get("audienceId"))
            return result
        event_error(event)

    def on_kill(self) -> None:
        """Leave the server alone: the API cannot cancel an audience creation."""
        self.log.warning(
            "killed: the External Audiences API cannot cancel an audience creation; "
            "it goes on on the platform"
        )


class AEPIngestionRunOperator(AEPOperator):
    """Runs an ingestion of an external audience and waits for it to end.

    `audience_id`, `data_filter_start_time` and `data_filter_end_time` (a datetime,
    epoch seconds or an ISO string) and `if_active` (`"wait"`, `"attach"`, `"raise"`, as
    for `run_and_wait`) are templated. The run is started with `ensure_run`, whose
    `reuse_since` is the start of this task instance's first try: a retry after a crash
    attaches to the run the first try started and never starts a second. Deferring with
    `if_active="wait"`, a run of the audience already in progress is waited for in the
    triggerer too (`execute_after_active_run`), then the task starts its own. The XCom is
    `to_dict` of the final `IngestionRun`. `on_kill` leaves the run going (the API
    cannot cancel one) and says so in the log.
    """

    template_fields: Sequence[str] = (
        "audience_id",
        "data_filter_start_time",
        "data_filter_end_time",
        "if_active",
    )
    ui_color = "#fa0f00"

    def __init__(
        self,
        *,
        audience_id: str,
        data_filter_start_time: datetime | int | str,
        data_filter_end_time: datetime | int | str | None = None,
        if_active: aep_ais.IfActive = "wait",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.audience_id = audience_id
        self.data_filter_start_time = data_filter_start_time
        self.data_filter_end_time = data_filter_end_time
        self.if_active = if_active
        self._run: IngestionRun | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        """Start (or attach to) the run, then wait or defer."""
        try:
            start_time = as_time(self.data_filter_start_time, "data_filter_start_time")
            end_time = (
                None
                if self.data_filter_end_time in (None, "")
                else as_time(self.data_filter_end_time, "data_filter_end_time")
            )
        except AISError as exc:
            raise task_error(exc) from exc
        reuse_since = self._first_try_start(context)
        # Deferring, another run's end is waited for in the triggerer too, not in a worker
        # slot: ask to be told of it ("raise"), wait for it, then come back here.
        wait_here = self.deferrable and self.if_active == "wait"
        client = self._client()
        deadline: float | None = None

        async def start() -> IngestionRun:
            nonlocal deadline
            async with client as ais:
                deadline = self._deadline(ais)
                return await ais.ensure_run(
                    self.audience_id,
                    data_filter_start_time=start_time,
                    data_filter_end_time=end_time,
                    if_active="raise" if wait_here else self.if_active,
                    reuse_since=reuse_since,
                    deadline=aware(deadline),
                    poll=self._policy(ais),
                )

        try:
            run = run_sync(start)
        except aep_ais.RunInProgressError as exc:
            if not (wait_here and exc.run_id):
                raise task_error(exc) from exc
            self.log.info(
                "audience %s has run %s in progress: waiting for it to end before starting",
                self.audience_id,
                exc.run_id,
            )
            self.defer(
                trigger=AEPIngestionRunTrigger(
                    audience_id=self.audience_id,
                    run_id=exc.run_id,
                    deadline=deadline,
                    aep_conn_id=self.aep_conn_id,
                    poll=self.poll,
                ),
                method_name="execute_after_active_run",
            )
        except AISError as exc:
            raise task_error(exc) from exc
        self._run = run
        self.log.info(
            "run %s of audience %s is %s", run.run_id, self.audience_id, run.status or "started"
        )
        if run.done:
            return self._finish(run)
        if self.deferrable:
            self.defer(
                trigger=AEPIngestionRunTrigger(
                    audience_id=self.audience_id,
                    run_id=run.run_id,
                    deadline=deadline,
                    aep_conn_id=self.aep_conn_id,
                    poll=self.poll,
                ),
                method_name="execute_complete",
            )

        client = self._client()

        async def wait() -> IngestionRun:
            async with client as ais:
                return await ais.wait_for_run(
                    self.audience_id, run.run_id, poll=self._remaining(ais, deadline)
                )

        try:
            return to_dict(run_sync(wait))
        except AISError as exc:
            raise task_error(exc) from exc

    def _first_try_start(self, context: Context) -> datetime:
        """When this task instance's first try started (whole seconds, as on the wire).

        Kept in the task state store, which outlives a try; without one (older Airflow)
        a retry falls back to the DAG run's start, which is no later than it.
        """
        ti = context["ti"]
        started: datetime = ti.start_date or datetime.fromtimestamp(time.time(), tz=UTC)
        store = context.get("task_state_store")
        if store is not None:
            saved = store.get(FIRST_TRY_KEY)
            if isinstance(saved, str):
                started = datetime.fromisoformat(saved)
            else:
                store.set(FIRST_TRY_KEY, started.isoformat())
        elif ti.try_number > 1:
            dag_run = context.get("dag_run")
            started = getattr(dag_run, "start_date", None) or started
        return started.replace(microsecond=0)

    def _finish(self, run: IngestionRun) -> dict[str, Any]:
        if run.status == aep_ais.RunStatus.FAILED:
            raise task_error(aep_ais.RunFailedError(run))
        return to_dict(run)

    def execute_after_active_run(
        self, context: Context, event: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Another run of the audience has ended (in success or failure): start ours."""
        if event.get("status") not in ("success", "failed"):
            event_error(event)
        return self.execute(context)

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> dict[str, Any]:
        """The trigger's event: the run's `to_dict` on success, else the task fails."""
        if event.get("status") == "success":
            result: dict[str, Any] = event["run"]
            self.log.info("run %s ended %s", result.get("runId"), result.get("status"))
            return result
        event_error(event)

    def on_kill(self) -> None:
        """Leave the run going: the API cannot cancel an ingestion run."""
        what = f"run {self._run.run_id}" if self._run is not None else "the ingestion run"
        self.log.warning(
            "killed: the External Audiences API cannot cancel %s of audience %s; "
            "it goes on on the platform",
            what,
            self.audience_id,
        )


for _cls in (AEPCreateAudienceOperator, AEPIngestionRunOperator):
    _cls.__module__ = "aep_ais.airflow"
