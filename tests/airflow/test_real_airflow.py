"""The provider in a real Airflow 3: `airflow dags test` runs the DAGs, deferrable tasks
and their triggers included, against the emulator served on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("airflow")

from .conftest import RealAirflow


def test_the_readme_dag_creates_and_ingests_and_a_retry_attaches_to_its_run(
    real_airflow: RealAirflow,
) -> None:
    real_airflow.check("db", "migrate")
    real_airflow.check("dags", "reserialize")
    real_airflow.check("dags", "test", "aep_spring_buyers")
    found = json.loads((real_airflow.out / "aep_lifecycle.json").read_text())
    created, ingested, retried = (
        found["create_audience"],
        found["ingest"],
        found["crash_then_retry"],
    )
    audience_id = created["audienceId"]
    assert created["status"] == "SUCCESS" and audience_id in real_airflow.emulator.audiences
    assert ingested["status"] == "SUCCESS" and ingested["audienceId"] == audience_id
    assert [stage["status"] for stage in ingested["details"]] == ["SUCCESS", "SUCCESS"]
    # The first try of the crashing task started a run and died; its retry found that run.
    assert (real_airflow.out / "crash_then_retry.crashed").exists()
    assert retried["status"] == "SUCCESS"
    assert retried["dataFilterStartTime"] == 1748822400
    runs = [r for r in real_airflow.emulator.runs.values() if r.audience_id == audience_id]
    assert sorted(r.run_id for r in runs) == sorted([ingested["runId"], retried["runId"]])
    assert real_airflow.emulator.start_attempts[audience_id] == 2


def test_the_bulk_example_maps_one_ingestion_per_audience_and_one_failure_stays_its_own(
    real_airflow: RealAirflow,
) -> None:
    ids = [*real_airflow.bulk_audiences, real_airflow.failing_audience]
    name = f"dags test aep_bulk_ingestion --conf {json.dumps({'audience_ids': ids})}"
    # One item's run fails, so the DAG run fails; the other items are not affected.
    assert real_airflow.results[name] == "exited: DagRun failed", real_airflow.results[name]
    output = real_airflow.output[name]
    assert output.count("[DAG TEST] end task task_id=ingest") == len(ids)
    emulator = real_airflow.emulator
    now = emulator.clock.now()
    for audience_id in ids:
        [run] = [r for r in emulator.runs.values() if r.audience_id == audience_id]
        expected = "FAILED" if audience_id == real_airflow.failing_audience else "SUCCESS"
        assert run.status(now) == expected, audience_id
    # The failed run is not started again: a RunFailedError is not retried.
    assert emulator.start_attempts[real_airflow.failing_audience] == 1
    assert "RunFailedError: run" in output and "PROFILE_STORE_INGEST=FAILED" in output


def test_airflows_test_connection_reaches_the_api_through_the_hook(
    real_airflow: RealAirflow,
) -> None:
    output = real_airflow.check("connections", "test", "aep_default")
    assert "Connection success!" in output
    # A wrong secret is refused by the token endpoint: the test really asks the API.
    name = "connections test aep_wrong_secret"
    assert real_airflow.results[name] == "exited: 1"
    refused = real_airflow.output[name]
    assert "Connection failed!" in refused and "TokenError" in refused
    assert "not-the-secret-0123" not in refused
