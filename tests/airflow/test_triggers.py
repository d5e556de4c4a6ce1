"""`AEPOperationTrigger` and `AEPIngestionRunTrigger`: serialization, and the one event
each yields, on the emulator's virtual time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("airflow")

import aep_ais
from aep_ais import from_dict
from aep_ais.airflow import AEPIngestionRunTrigger, AEPOperationTrigger

from .conftest import FAILING_PATH, EmulatedAEP

POLL = {"interval": 5.0, "multiplier": 2.0, "max_interval": 60.0, "jitter": 0.0}


async def only_event(trigger: Any) -> dict[str, Any]:
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    payload: dict[str, Any] = events[0].payload
    return payload


@pytest.mark.parametrize(
    "trigger",
    [
        AEPIngestionRunTrigger(audience_id="a-1", run_id="r-1", deadline=1_750_000_600.0),
        AEPIngestionRunTrigger(
            audience_id="a-1",
            run_id="r-1",
            deadline=None,
            aep_conn_id="aep_other",
            poll=aep_ais.PollPolicy(interval=2, timeout=None),
        ),
        AEPOperationTrigger(operation_id="op-1", deadline=1_750_000_600.0, poll=POLL),
    ],
)
def test_serialize_round_trips_through_json_and_the_class_path(trigger: Any) -> None:
    import json

    from airflow.sdk.module_loading import import_string

    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    cls = import_string(classpath)
    assert cls is type(trigger)
    assert cls(**kwargs).serialize() == (classpath, kwargs)


def test_deadline_is_absolute_in_any_spelling() -> None:
    when = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    spellings = [when, when.isoformat(), when.timestamp()]
    deadlines = {AEPOperationTrigger(operation_id="op", deadline=d).deadline for d in spellings}
    assert deadlines == {when.timestamp()}
    with pytest.raises(aep_ais.ValidationError, match="deadline"):
        AEPOperationTrigger(operation_id="op", deadline=datetime(2025, 6, 1))
    with pytest.raises(aep_ais.ValidationError, match="interval"):
        AEPOperationTrigger(operation_id="op", deadline=None, poll={"interval": 0})


async def test_run_trigger_yields_success_with_the_final_run(aep: EmulatedAEP) -> None:
    audience_id = await aep.audience()
    run = await aep.started_run(audience_id)
    trigger = aep.wire(
        AEPIngestionRunTrigger(
            audience_id=audience_id,
            run_id=run.run_id,
            deadline=aep.clock.time() + 3600,
            poll=POLL,
        )
    )
    event = await only_event(trigger)
    assert event["status"] == "success"
    final = from_dict(aep_ais.IngestionRun, event["run"])
    assert final.run_id == run.run_id
    assert final.status == aep_ais.RunStatus.SUCCESS


async def test_run_trigger_yields_failure_with_the_stages(aep: EmulatedAEP) -> None:
    audience_id = await aep.audience(FAILING_PATH)
    run = await aep.started_run(audience_id)
    trigger = aep.wire(
        AEPIngestionRunTrigger(
            audience_id=audience_id, run_id=run.run_id, deadline=aep.clock.time() + 3600
        )
    )
    event = await only_event(trigger)
    assert event["status"] == "failed"
    assert run.run_id in event["message"]
    failed = from_dict(aep_ais.IngestionRun, event["run"])
    assert failed.status == aep_ais.RunStatus.FAILED
    assert failed.details, "the stages travel with the event"
    assert any(stage.status == aep_ais.RunStatus.FAILED for stage in failed.details)


async def test_run_trigger_times_out_at_its_deadline_and_sends_nothing_after(
    aep: EmulatedAEP,
) -> None:
    audience_id = await aep.audience()
    run = await aep.started_run(audience_id)
    deadline = aep.clock.time() + 120
    trigger = aep.wire(
        AEPIngestionRunTrigger(
            audience_id=audience_id, run_id=run.run_id, deadline=deadline, poll=POLL
        )
    )
    polls_before = len(aep.recorder.sent)
    event = await only_event(trigger)
    assert event["status"] == "timeout" and event["retryable"] is True
    assert run.run_id in event["message"]
    polls = aep.recorder.sent[polls_before:]
    assert polls and all(at < deadline for at, _, _ in polls)
    assert aep.clock.time() == pytest.approx(deadline)


async def test_transient_errors_while_polling_do_not_end_the_wait(aep: EmulatedAEP) -> None:
    audience_id = await aep.audience()
    run = await aep.started_run(audience_id)
    route = f"GET /external-audience/{audience_id}/runs/{run.run_id}"
    aep.emulator.faults.script(route, [503, "drop", 500, 429, "ok", 502])
    trigger = aep.wire(
        AEPIngestionRunTrigger(
            audience_id=audience_id,
            run_id=run.run_id,
            deadline=aep.clock.time() + 3600,
            poll=POLL,
        )
    )
    event = await only_event(trigger)
    assert event["status"] == "success"
    assert sum(aep.emulator.faults_injected.values()) == 5


async def test_a_deadline_already_past_times_out_without_a_request(aep: EmulatedAEP) -> None:
    trigger = aep.wire(
        AEPIngestionRunTrigger(audience_id="a-1", run_id="r-1", deadline=aep.clock.time() - 1)
    )
    event = await only_event(trigger)
    assert event["status"] == "timeout"
    assert aep.recorder.sent == []


async def test_a_recreated_trigger_keeps_the_first_deadline(aep: EmulatedAEP) -> None:
    audience_id = await aep.audience()
    run = await aep.started_run(audience_id)
    first = AEPIngestionRunTrigger(
        audience_id=audience_id, run_id=run.run_id, deadline=aep.clock.time() + 300, poll=POLL
    )
    deadline = first.deadline
    # The triggerer restarts 200 s later and builds the trigger again from its kwargs.
    aep.clock.advance(200)
    _, kwargs = first.serialize()
    again = aep.wire(AEPIngestionRunTrigger(**kwargs))
    event = await only_event(again)
    assert event["status"] == "timeout"
    assert aep.clock.time() == pytest.approx(deadline)


async def test_an_error_that_is_not_transient_ends_the_wait_as_an_error(
    aep: EmulatedAEP,
) -> None:
    audience_id = await aep.audience()
    trigger = aep.wire(
        AEPIngestionRunTrigger(
            audience_id=audience_id, run_id="no-such-run", deadline=aep.clock.time() + 3600
        )
    )
    event = await only_event(trigger)
    assert event["status"] == "error"
    assert event["retryable"] is False
    assert event["message"].startswith("NotFoundError")


async def test_operation_trigger_yields_success_with_the_audience_id(aep: EmulatedAEP) -> None:
    spec = aep_ais.AudienceSpec(
        name="Trigger buyers",
        fields=[aep_ais.AudienceField(name="email", type="string", identity_ns="email")],
        source_spec=aep_ais.SourceSpec(path="activation/trigger/buyers.csv", cloud_type="DLZ"),
    )
    async with aep.client() as ais:
        operation = await ais.create_audience(spec)
    trigger = aep.wire(
        AEPOperationTrigger(operation_id=operation.operation_id, deadline=aep.clock.time() + 600)
    )
    event = await only_event(trigger)
    assert event["status"] == "success"
    assert event["operation"]["audienceId"] in aep.emulator.audiences


async def test_operation_trigger_yields_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    aep = EmulatedAEP(monkeypatch, known_paths={"activation/known.csv"})
    spec = aep_ais.AudienceSpec(
        name="Unknown path",
        fields=[aep_ais.AudienceField(name="email", type="string", identity_ns="email")],
        source_spec=aep_ais.SourceSpec(path="activation/unknown.csv", cloud_type="DLZ"),
    )
    async with aep.client() as ais:
        operation = await ais.create_audience(spec)
    trigger = aep.wire(
        AEPOperationTrigger(operation_id=operation.operation_id, deadline=aep.clock.time() + 600)
    )
    event = await only_event(trigger)
    assert event["status"] == "failed"
    assert from_dict(aep_ais.Operation, event["operation"]).status == "FAILED"


async def test_a_hundred_triggers_in_one_triggerer_share_one_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    aep = EmulatedAEP(monkeypatch, strict_tokens=True, guardrails=False)
    audiences = [await aep.audience(f"activation/many/{i}.csv") for i in range(100)]
    runs = [await aep.started_run(audience_id) for audience_id in audiences]
    triggers = [
        aep.wire(
            AEPIngestionRunTrigger(
                audience_id=run.audience_id,
                run_id=run.run_id,
                deadline=aep.clock.time() + 3600,
                poll=POLL,
            )
        )
        for run in runs
    ]
    before = aep.emulator.tokens_issued
    events = await asyncio.gather(*(only_event(trigger) for trigger in triggers))
    assert [event["status"] for event in events] == ["success"] * len(triggers)
    assert aep.emulator.tokens_issued - before == 1
