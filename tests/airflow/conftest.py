"""Fixtures for the Airflow provider's tests, and the guard that they really run in CI.

These tests need the `airflow` extra (the `test` extra pulls it in). Without Airflow each
module skips itself; with `AEP_AIS_REQUIRE_AIRFLOW=1` (set by `.ci/run`) a missing Airflow
is a collection error and any skipped test here fails the run instead.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRED = os.environ.get("AEP_AIS_REQUIRE_AIRFLOW") == "1"

if "AIRFLOW_HOME" not in os.environ:
    # Importing Airflow writes config and log folders into AIRFLOW_HOME (~/airflow by
    # default): keep them out of the user's home.
    _home = tempfile.mkdtemp(prefix="aep-ais-airflow-")
    os.environ["AIRFLOW_HOME"] = _home
    atexit.register(shutil.rmtree, _home, ignore_errors=True)

if REQUIRED:
    import airflow  # noqa: F401 - CI must fail here, not skip, when Airflow is missing


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if REQUIRED and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped, but AEP_AIS_REQUIRE_AIRFLOW=1: {report.longrepr}"


def connection_json(**fields: Any) -> str:
    """An `AIRFLOW_CONN_*` value (Airflow's JSON form) for an `aep_ais` connection."""
    return json.dumps({"conn_type": "aep_ais", **fields})
