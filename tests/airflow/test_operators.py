"""The operators: they start the work, defer to the right trigger (or wait in the worker),
and turn the trigger's event into the XCom or the right task failure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("airflow")

from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

import aep_ais
from aep_ais.airflow import (
    AEPCreateAudienceOperator,
    AEPIngestionRunOperator,
    AEPIngestionRunTrigger,
    AEPOperationTrigger,
)

from .conftest import FAILING_PATH, EmulatedAEP

SPEC_BODY = {
    "name": "Operator buyers",
    "fields": [{"name": "email", "type": "string", "identityNs": "email"}],
    "sourceSpec": {
        "path": "activation/operator/buyers.csv",
        "type": "file",
        "cloudType": "DLZ",
    },
    "ttlInDays": 30,
}


class Store:
    """The task state store: kept across a task instance's tries."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def context(
    aep: EmulatedAEP,
    store: Store | None = None,
    try_number: int = 1,
    *,
    dag_run_start: datetime | None = None,
) -> Any:
    started = datetime.fromtimestamp(aep.clock.time(), tz=UTC)
    ti = SimpleNamespace(start_date=started, try_number=try_number)
    if dag_run_start is not None:
        # An Airflow without a task state store: only the DAG run's start is known.
        return {"ti": ti, "dag_run": SimpleNamespace(start_date=dag_run_start)}
    return {"ti": ti, "task_state_store": store if store is not None else Store()}


def deferred(operator: Any, ctx: Any) -> Any:
    with pytest.raises(TaskDeferred) as caught:
        operator.execute(ctx)
    assert caught.value.method_name == "execute_complete"
    return caught.value.trigger


def finish(aep: EmulatedAEP, operator: Any, ctx: Any, trigger: Any) -> Any:
    aep.wire(trigger)

    async def one() -> Any:
        return [event async for event in trigger.run()]

    [event] = asyncio.run(one())
    return operator.execute_complete(ctx, event.payload)


def test_create_defers_to_the_operation_trigger_and_returns_the_operation(
    aep: EmulatedAEP,
) -> None:
    operator = aep.wire(AEPCreateAudienceOperator(task_id="create", spec=SPEC_BODY))
    ctx = context(aep)
    trigger = deferred(operator, ctx)
    assert isinstance(trigger, AEPOperationTrigger)
    assert trigger.operation_id in aep.emulator.operations
    assert trigger.deadline == pytest.approx(aep.clock.time() + aep_ais.PollPolicy().timeout)
    xcom = finish(aep, operator, ctx, trigger)
    assert xcom["status"] == "SUCCESS"
    assert xcom["audienceId"] in aep.emulator.audiences


def test_a_retried_create_waits_for_the_first_tries_operation(aep: EmulatedAEP) -> None:
    store = Store()
    first = deferred(
        aep.wire(AEPCreateAudienceOperator(task_id="create", spec=SPEC_BODY)), context(aep, store)
    )
    retry = AEPCreateAudienceOperator(task_id="create", spec=SPEC_BODY, deferrable=False)
    xcom = aep.wire(retry).execute(context(aep, store, try_number=2))
    assert xcom["operationId"] == first.operation_id
    assert aep.emulator.create_attempts["Operator buyers"] == 1


def test_create_without_deferring_waits_in_the_worker(aep: EmulatedAEP) -> None:
    spec = aep_ais.AudienceSpec(
        name="Worker buyers",
        fields=[aep_ais.AudienceField(name="email", type="string", identity_ns="email")],
        source_spec=aep_ais.SourceSpec(path="activation/worker/buyers.csv", cloud_type="DLZ"),
    )
    operator = AEPCreateAudienceOperator(task_id="create", spec=spec, deferrable=False)
    xcom = aep.wire(operator).execute(context(aep))
    assert xcom["audienceId"] in aep.emulator.audiences


def test_a_bad_spec_fails_the_task_without_a_retry(aep: EmulatedAEP) -> None:
    operator = AEPCreateAudienceOperator(task_id="create", spec={**SPEC_BODY, "ttlInDays": 500})
    with pytest.raises(AirflowFailException, match="ttl"):
        aep.wire(operator).execute(context(aep))
    assert aep.emulator.create_attempts == {}


async def test_run_defers_to_the_run_trigger_and_returns_the_run(aep: EmulatedAEP) -> None:
    audience_id = await aep.audience()
    operator = AEPIngestionRunOperator(
        task_id="ingest",
        audience_id=audience_id,
        data_filter_start_time="2025-06-01T00:00:00+00:00",
        data_filter_end_time="1748822400",
        wait_timeout=1800,
    )
    ctx = context(aep)
    trigger = await asyncio.to_thread(deferred, aep.wire(operator), ctx)
    assert isinstance(trigger, AEPIngestionRunTrigger)
    assert trigger.audience_id == audience_id
    assert trigger.run_id in aep.emulator.runs
    assert trigger.deadline == pytest.approx(aep.clock.time() + 1800)
    xcom = await asyncio.to_thread(finish, aep, operator, ctx, trigger)
    assert xcom["runId"] == trigger.run_id and xcom["status"] == "SUCCESS"
    assert xcom["dataFilterStartTime"] == 1748736000
    assert xcom["dataFilterEndTime"] == 1748822400


