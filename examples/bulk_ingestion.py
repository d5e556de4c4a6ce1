"""Ingest many external audiences at once: one mapped task per audience id.

Trigger it with the ids as the run's conf, for example
`airflow dags trigger aep_bulk_ingestion -c '{"audience_ids": ["60cc…", "7a1b…"]}'`.

Dynamic task mapping (`.expand`) spreads the runs over Airflow's workers, and each mapped
task defers its wait to the triggerer, so thousands of runs hold no worker slot while
they last. Each item is on its own: a run that fails, or a start the platform refuses
because a daily quota is spent, fails only that item. `max_active_tis_per_dag` bounds how
many start at once; the SDK's guardrails still count the runs each process starts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from aep_ais.airflow import AEPIngestionRunOperator

with DAG(
    dag_id="aep_bulk_ingestion",
    schedule=None,
    params={
        "audience_ids": Param([], type="array", description="External audience ids"),
        "since": Param(
            "2025-06-01T00:00:00+00:00",
            type="string",
            description="Ingest the files added since this moment (ISO 8601)",
        ),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["aep"],
):

    @task
    def audience_ids(**context: Any) -> list[str]:
        """The ids to ingest, from the run's conf."""
        return [str(audience_id) for audience_id in context["params"]["audience_ids"]]

    AEPIngestionRunOperator.partial(
        task_id="ingest",
        data_filter_start_time="{{ params.since }}",
        if_active="wait",
        max_active_tis_per_dag=50,
        map_index_template="{{ task.audience_id }}",
    ).expand(audience_id=audience_ids())
