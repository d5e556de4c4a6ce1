"""The README's Airflow DAG, as the tests run it, with two tasks added: one that "crashes"
after starting its run and is retried (it must attach to that same run), and one that
writes the XComs it reads to `AEP_AIS_TEST_OUT` for the test to check.

The test sets `AEP_AIS_README` (the README to take the DAG from), `AEP_AIS_TEST_OUT` and
the `aep_default` connection; the emulator counts the runs that were started.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import task

from aep_ais.airflow import AEPIngestionRunOperator

OUT = Path(os.environ.get("AEP_AIS_TEST_OUT", "."))
README = Path(os.environ.get("AEP_AIS_README", "README.md"))

_code = re.search(r"\n## Airflow\n.*?```python\n(.*?)```", README.read_text(), flags=re.S)
assert _code is not None, "the README's Airflow section has no DAG"
_readme: dict[str, Any] = {}
exec(compile(_code.group(1), str(README), "exec"), _readme)
dag = _readme["ingest"].dag


class CrashAfterStart(AEPIngestionRunOperator):
    """On its first try, dies between starting the run and waiting for it."""

    def defer(self, **kwargs: Any) -> Any:
        marker = OUT / f"{self.task_id}.crashed"
        if not marker.exists():
            marker.write_text("the first try started its run, then died")
            raise RuntimeError("the worker died after starting the run")
        return super().defer(**kwargs)


with dag:
    crash = CrashAfterStart(
        task_id="crash_then_retry",
        audience_id="{{ ti.xcom_pull(task_ids='create_audience')['audienceId'] }}",
        data_filter_start_time="2025-06-02T00:00:00+00:00",
        retries=1,
        retry_delay=timedelta(seconds=0),
    )

    @task
    def report(**context: Any) -> None:
        ti = context["ti"]
        names = ("create_audience", "ingest", crash.task_id)
        found = {name: ti.xcom_pull(task_ids=name) for name in names}
        (OUT / "aep_lifecycle.json").write_text(json.dumps(found))

    _readme["ingest"] >> crash >> report()