async def test_a_retry_after_a_crash_attaches_to_the_first_tries_run(aep: EmulatedAEP) -> None:
    audience_id = await aep.audience()
    store = Store()

    def operator() -> Any:
        return aep.wire(
            AEPIngestionRunOperator(
                task_id="ingest", audience_id=audience_id, data_filter_start_time=0
            )
        )

    first = await asyncio.to_thread(deferred, operator(), context(aep, store))
    # The worker dies before the trigger runs; the retry comes a minute later.
    aep.clock.advance(60)
    again = await asyncio.to_thread(deferred, operator(), context(aep, store, try_number=2))
    assert again.run_id == first.run_id
    assert aep.emulator.start_attempts[audience_id] == 1


async def test_without_a_task_state_store_a_retry_attaches_from_the_dag_runs_start(
    aep: EmulatedAEP,
) -> None:
    audience_id = await aep.audience()
    dag_run_start = datetime.fromtimestamp(aep.clock.time(), tz=UTC)
    aep.clock.advance(30)  # the task starts a while after its DAG run

    def operator() -> Any:
        return aep.wire(
            AEPIngestionRunOperator(
                task_id="ingest", audience_id=audience_id, data_filter_start_time=0
            )
        )

    first = await asyncio.to_thread(deferred, operator(), context(aep, dag_run_start=dag_run_start))
    aep.clock.advance(60)
    again = await asyncio.to_thread(
        deferred, operator(), context(aep, try_number=2, dag_run_start=dag_run_start)
    )
    assert again.run_id == first.run_id
    assert aep.emulator.start_attempts[audience_id] == 1


async def test_run_without_deferring_waits_in_the_worker(aep: EmulatedAEP) -> None:
    audience_id = await aep.audience()
    operator = AEPIngestionRunOperator(
        task_id="ingest", audience_id=audience_id, data_filter_start_time=0, deferrable=False
    )
    xcom = await asyncio.to_thread(aep.wire(operator).execute, context(aep))
    assert xcom["status"] == "SUCCESS"
    assert len(aep.emulator.runs) == 1


async def test_a_failed_run_fails_the_task_without_a_retry(aep: EmulatedAEP) -> None:
    audience_id = await aep.audience(FAILING_PATH)
    operator = AEPIngestionRunOperator(
        task_id="ingest", audience_id=audience_id, data_filter_start_time=0, deferrable=False
    )
    with pytest.raises(AirflowFailException, match="RunFailedError"):
        await asyncio.to_thread(aep.wire(operator).execute, context(aep))


async def test_another_active_run_is_waited_for_in_the_triggerer_then_ours_starts(
    aep: EmulatedAEP,
) -> None:
    audience_id = await aep.audience()
    other = await aep.started_run(audience_id)
    aep.clock.advance(10)  # someone else's run, started before this task
    operator = aep.wire(
        AEPIngestionRunOperator(task_id="ingest", audience_id=audience_id, data_filter_start_time=0)
    )
    ctx = context(aep)
    with pytest.raises(TaskDeferred) as caught:
        await asyncio.to_thread(operator.execute, ctx)
    assert caught.value.method_name == "execute_after_active_run"
    assert caught.value.trigger.run_id == other.run_id
    assert aep.emulator.start_attempts[audience_id] == 1
    aep.wire(caught.value.trigger)
    [event] = [event async for event in caught.value.trigger.run()]
    assert event.payload["status"] == "success"
    with pytest.raises(TaskDeferred) as ours:
        await asyncio.to_thread(operator.execute_after_active_run, ctx, event.payload)
    assert ours.value.method_name == "execute_complete"
    assert ours.value.trigger.run_id != other.run_id
    xcom = await asyncio.to_thread(finish, aep, operator, ctx, ours.value.trigger)
    assert xcom["runId"] == ours.value.trigger.run_id and xcom["status"] == "SUCCESS"
    assert aep.emulator.start_attempts[audience_id] == 2


async def test_a_run_in_progress_under_raise_fails_the_task(aep: EmulatedAEP) -> None:
    audience_id = await aep.audience()
    await aep.started_run(audience_id)
    aep.clock.advance(10)  # someone else's run, started before this task
    operator = AEPIngestionRunOperator(
        task_id="ingest", audience_id=audience_id, data_filter_start_time=0, if_active="raise"
    )
    with pytest.raises(AirflowFailException, match="RunInProgressError"):
        await asyncio.to_thread(aep.wire(operator).execute, context(aep))


