"""Each command of `aep-ais`, in human and JSON output."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import respx

from ..conftest import AUDIENCE_ID, OPERATION_ID, RUN_ID, SANDBOX, TOKEN
from .conftest import (
    OPS,
    RUN,
    RUNS,
    Result,
    error_line,
)


def test_create_sends_the_spec_file_and_prints_theoperation_json(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, spec_file: Path
) -> None:
    route = api.post("/external-audience/").respond(202, json=sample("create_response"))
    result = cli("create", str(spec_file))
    assert result.code == 0, result.err
    # The file is the API's own body; it goes out as the SDK writes it (ttlInDays an int).
    assert json.loads(route.calls.last.request.content) == {
        **sample("create_request"),
        "ttlInDays": 40,
    }
    assert route.calls.last.request.headers["x-sandbox-name"] == SANDBOX
    assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"
    assert result.out.splitlines() == [
        f"operation  {OPERATION_ID}",
        "audience   Sample external audience",
    ]
    assert f"aep-ais status {OPERATION_ID} --wait" in result.err

    as_json = cli("create", str(spec_file), "--json")
    assert as_json.json["operationId"] == OPERATION_ID
    assert as_json.json["operationDetails"]["sourceSpec"]["params"]["path"] == (
        "activation/sample-source/example.csv"
    )
    assert as_json.err == ""


def test_create_reads_the_spec_from_stdin(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    route = api.post("/external-audience/").respond(202, json=sample("create_response"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(sample("create_request"))))
    result = cli("create", "-", "--json")
    assert result.code == 0, result.err
    assert json.loads(route.calls.last.request.content)["name"] == "Sample external audience"


def test_status_prints_theoperation_json(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).respond(200, json=sample("operation"))
    result = cli("status", OPERATION_ID)
    assert result.code == 0
    assert result.out.splitlines() == [
        f"operation    {OPERATION_ID}",
        "status       SUCCESS",
        f"audience id  {AUDIENCE_ID}",
        "audience     Sample external audience",
        "created      2025-06-07T19:24:08Z",
        "updated      2025-06-11T06:44:33Z",
    ]
    assert cli("status", OPERATION_ID, "--json").json == sample("operation")


def test_update_sends_only_what_was_given(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    route = api.patch(f"/external-audience/{AUDIENCE_ID}").respond(200, json=sample("audience"))
    result = cli(
        "update",
        AUDIENCE_ID,
        "--description",
        "New sample description",
        "--ttl-days",
        "45",
        "--label",
        "core/C1",
        "--label",
        "core/C2",
        "--field-label",
        "list_id=core/C3",
        "--field-label",
        "list_id=custom/deep",
    )
    assert result.code == 0, result.err
    assert json.loads(route.calls.last.request.content) == {
        "description": "New sample description",
        "ttlInDays": 45,
        "labels": ["core/C1", "core/C2"],
        "fields": [{"name": "list_id", "labels": ["core/C3", "custom/deep"]}],
    }
    lines = result.out.splitlines()
    assert lines[:4] == [
        f"audience id  {AUDIENCE_ID}",
        "name         Sample external audience",
        "description  New sample description",
        "ttl days     40",
    ]
    assert "field        ppid (string) identity Email" in lines

    only_ttl = cli("update", AUDIENCE_ID, "--ttl-days", "7", "--json")
    assert json.loads(route.calls.last.request.content) == {"ttlInDays": 7}
    assert only_ttl.json["audienceId"] == AUDIENCE_ID


def test_update_with_nothing_to_change_is_a_usage_error(cli: Callable[..., Result]) -> None:
    result = cli("update", AUDIENCE_ID)
    assert result.code == 2
    assert "nothing to change" in error_line(result)


def test_update_ttl_out_of_range_is_caught_before_sending(cli: Callable[..., Result]) -> None:
    result = cli("update", AUDIENCE_ID, "--ttl-days", "91")
    assert result.code == 2
    assert "ttl" in error_line(result).lower()


def test_delete(api: respx.MockRouter, cli: Callable[..., Result]) -> None:
    route = api.delete(f"/external-audience/{AUDIENCE_ID}").respond(204)
    assert cli("delete", AUDIENCE_ID).out == f"deleted audience {AUDIENCE_ID}\n"
    assert cli("delete", AUDIENCE_ID, "--json").json == {
        "audienceId": AUDIENCE_ID,
        "deleted": True,
    }
    assert route.call_count == 2


def test_extend_ttl(api: respx.MockRouter, cli: Callable[..., Result], sample: Any) -> None:
    route = api.post(f"/external-audience/extend-ttl/{AUDIENCE_ID}").respond(
        200, json=sample("ttl_extension")
    )
    result = cli("extend-ttl", AUDIENCE_ID)
    assert result.out.splitlines() == [
        f"extended  {AUDIENCE_ID}",
        "name      Sample external audience",
    ]
    assert cli("extend-ttl", AUDIENCE_ID, "--json").json == sample("ttl_extension")
    assert route.calls.last.request.content == b""


def test_run_starts_a_run(api: respx.MockRouter, cli: Callable[..., Result], sample: Any) -> None:
    route = api.post(RUNS).respond(200, json=sample("run_started"))
    result = cli("run", AUDIENCE_ID, "--since", "2025-05-01", "--until", "1746144000")
    assert result.code == 0, result.err
    assert json.loads(route.calls.last.request.content) == {
        "dataFilterStartTime": 1746057600,
        "dataFilterEndTime": 1746144000,
    }
    assert result.out.splitlines()[:2] == [
        f"run           {RUN_ID}",
        f"audience id   {AUDIENCE_ID}",
    ]
    assert f"aep-ais run-status {AUDIENCE_ID} {RUN_ID} --wait" in result.err
    # The API's own answer: what it left out is not made up as null.
    assert cli("run", AUDIENCE_ID, "--since", "0", "--json").json == {
        **sample("run_started"),
        "details": [],
    }


def test_run_if_active_needs_wait(cli: Callable[..., Result]) -> None:
    result = cli("run", AUDIENCE_ID, "--since", "0", "--if-active", "raise")
    assert result.code == 2
    assert "--if-active needs --wait" in error_line(result)


def test_run_until_before_since_is_caught_before_sending(cli: Callable[..., Result]) -> None:
    result = cli("run", AUDIENCE_ID, "--since", "2025-05-02", "--until", "2025-05-01")
    assert result.code == 2
    assert error_line(result).startswith("aep-ais: ValidationError:")


def test_runs_lists_with_filters(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    route = api.get(RUNS).respond(200, json={**sample("runs"), "_page": sample("page")})
    result = cli(
        "runs",
        AUDIENCE_ID,
        "--limit",
        "5",
        "--sort-by=-createdAt",
        "--status",
        "SUCCESS",
        "--property",
        "name!=x",
    )
    assert result.code == 0, result.err
    params = route.calls.last.request.url.params
    assert params["limit"] == "5"
    assert params["sortBy"] == "-createdAt"
    assert params.get_list("property") == ["name!=x", "status=SUCCESS"]
    lines = result.out.splitlines()
    assert lines[0].split() == ["RUN", "ID", "STATUS", "CREATED", "FILES", "FROM", "FILES", "UNTIL"]
    assert lines[1].split()[:3] == [RUN_ID, "SUCCESS", "2026-08-02T13:55:09Z"]
    assert lines[-1] == "(2 of 2)"
    as_json = cli("runs", AUDIENCE_ID, "--json").json
    assert [r["runId"] for r in as_json["runs"]] == [
        RUN_ID,
        "406e38e4-fbd5-43e1-8d0c-01ccb3f9ad10",
    ]
    assert as_json["_page"] == sample("page")


def test_runs_filters_by_name_and_creation_time(
    api: respx.MockRouter, cli: Callable[..., Result]
) -> None:
    route = api.get(RUNS).respond(200, json={"runs": []})
    result = cli(
        "runs",
        AUDIENCE_ID,
        "--name",
        "nightly",
        "--created-after",
        "2025-05-01",
        "--created-before",
        "1746144000",
    )
    assert result.code == 0, result.err
    assert route.calls.last.request.url.params.get_list("property") == [
        "name=nightly",
        "createdAt>=1746057600",
        "createdAt<=1746144000",
    ]


def test_runs_with_no_runs(api: respx.MockRouter, cli: Callable[..., Result]) -> None:
    api.get(RUNS).respond(200, json={"runs": []})
    assert cli("runs", AUDIENCE_ID).out == "no runs\n"
    assert cli("runs", AUDIENCE_ID, "--json").json == {"runs": []}


def test_run_status_shows_stages(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(RUN).respond(200, json=sample("run"))
    result = cli("run-status", AUDIENCE_ID, RUN_ID)
    assert result.code == 0
    assert result.out.splitlines() == [
        f"run           {RUN_ID}",
        f"audience id   {AUDIENCE_ID}",
        "status        SUCCESS",
        "files from    1994-03-21T10:27:15Z",
        "files until   2079-07-17T03:02:48Z",
        "differential  True",
        "created       2025-06-07T19:24:08Z",
        "stages",
        "  DATASET_INGEST        SUCCESS (flow run {FLOW_RUN_ID})",
        "  PROFILE_STORE_INGEST  SUCCESS (flow run {FLOW_RUN_ID})",
    ]
    assert cli("run-status", AUDIENCE_ID, RUN_ID, "--json").json == sample("run")
