"""The `aep-ais` command line: parsing, output, waits, errors and exit statuses, the demo.

Commands run through `main([...])` against the mocked API (respx) or the in-process
emulator, on a `FakeClock`, so waits take no real time.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import respx

from aep_ais.cli import main
from aep_ais.testing import FakeClock

from .conftest import API_KEY, AUDIENCE_ID, OPERATION_ID, ORG_ID, RUN_ID, SANDBOX, TOKEN

OPS = f"/external-audience/operations/{OPERATION_ID}"
RUNS = f"/external-audience/{AUDIENCE_ID}/runs"
RUN = f"{RUNS}/{RUN_ID}"
IMS = "https://ims-na1.adobelogin.com/ims/token/v3"


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A static-token environment; no AEP_* setting of the machine leaks in."""
    for var in (
        "AEP_ORG_ID",
        "AEP_SANDBOX",
        "AEP_CLIENT_ID",
        "AEP_CLIENT_SECRET",
        "AEP_SCOPES",
        "AEP_ACCESS_TOKEN",
        "AEP_API_KEY",
        "AEP_BASE_URL",
        "AEP_TOKEN_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AEP_ORG_ID", ORG_ID)
    monkeypatch.setenv("AEP_SANDBOX", SANDBOX)
    monkeypatch.setenv("AEP_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("AEP_API_KEY", API_KEY)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], clock: FakeClock) -> Callable[..., Result]:
    """`cli(*args)`: run `aep-ais` on the fake clock and capture what it printed."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args), clock=clock)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def pretend_stderr_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the captured stderr claim to be a terminal (call it inside the test body:
    capsys swaps its streams between fixture setup and the test), 120 columns wide."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "120")


@pytest.fixture
def spec_file(tmp_path: Path, sample: Callable[[str], Any]) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(sample("create_request")), "utf-8")
    return path


def error_line(result: Result) -> str:
    """The one line of stderr, checked to be a single line without a traceback."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    assert lines[0].startswith("aep-ais: ")
    return lines[0]


# Parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-05-01", datetime(2025, 5, 1, tzinfo=UTC)),
        ("2025-05-01T12:30:00Z", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
        ("2025-05-01T12:30:00", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
        ("2025-05-01T14:30:00+02:00", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
        ("1746102600", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
        ("1746102600.0", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_dates_accept_iso_8601_and_epoch_seconds(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, text: str, expected: datetime
) -> None:
    route = api.post(RUNS).respond(200, json=sample("run_started"))
    result = cli("run", AUDIENCE_ID, "--since", text)
    assert result.code == 0, result.err
    sent = json.loads(route.calls.last.request.content)
    assert sent == {"dataFilterStartTime": int(expected.timestamp())}


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "nan", "1e400"])
def test_bad_dates_are_usage_errors(cli: Callable[..., Result], text: str) -> None:
    result = cli("run", AUDIENCE_ID, "--since", text)
    assert result.code == 2
    assert "--since" in result.err
    assert "Traceback" not in result.err


def test_help_lists_commands_and_the_exit_status_table(cli: Callable[..., Result]) -> None:
    result = cli("--help")
    assert result.code == 0
    for command in ("create", "status", "update", "delete", "extend-ttl", "run", "runs"):
        assert command in result.out
    for row in ("2  bad usage", "3  credentials", "4  no such", "7  a --wait", "8  platform"):
        assert row in result.out
    assert "AEP_CLIENT_SECRET" in result.out


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["status"],
        ["run", AUDIENCE_ID],
        ["runs", AUDIENCE_ID, "--limit", "0"],
        ["runs", AUDIENCE_ID, "--sort-by", "size"],
        ["update", AUDIENCE_ID, "--field-label", "nolabel"],
        ["emulator"],
        ["status", OPERATION_ID, "--wait-timeout", "-1"],
    ],
)
def test_usage_errors_exit_2(cli: Callable[..., Result], args: list[str]) -> None:
    result = cli(*args)
    assert result.code == 2
    assert result.out == ""
    assert "Traceback" not in result.err


def test_global_options_go_before_or_after_the_command(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).respond(200, json=sample("operation"))
    before = cli("--json", "status", OPERATION_ID)
    after = cli("status", OPERATION_ID, "--json")
    assert before.code == after.code == 0
    assert before.json == after.json == sample("operation")


# Each command, human and JSON ----------------------------------------------------------------


def test_create_sends_the_spec_file_and_prints_the_operation(
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
    import io

    route = api.post("/external-audience/").respond(202, json=sample("create_response"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(sample("create_request"))))
    result = cli("create", "-", "--json")
    assert result.code == 0, result.err
    assert json.loads(route.calls.last.request.content)["name"] == "Sample external audience"


def test_status_prints_the_operation(
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
    # Every attribute is in the JSON; what the API left out is null (or an empty list).
    assert cli("run", AUDIENCE_ID, "--since", "0", "--json").json == {
        **sample("run_started"),
        "status": None,
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


# Waiting ------------------------------------------------------------------------------------


def _operation(sample: Any, status: str) -> dict[str, Any]:
    body = sample("operation")
    body["status"] = status
    if status == "PROCESSING":
        del body["audienceId"]
    return dict(body)


def test_status_wait_prints_plain_lines_when_stderr_is_not_a_terminal(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, clock: FakeClock
) -> None:
    api.get(OPS).mock(
        side_effect=[
            httpx.Response(200, json=_operation(sample, "PROCESSING")),
            httpx.Response(200, json=_operation(sample, "PROCESSING")),
            httpx.Response(200, json=_operation(sample, "SUCCESS")),
        ]
    )
    result = cli("status", OPERATION_ID, "--wait")
    assert result.code == 0, result.err
    # Default policy, jitter draw 0.5: sleeps of 1.0 s and 1.2 s between the three polls.
    assert clock.sleeps == [1.0, 1.2]
    assert result.err.splitlines() == [
        f"operation {OPERATION_ID}: PROCESSING, 0.0s, 1 poll",
        f"operation {OPERATION_ID}: PROCESSING, 1.0s, 2 polls",
        f"operation {OPERATION_ID}: SUCCESS, 2.2s, 3 polls",
    ]
    assert "\r" not in result.err
    assert f"audience id  {AUDIENCE_ID}" in result.out


def test_status_wait_rewrites_one_line_on_a_terminal(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_stderr_is_a_terminal(monkeypatch)
    api.get(OPS).mock(
        side_effect=[
            httpx.Response(200, json=_operation(sample, "PROCESSING")),
            httpx.Response(200, json=_operation(sample, "SUCCESS")),
        ]
    )
    result = cli("status", OPERATION_ID, "--wait")
    assert result.code == 0, result.err
    first = f"operation {OPERATION_ID}: PROCESSING, 0.0s, 1 poll"
    second = f"operation {OPERATION_ID}: SUCCESS, 1.0s, 2 polls"
    # The second line is shorter: spaces cover what is left of the first one.
    pad = " " * (len(first) - len(second))
    assert result.err == f"\r{first}\r{second}{pad}\n"


def test_the_live_line_is_cut_to_the_terminal_width(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_stderr_is_a_terminal(monkeypatch)
    monkeypatch.setenv("COLUMNS", "46")
    api.get(RUN).respond(200, json=sample("run"))
    result = cli("run-status", AUDIENCE_ID, RUN_ID, "--wait")
    assert result.code == 0
    assert result.err == f"\rrun {RUN_ID}: SU…\n"  # 45 characters


def test_a_failure_ends_the_live_line_before_the_error(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_stderr_is_a_terminal(monkeypatch)
    api.get(OPS).respond(200, json=_operation(sample, "FAILED"))
    result = cli("status", OPERATION_ID, "--wait")
    assert result.code == 6
    assert result.err.startswith(f"\roperation {OPERATION_ID}: FAILED, 0.0s, 1 poll\n")
    assert result.err.split("\n")[1].startswith("aep-ais: OperationFailedError:")


class InterruptingClock(FakeClock):
    """A clock whose first sleep is interrupted, as by Ctrl-C."""

    async def sleep(self, seconds: float) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_while_waiting_exits_130_and_ends_the_line(
    api: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_stderr_is_a_terminal(monkeypatch)
    api.get(OPS).respond(200, json=_operation(sample, "PROCESSING"))
    assert main(["status", OPERATION_ID, "--wait"], clock=InterruptingClock()) == 130
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"\roperation {OPERATION_ID}: PROCESSING, 0.0s, 1 poll\naep-ais: interrupted\n")


def test_json_output_is_clean_while_waiting(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).mock(
        side_effect=[
            httpx.Response(200, json=_operation(sample, "PROCESSING")),
            httpx.Response(200, json=_operation(sample, "SUCCESS")),
        ]
    )
    result = cli("status", OPERATION_ID, "--wait", "--json")
    assert result.json == sample("operation")
    assert len(result.err.splitlines()) == 2


def test_create_wait_polls_until_the_audience_exists(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, spec_file: Path
) -> None:
    api.post("/external-audience/").respond(202, json=sample("create_response"))
    api.get(OPS).mock(
        side_effect=[
            httpx.Response(200, json=_operation(sample, "PROCESSING")),
            httpx.Response(200, json=_operation(sample, "SUCCESS")),
        ]
    )
    result = cli("create", str(spec_file), "--wait", "--json")
    assert result.code == 0, result.err
    assert result.json["audienceId"] == AUDIENCE_ID
    assert result.err.splitlines()[-1].startswith("creating 'Sample external audience': SUCCESS")


def test_failed_run_exits_6_and_still_prints_its_last_state(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    failed = sample("run")
    failed["status"] = "FAILED"
    failed["details"][1]["status"] = "FAILED"
    api.get(RUN).respond(200, json=failed)
    result = cli("run-status", AUDIENCE_ID, RUN_ID, "--wait", "--json")
    assert result.code == 6
    assert result.json == failed
    lines = result.err.splitlines()
    assert lines[0] == f"run {RUN_ID}: FAILED, 0.0s, 1 poll [DATASET SUCCESS, PROFILE_STORE FAILED]"
    assert lines[1] == (
        f"aep-ais: RunFailedError: run {RUN_ID} of audience {AUDIENCE_ID} failed "
        "(DATASET_INGEST=SUCCESS, PROFILE_STORE_INGEST=FAILED)"
    )


def test_failed_operation_exits_6(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).respond(200, json=_operation(sample, "FAILED"))
    result = cli("status", OPERATION_ID, "--wait")
    assert result.code == 6
    assert "status       FAILED" in result.out
    assert result.err.splitlines()[-1].startswith(
        f"aep-ais: OperationFailedError: operation {OPERATION_ID} failed"
    )


def test_wait_timeout_exits_7_with_a_resume_command(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, clock: FakeClock
) -> None:
    route = api.get(OPS).respond(200, json=_operation(sample, "PROCESSING"))
    result = cli("status", OPERATION_ID, "--wait", "--wait-timeout", "3")
    assert result.code == 7
    assert result.err.splitlines()[-1] == (
        f"aep-ais: WaitTimeoutError: operation {OPERATION_ID} still PROCESSING after 3s; "
        f"resume with `aep-ais status {OPERATION_ID} --wait`"
    )
    assert clock.now() <= 3.0
    assert route.call_count == 3  # at 0, 1.0 and 2.2 s; the next would pass the deadline

    run_route = api.get(RUN).respond(200, json={**sample("run"), "status": "QUEUED"})
    result = cli("run-status", AUDIENCE_ID, RUN_ID, "--wait", "--wait-timeout", "0.5")
    assert result.code == 7
    assert f"resume with `aep-ais run-status {AUDIENCE_ID} {RUN_ID} --wait`" in result.err
    assert run_route.call_count == 1


# Errors -------------------------------------------------------------------------------------


def _problem(code: str, status: int) -> dict[str, Any]:
    return {
        "type": f"http://ns.adobe.com/aep/errors/{code}",
        "title": "problem",
        "status": status,
        "detail": "the platform says no",
    }


@pytest.mark.parametrize(
    ("status", "body", "exit_code", "name", "code"),
    [
        (400, _problem("100910-400", 400), 2, "BadRequestError", "100910-400"),
        (401, {"error_code": "401013", "message": "Oauth token is not valid"}, 3,
         "AuthenticationError", "401013"),
        (403, {"error_code": "403025", "message": "not entitled"}, 3,
         "PermissionDeniedError", "403025"),
        (404, _problem("100940-404", 404), 4, "NotFoundError", "100940-404"),
        (409, _problem("100950-409", 409), 5, "ConflictError", "100950-409"),
        (422, _problem("100960-422", 422), 2, "UnprocessableEntityError", "100960-422"),
        (429, {"errorCode": "429050", "message": "slow down"}, 8, "RateLimitError", "429050"),
        (500, {"errorMessage": "boom"}, 8, "InternalServerError", None),
        (503, _problem("100970-503", 503), 8, "ServiceUnavailableError", "100970-503"),
    ],
)  # fmt: skip
def test_api_errors_map_to_exit_statuses(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    status: int,
    body: Any,
    exit_code: int,
    name: str,
    code: str | None,
) -> None:
    api.get(OPS).respond(status, json=body)
    result = cli("status", OPERATION_ID)
    assert result.code == exit_code
    assert result.out == ""
    line = error_line(result)
    assert line.startswith(f"aep-ais: {name}: GET /external-audience/operations/")
    assert f"HTTP {status}" in line
    if code:
        assert code in line
    assert TOKEN not in result.err


def test_connection_failure_exits_8(api: respx.MockRouter, cli: Callable[..., Result]) -> None:
    api.get(OPS).mock(side_effect=httpx.ConnectError("refused"))
    result = cli("status", OPERATION_ID)
    assert result.code == 8
    assert error_line(result).startswith("aep-ais: APIConnectionError: GET ")


def test_malformed_answer_exits_8(api: respx.MockRouter, cli: Callable[..., Result]) -> None:
    api.get(OPS).respond(200, text="<html>gateway</html>")
    result = cli("status", OPERATION_ID)
    assert result.code == 8
    assert error_line(result).startswith("aep-ais: MalformedResponseError:")


def test_bad_ids_are_refused_before_sending(cli: Callable[..., Result]) -> None:
    result = cli("delete", "../other")
    assert result.code == 2
    assert "audience_id" in error_line(result)


def test_missing_credentials_exit_3(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AEP_ACCESS_TOKEN")
    result = cli("status", OPERATION_ID)
    assert result.code == 3
    line = error_line(result)
    assert "no usable credentials" in line
    assert "--emulator" in line


def test_token_endpoint_refusal_exits_3_without_the_secret(
    api: respx.MockRouter, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AEP_ACCESS_TOKEN")
    monkeypatch.delenv("AEP_API_KEY")
    monkeypatch.setenv("AEP_CLIENT_ID", "my-client")
    monkeypatch.setenv("AEP_CLIENT_SECRET", "s3cr3t-VALUE")
    ims = api.post(IMS).respond(400, json={"error": "invalid_client"})
    result = cli("status", OPERATION_ID)
    assert ims.call_count == 1
    assert result.code == 3
    assert error_line(result).startswith("aep-ais: TokenError:")
    assert "s3cr3t-VALUE" not in result.err


def test_client_id_flag_pairs_with_the_secret_in_the_environment(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    sample: Any,
) -> None:
    monkeypatch.delenv("AEP_ACCESS_TOKEN")
    monkeypatch.delenv("AEP_API_KEY")
    monkeypatch.setenv("AEP_CLIENT_SECRET", "s3cr3t-VALUE")
    ims = api.post(IMS).respond(
        200, json={"access_token": "minted", "token_type": "bearer", "expires_in": 86399}
    )
    route = api.get(OPS).respond(200, json=sample("operation"))
    result = cli("status", OPERATION_ID, "--client-id", "flag-client", "--sandbox", "other")
    assert result.code == 0, result.err
    assert b"client_id=flag-client" in ims.calls.last.request.content
    sent = route.calls.last.request.headers
    assert sent["x-api-key"] == "flag-client"
    assert sent["x-sandbox-name"] == "other"
    assert sent["authorization"] == "Bearer minted"


def test_config_file_supplies_credentials(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    sample: Any,
    tmp_path: Path,
) -> None:
    for var in ("AEP_ORG_ID", "AEP_SANDBOX", "AEP_ACCESS_TOKEN", "AEP_API_KEY"):
        monkeypatch.delenv(var)
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {"org_id": ORG_ID, "client_id": "file-client", "secret": "sec", "sandbox-name": "x"}
        )
    )
    api.post(IMS).respond(
        200, json={"access_token": "from-file", "token_type": "bearer", "expires_in": 86399}
    )
    route = api.get(OPS).respond(200, json=sample("operation"))
    result = cli("--config", str(config), "status", OPERATION_ID)
    assert result.code == 0, result.err
    headers = route.calls.last.request.headers
    assert headers["x-gw-ims-org-id"] == ORG_ID
    assert headers["x-sandbox-name"] == "x"
    assert headers["authorization"] == "Bearer from-file"


@pytest.mark.parametrize(
    ("content", "exit_code", "message"),
    [
        ("{not json", 2, "bad config file: '{path}' is not valid JSON (line 1)"),
        ("[]", 2, "bad config file: '{path}' must hold a JSON object"),
        (
            '{"org_id": "ORG"}',
            3,
            "no usable credentials (client_secret: no credentials in '{path}'",
        ),
        (
            '{"client_id": "c", "secret": "TOPSECRET"}',
            3,
            "no usable credentials (org_id: is required but not set in '{path}'",
        ),
    ],
)
def test_bad_config_file_is_named(
    cli: Callable[..., Result], tmp_path: Path, content: str, exit_code: int, message: str
) -> None:
    config = tmp_path / "c.json"
    config.write_text(content.replace("ORG", ORG_ID))
    result = cli("--config", str(config), "status", OPERATION_ID)
    assert result.code == exit_code
    line = error_line(result)
    assert line.startswith("aep-ais: " + message.format(path=config))
    assert "TOPSECRET" not in line


def test_missing_config_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("--config", str(tmp_path / "nope.json"), "status", OPERATION_ID)
    assert result.code == 2
    line = error_line(result)
    assert "bad config file" in line
    assert "nope.json" in line


_SHAPE = "not an audience create body: "
_SOURCE = '"sourceSpec": {"path": "a.csv"}'


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON (Expecting property name enclosed in double quotes at line 1"),
        ("[1, 2]", "expected a JSON object, got an array"),
        ('"text"', "expected a JSON object, got a string"),
        ("{}", _SHAPE + "missing key 'name'"),
        # snake_case keys are not the API's body: the camelCase key is missing.
        ('{"name": "x", "fields": [], "source_spec": {"path": "a"}}', _SHAPE + "missing key "),
        ('{"name": "x", "fields": 3, ' + _SOURCE + "}", _SHAPE + "fields: expected a list"),
        ('{"name": ["x"], "fields": [], ' + _SOURCE + "}", _SHAPE + "name: expected a string"),
        (
            '{"name": "x", "fields": [{"name": "a"}, 7], ' + _SOURCE + "}",
            _SHAPE + "fields[1]: expected an object, got a number",
        ),
        (
            '{"name": "x", "fields": [{"type": "string"}], ' + _SOURCE + "}",
            _SHAPE + "fields[0]: missing key 'name'",
        ),
        (
            '{"name": "x", "fields": [], "sourceSpec": "a"}',
            _SHAPE + "sourceSpec: expected an object",
        ),
        (
            '{"name": "x", "fields": [], "sourceSpec": {"params": {"type": "file"}}}',
            _SHAPE + "sourceSpec: missing key 'path'",
        ),
        (
            '{"name": "x", "fields": [], "ttlInDays": "soon", ' + _SOURCE + "}",
            _SHAPE + "ttlInDays: expected an integer, got 'soon'",
        ),
    ],
)
def test_bad_spec_files_are_named(
    cli: Callable[..., Result], tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, "utf-8")
    result = cli("create", str(path))
    assert result.code == 2
    line = error_line(result)
    assert line.startswith(f"aep-ais: spec file {path}: ")
    assert problem in line


def test_spec_file_that_is_not_text(cli: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00")
    result = cli("create", str(path))
    assert result.code == 2
    assert error_line(result) == f"aep-ais: spec file {path}: not UTF-8 text"


def test_missing_spec_file_and_directory(cli: Callable[..., Result], tmp_path: Path) -> None:
    missing = cli("create", str(tmp_path / "nope.json"))
    assert missing.code == 2
    assert error_line(missing) == f"aep-ais: spec file {tmp_path / 'nope.json'}: not found"
    directory = cli("create", str(tmp_path))
    assert directory.code == 2
    assert error_line(directory).endswith("is a directory")


def test_spec_breaking_a_rule_is_refused_before_sending(
    cli: Callable[..., Result], tmp_path: Path, sample: Any
) -> None:
    body = sample("create_request")
    body["fields"][0].pop("identityNs")
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(body))
    result = cli("create", str(path))
    assert result.code == 2
    assert error_line(result).startswith("aep-ais: ValidationError: fields")


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aep_ais", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: aep-ais")


# On the emulator ------------------------------------------------------------------------------


def test_emulator_flag_creates_and_waits_without_credentials(
    cli: Callable[..., Result], spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AEP_ORG_ID", "AEP_ACCESS_TOKEN", "AEP_API_KEY"):
        monkeypatch.delenv(var)
    result = cli("--emulator", "create", str(spec_file), "--wait", "--json")
    assert result.code == 0, result.err
    assert result.json["status"] == "SUCCESS"
    assert result.json["audienceId"]
    # The emulator finishes an operation after 1 s; the wait sleeps 1.0 s before its poll.
    assert result.err.splitlines() == [
        "creating 'Sample external audience': SUCCESS, 1.0s, 1 poll",
    ]


def test_emulator_flag_keeps_no_state_between_invocations(cli: Callable[..., Result]) -> None:
    result = cli("--emulator", "run", AUDIENCE_ID, "--since", "2025-05-01", "--wait")
    assert result.code == 4
    assert "100940-404" in error_line(result)


def test_run_wait_if_active_raise_exits_5(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    active = {**sample("run"), "status": "PROCESSING"}
    listing = api.get(RUNS).respond(200, json={"runs": [active]})
    result = cli("run", AUDIENCE_ID, "--since", "0", "--wait", "--if-active", "raise")
    assert listing.called
    assert result.code == 5
    line = error_line(result)
    assert line.startswith("aep-ais: RunInProgressError:")
    assert RUN_ID in line


def test_run_wait_if_active_attach_reports_the_active_run(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    active = {**sample("run"), "status": "PROCESSING"}
    api.get(RUNS).respond(200, json={"runs": [active]})
    api.get(RUN).respond(200, json=sample("run"))
    result = cli("run", AUDIENCE_ID, "--since", "0", "--wait", "--if-active", "attach", "--json")
    assert result.code == 0, result.err
    assert result.json == sample("run")
    assert result.err == (
        f"run of audience {AUDIENCE_ID}: SUCCESS, 0.0s, 1 poll "
        "[DATASET SUCCESS, PROFILE_STORE SUCCESS]\n"
    )


def test_demo_runs_the_whole_life_cycle(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AEP_ORG_ID", "AEP_ACCESS_TOKEN", "AEP_API_KEY"):
        monkeypatch.delenv(var)
    clock = FakeClock()
    assert main(["demo"], clock=clock) == 0
    out, err = capsys.readouterr()
    steps = [line for line in out.splitlines() if line.startswith("[")]
    assert steps == [
        "[1/6] create the audience 'Demo spring buyers' and wait for it",
        "[2/6] ingest the files of the last 7 days (since 2025-06-08) and wait",
        "[3/6] list the audience's ingestion runs",
        "[4/6] update the description and keep the data 45 days",
        "[5/6] extend the data expiration",
        "[6/6] delete the audience",
    ]
    lines = [line.strip() for line in out.splitlines()]
    assert lines.count("status        SUCCESS") == 1  # the run
    assert "status       SUCCESS" in lines  # the operation
    assert "ttl days     45" in lines
    assert "(1 of 1)" in lines
    assert any(line.startswith("deleted ") for line in lines)
    # 1 s to create and 1.5 s to ingest, polled every 0.25 s, on virtual time.
    assert lines[-1].startswith("done in 2.5s.")
    progress = err.splitlines()
    assert progress[0] == "  creating: PROCESSING, 0.2s, 1 poll"
    assert progress[3] == "  creating: SUCCESS, 1.0s, 4 polls"
    assert progress[-1] == (
        "  ingesting: SUCCESS, 1.5s, 6 polls [DATASET SUCCESS, PROFILE_STORE SUCCESS]"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_emulator_server_keeps_state_across_invocations(
    cli: Callable[..., Result], spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("uvicorn")
    port = _free_port()
    command = [sys.executable, "-m", "aep_ais", "emulator", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--operation-time", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            _drive_served_emulator(server, port, cli, spec_file, monkeypatch)
        finally:
            # Leaving the `with` waits for the process and closes its pipe.
            server.terminate()


def _drive_served_emulator(
    server: subprocess.Popen[str],
    port: int,
    cli: Callable[..., Result],
    spec_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert server.stderr is not None
    banner = [server.stderr.readline() for _ in range(6)]
    exports = dict(line.strip().removeprefix("export ").split("=", 1) for line in banner[1:])
    assert exports["AEP_BASE_URL"] == f"http://127.0.0.1:{port}"
    assert exports["AEP_TOKEN_URL"] == f"http://127.0.0.1:{port}/ims/token/v3"
    for var in ("AEP_ACCESS_TOKEN", "AEP_API_KEY", "AEP_SANDBOX"):
        monkeypatch.delenv(var)
    for var, value in exports.items():
        monkeypatch.setenv(var, value)
    _wait_until_listening(server, port)

    created = cli("create", str(spec_file), "--json")
    assert created.code == 0, created.err
    op_id = created.json["operationId"]
    # A second invocation sees the first one's operation: the server keeps state.
    status = cli("status", op_id, "--json")
    assert status.code == 0, status.err
    assert status.json["status"] == "SUCCESS"
    again = cli("create", str(spec_file))
    assert again.code == 5
    assert "100950-409" in error_line(again)


def _wait_until_listening(server: subprocess.Popen[str], port: int) -> None:
    # uvicorn says so on stderr once its socket listens; EOF means the server died.
    assert server.stderr is not None
    for line in server.stderr:
        if f"running on http://127.0.0.1:{port}" in line:
            return
    raise AssertionError(f"the emulator server ended early (exit {server.wait()})")


def test_emulator_server_without_uvicorn_says_what_to_install(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` fail
    result = cli("emulator", "--port", "8765")
    assert result.code == 1
    assert error_line(result) == (
        "aep-ais: the emulator server needs uvicorn: pip install 'aep-ais[serve]'"
    )


class ClosedPipe(io.StringIO):
    """A stdout whose reader has gone away, as with `aep-ais runs ... | head -1`."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_pipe_ends_quietly_with_141(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["demo"], clock=FakeClock()) == 141
    assert capsys.readouterr().err == ""
