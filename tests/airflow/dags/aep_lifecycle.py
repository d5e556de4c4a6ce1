"""A DAG for the tests: create an audience, ingest it, read the XComs, and a task that
"crashes" after starting its run and is retried (it must attach to that same run).

The test that runs it sets `AEP_AIS_TEST_OUT` (a folder for what the DAG reports) and the
`aep_default` connection; the emulator counts the runs that were started.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from aep_ais.airflow import AEPCreateAudienceOperator, AEPIngestionRunOperator

OUT = Path(os.environ.get("AEP_AIS_TEST_OUT", "."))
AUDIENCE_ID = "{{ ti.xcom_pull(task_ids='create')['audienceId'] }}"


class CrashAfterStart(AEPIngestionRunOperator):
    """On its first try, dies between starting the run and waiting for it."""

    def defer(self, **kwargs: Any) -> Any:
        marker = OUT / f"{self.task_id}.crashed"
        if not marker.exists():
            marker.write_text("the first try started its run, then died")
            raise RuntimeError("the worker died after starting the run")
        return super().defer(**kwargs)


with DAG(dag_id="aep_lifecycle", schedule=None, default_args={"retries": 0}):
    create = AEPCreateAudienceOperator(
        task_id="create",
        spec={
            "name": "Airflow buyers",
            "fields": [{"name": "email", "type": "string", "identityNs": "email"}],
            "sourceSpec": {"path": "activation/airflow/buyers.csv", "type": "file"},
        },
    )
    ingest = AEPIngestionRunOperator(
        task_id="ingest", audience_id=AUDIENCE_ID, data_filter_start_time=1748736000
    )
    crash = CrashAfterStart(
        task_id="crash_then_retry",
        audience_id=AUDIENCE_ID,
        data_filter_start_time="2025-06-02T00:00:00+00:00",
        retries=1,
        retry_delay=timedelta(seconds=0),
    )

    @task
    def report(**context: Any) -> None:
        ti = context["ti"]
        found = {name: ti.xcom_pull(task_ids=name) for name in ("create", "ingest", crash.task_id)}
        (OUT / "aep_lifecycle.json").write_text(json.dumps(found))

    create >> ingest >> crash >> report()
