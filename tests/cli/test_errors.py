"""Errors: exit statuses, one-line messages, credentials and spec files."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from ..conftest import OPERATION_ID, ORG_ID, TOKEN
from .conftest import (
    IMS,
    OPS,
    Result,
    error_line,
)


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
    # The message names the host the client could not reach (from its base URL).
    assert error_line(result).startswith(
        "aep-ais: APIConnectionError: could not reach platform.adobe.io: GET "
    )


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
            "no usable credentials (AEP_CLIENT_SECRET: no credentials:",
        ),
        (
            '{"client_id": "c", "secret": "TOPSECRET"}',
            3,
            "no usable credentials (AEP_ORG_ID: is required but not set)",
        ),
    ],
)
def test_bad_config_file_is_named(
    cli: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str,
    exit_code: int,
    message: str,
) -> None:
    for var in ("AEP_ORG_ID", "AEP_ACCESS_TOKEN", "AEP_API_KEY"):
        monkeypatch.delenv(var)
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
        (
            '{"name": "x", "fields": 3, ' + _SOURCE + "}",
            _SHAPE + "fields: expected an array, got a number",
        ),
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
            '{"name": "x", "fields": [], "sourceSpec": {"params": {"path": "a", '
            '"encryption": "k"}}}',
            _SHAPE + "sourceSpec.params.encryption: expected an object, got a string",
        ),
        (
            '{"name": "x", "fields": [], "sourceSpec": {"path": "a", "encryption": [1]}}',
            _SHAPE + "sourceSpec.encryption: expected an object, got an array",
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


def test_spec_file_with_a_number_too_long_for_python(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    # `json.loads` refuses an int of more than 4300 digits with a plain ValueError.
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x", "ttlInDays": ' + "9" * 5000 + "}", "utf-8")
    result = cli("create", str(path))
    assert result.code == 2
    assert error_line(result) == (
        f"aep-ais: spec file {path}: not JSON (a number of more than 4300 digits)"
    )


def test_a_long_unknown_key_of_a_spec_file_is_cut_short(
    cli: Callable[..., Result], tmp_path: Path, sample: Any
) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**sample("create_request"), "k" * 5000: 1}))
    result = cli("create", str(path))
    assert result.code == 2
    assert error_line(result) == f"aep-ais: spec file {path}: {'k' * 40}...: unknown key"


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
    assert error_line(result) == (
        f"aep-ais: spec file {path}: fields: at least one field must carry identity_ns "
        "(an identity field), found none"
    )


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


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"ttlIndays": 30}, "ttlIndays: unknown key; did you mean ttlInDays?"),
        ({"descripton": "x"}, "descripton: unknown key; did you mean description?"),
        ({"ttl_in_days": 30}, "ttl_in_days: unknown key; did you mean ttlInDays?"),
        ({"colour": "red"}, "colour: unknown key"),
    ],
)
def test_unknown_top_level_keys_of_a_spec_file_are_errors(
    cli: Callable[..., Result],
    tmp_path: Path,
    sample: Any,
    change: dict[str, Any],
    problem: str,
) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**sample("create_request"), **change}))
    result = cli("create", str(path))  # no route: a request would fail the test
    assert result.code == 2
    assert error_line(result) == f"aep-ais: spec file {path}: {problem}"


def _nested(body: dict[str, Any], where: str) -> None:
    if where == "field":
        body["fields"][0]["lables"] = ["core/C2"]
    elif where == "params":
        body["sourceSpec"]["params"]["cloud_tpye"] = "S3"
    elif where == "beside params":
        body["sourceSpec"]["path"] = "a.csv"
    elif where == "flat source":
        body["sourceSpec"] = {"path": "a.csv", "tpye": "file"}
    elif where == "encryption":
        enc = {"publicKeyId": "k", "signVerificationId": "s", "publicKey": "x"}
        body["sourceSpec"]["params"]["encryption"] = enc
    elif where == "encryption beside params":
        body["sourceSpec"]["encryption"] = {"publicKeyId": "k"}
    elif where == "encryption at the top":
        body["encryption"] = {"publicKeyId": "k"}
    elif where == "express activation":
        body["expressActivaton"] = True


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("field", "fields[0].lables: unknown key; did you mean labels?"),
        ("params", "sourceSpec.params.cloud_tpye: unknown key; did you mean cloudType?"),
        ("beside params", "sourceSpec.path: unknown key beside params; move it into params"),
        ("flat source", "sourceSpec.tpye: unknown key; did you mean type?"),
        (
            "encryption",
            "sourceSpec.params.encryption.publicKey: unknown key; did you mean publicKeyId?",
        ),
        (
            "encryption beside params",
            "sourceSpec.encryption: unknown key beside params; move it into params",
        ),
        (
            # Older revisions had it here: the file is refused with where it goes now.
            "encryption at the top",
            "encryption: belongs in sourceSpec.params since the API's newest revision; "
            "move it there",
        ),
        ("express activation", "expressActivaton: unknown key; did you mean expressActivation?"),
    ],
)
def test_unknown_nested_keys_of_a_spec_file_are_named_by_their_path(
    cli: Callable[..., Result], tmp_path: Path, sample: Any, where: str, problem: str
) -> None:
    body = sample("create_request")
    _nested(body, where)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(body))
    result = cli("create", str(path))
    assert result.code == 2
    assert error_line(result) == f"aep-ais: spec file {path}: {problem}"


def test_every_known_key_and_form_of_a_spec_file_is_accepted(
    api: respx.MockRouter, cli: Callable[..., Result], tmp_path: Path, sample: Any
) -> None:
    route = api.post("/external-audience/").respond(202, json=sample("create_response"))
    body = sample("create_request")
    # The flat sourceSpec and the encryption key's other spelling are both accepted.
    body["sourceSpec"] = body["sourceSpec"]["params"]
    body["sourceSpec"]["encryption"] = {"publicKeyId": "k", "signVerificationId": "s"}
    extra = (("customAudienceId", "c_1"), ("tags", ["t"]), ("namespace", "ns"))
    for key, value in (*extra, ("expressActivation", True)):
        body[key] = value
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(body))
    result = cli("create", str(path))
    assert result.code == 0, result.err
    sent = json.loads(route.calls.last.request.content)
    encryption = {"publicKeyId": "k", "signVerificationKeyId": "s"}
    assert sent["sourceSpec"] == {"params": {**body["sourceSpec"], "encryption": encryption}}
    assert "encryption" not in sent
    assert sent["expressActivation"] is True
    assert sent["customAudienceId"] == "c_1"