@pytest.mark.parametrize(
    ("event", "raised"),
    [
        (
            {"status": "failed", "message": "run r failed (DATASET_INGEST=FAILED)"},
            AirflowFailException,
        ),
        ({"status": "timeout", "message": "still RUNNING", "retryable": True}, AirflowException),
        ({"status": "error", "message": "ServerError: 503", "retryable": True}, AirflowException),
        (
            {"status": "error", "message": "NotFoundError: gone", "retryable": False},
            AirflowFailException,
        ),
        ({"status": "surprise"}, AirflowFailException),
    ],
)
def test_execute_complete_raises_for_every_event_but_success(
    event: dict[str, Any], raised: type[Exception]
) -> None:
    run_operator = AEPIngestionRunOperator(
        task_id="ingest", audience_id="a", data_filter_start_time=0
    )
    create_operator = AEPCreateAudienceOperator(task_id="create", spec=SPEC_BODY)
    for operator in (run_operator, create_operator):
        with pytest.raises(raised) as caught:
            operator.execute_complete({}, event)
        # A failure must not be retried: only the retryable ones are plain AirflowExceptions.
        assert isinstance(caught.value, AirflowFailException) == (raised is AirflowFailException)
        if "message" in event:
            assert event["message"] in str(caught.value)


@pytest.mark.parametrize("bad", ["yesterday", "", None, True, 1.5])
def test_a_bad_data_window_fails_the_task_before_anything_is_sent(
    aep: EmulatedAEP, bad: object
) -> None:
    operator = AEPIngestionRunOperator(
        task_id="ingest", audience_id="a", data_filter_start_time=bad
    )
    with pytest.raises(AirflowFailException, match="data_filter_start_time"):
        aep.wire(operator).execute(context(aep))
    assert aep.recorder.sent == []


async def test_on_kill_leaves_the_run_going_and_says_so(
    aep: EmulatedAEP, capsys: pytest.CaptureFixture[str]
) -> None:
    audience_id = await aep.audience()
    operator = aep.wire(
        AEPIngestionRunOperator(task_id="ingest", audience_id=audience_id, data_filter_start_time=0)
    )
    trigger = await asyncio.to_thread(deferred, operator, context(aep))
    sent = len(aep.recorder.sent)
    operator.on_kill()
    await trigger.on_kill()
    assert len(aep.recorder.sent) == sent
    [run] = aep.emulator.runs.values()
    assert run.active(aep.clock.now())
    logged = capsys.readouterr()
    assert logged.out.count("cannot cancel") + logged.err.count("cannot cancel") == 2
    assert trigger.run_id in logged.out + logged.err


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (aep_ais.RunFailedError(aep_ais.IngestionRun(run_id="r", status="FAILED")), False),
        (
            aep_ais.OperationFailedError(aep_ais.Operation(operation_id="o", status="FAILED")),
            False,
        ),
        (aep_ais.WaitTimeoutError("run", timeout=60, audience_id="a", run_id="r"), True),
        (aep_ais.APIConnectionError("connection reset", method="GET", path="/x"), True),
        (aep_ais.QuotaExceededError("audience", limit=10, sandbox="prod", audience_id="a"), True),
        (aep_ais.TokenError("IMS is down", status_code=503), True),
        (aep_ais.TokenError("invalid_client", status_code=401), False),
        (aep_ais.RunInProgressError("a", "r"), False),
        (aep_ais.ValidationError("audience_id", "is empty"), False),
    ],
)
def test_only_errors_a_retry_may_help_leave_the_task_retryable(
    error: aep_ais.AISError, retried: bool
) -> None:
    from aep_ais.airflow._base import task_error

    raised = task_error(error)
    assert isinstance(raised, AirflowFailException) != retried
    assert type(error).__name__ in str(raised)


async def test_a_spent_daily_quota_fails_the_task_retryably_without_a_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aep = EmulatedAEP(monkeypatch, guardrails=False)
    audience_id = await aep.audience()
    for day_hour in range(10):
        async with aep.client() as ais:
            await ais.start_run(audience_id, data_filter_start_time=day_hour * 3600)
        aep.clock.advance(601)
    operator = aep.wire(
        AEPIngestionRunOperator(task_id="ingest", audience_id=audience_id, data_filter_start_time=0)
    )
    with pytest.raises(AirflowException) as caught:
        await asyncio.to_thread(operator.execute, context(aep))
    assert not isinstance(caught.value, AirflowFailException)
    assert "QuotaExceededError" in str(caught.value)
    assert aep.emulator.start_attempts[audience_id] == 10
