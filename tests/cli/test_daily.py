"""The command line as a daily tool (issue 15): token cache, settings, dry runs, traces."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from ..conftest import AUDIENCE_ID, OPERATION_ID, ORG_ID, RUN_ID
from .conftest import IMS, OPS, RUNS, Result, error_line

TOKEN_ANSWER = {"access_token": "minted-1", "token_type": "bearer", "expires_in": 86399}


@pytest.fixture
def oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    """OAuth client credentials in the environment instead of a static token."""
    monkeypatch.delenv("AEP_ACCESS_TOKEN")
    monkeypatch.delenv("AEP_API_KEY")
    monkeypatch.setenv("AEP_CLIENT_ID", "my-client")
    monkeypatch.setenv("AEP_CLIENT_SECRET", "s3cr3t-VALUE")


def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "aep-ais" / "tokens.json"


# 1. The token cache ------------------------------------------------------------------------


@pytest.mark.usefixtures("oauth")
def test_the_token_is_minted_once_and_reused_by_the_next_command(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, tmp_path: Path
) -> None:
    ims = api.post(IMS).respond(200, json=TOKEN_ANSWER)
    route = api.get(OPS).respond(200, json=sample("operation"))
    assert cli("status", OPERATION_ID).code == 0
    assert cli("status", OPERATION_ID).code == 0
    assert ims.call_count == 1
    assert route.calls[1].request.headers["authorization"] == "Bearer minted-1"
    path = cache_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert "s3cr3t-VALUE" not in text and "my-client" not in text
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]  # no temporary left


@pytest.mark.usefixtures("oauth")
def test_a_rotated_secret_is_not_served_the_old_token(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ims = api.post(IMS).respond(200, json=TOKEN_ANSWER)
    api.get(OPS).respond(200, json=sample("operation"))
    assert cli("status", OPERATION_ID).code == 0
    monkeypatch.setenv("AEP_CLIENT_SECRET", "rotated-VALUE")
    assert cli("status", OPERATION_ID).code == 0
    monkeypatch.setenv("AEP_SCOPES", "openid")
    assert cli("status", OPERATION_ID).code == 0
    assert ims.call_count == 3


@pytest.mark.usefixtures("oauth")
def test_a_token_near_its_expiry_is_not_reused(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    ims = api.post(IMS).respond(200, json={**TOKEN_ANSWER, "expires_in": 200})
    api.get(OPS).respond(200, json=sample("operation"))
    assert cli("status", OPERATION_ID).code == 0
    assert cli("status", OPERATION_ID).code == 0
    assert ims.call_count == 2  # 200 s left is inside the refresh margin


@pytest.mark.usefixtures("oauth")
def test_a_refused_token_is_dropped_from_the_cache(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, tmp_path: Path
) -> None:
    ims = api.post(IMS).mock(
        side_effect=[
            httpx.Response(200, json=TOKEN_ANSWER),
            httpx.Response(200, json={**TOKEN_ANSWER, "access_token": "minted-2"}),
        ]
    )
    api.get(OPS).mock(
        side_effect=[
            httpx.Response(200, json=sample("operation")),
            httpx.Response(
                401, json={"error_code": "401013", "message": "Oauth token is not valid"}
            ),
            httpx.Response(200, json=sample("operation")),
        ]
    )
    assert cli("status", OPERATION_ID).code == 0
    assert cli("status", OPERATION_ID).code == 0
    assert ims.call_count == 2
    assert "minted-2" in cache_file(tmp_path).read_text()
    assert "minted-1" not in cache_file(tmp_path).read_text()


@pytest.mark.usefixtures("oauth")
@pytest.mark.parametrize("off", [("--no-token-cache",), ()])
def test_the_cache_can_be_turned_off(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    off: tuple[str, ...],
) -> None:
    if not off:
        monkeypatch.setenv("AEP_NO_TOKEN_CACHE", "1")
    ims = api.post(IMS).respond(200, json=TOKEN_ANSWER)
    api.get(OPS).respond(200, json=sample("operation"))
    assert cli("status", OPERATION_ID, *off).code == 0
    assert cli("status", OPERATION_ID, *off).code == 0
    assert ims.call_count == 2
    assert not cache_file(tmp_path).exists()


def test_a_static_access_token_is_never_cached(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, tmp_path: Path
) -> None:
    api.get(OPS).respond(200, json=sample("operation"))
    assert cli("status", OPERATION_ID).code == 0
    assert not (tmp_path / "cache").exists()


@pytest.mark.usefixtures("oauth")
def test_logout_removes_the_cache(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, tmp_path: Path
) -> None:
    api.post(IMS).respond(200, json=TOKEN_ANSWER)
    api.get(OPS).respond(200, json=sample("operation"))
    assert cli("status", OPERATION_ID).code == 0
    path = cache_file(tmp_path)
    assert cli("logout").out == f"removed {path}\n"
    assert not path.exists()
    assert cli("logout") == Result(0, "no cached tokens\n", "")


@pytest.mark.usefixtures("oauth")
def test_looser_permissions_are_repaired_or_the_file_refused(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, tmp_path: Path
) -> None:
    path = cache_file(tmp_path)
    path.parent.mkdir(parents=True)
    os.chmod(path.parent, 0o755)
    path.write_text(json.dumps({"k": {"token": "planted", "expiresAt": 4e9}}))
    os.chmod(path, 0o644)
    ims = api.post(IMS).respond(200, json=TOKEN_ANSWER)
    api.get(OPS).respond(200, json=sample("operation"))
    result = cli("status", OPERATION_ID)
    assert result.code == 0
    assert ims.call_count == 1
    assert "was readable by others; removed" in result.err
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "planted" not in path.read_text()


# 2. Settings: flags > environment > file ---------------------------------------------------


def test_token_url_from_flag_env_and_file_with_one_precedence(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("AEP_ACCESS_TOKEN", "AEP_API_KEY", "AEP_SANDBOX"):
        monkeypatch.delenv(var)
    config = tmp_path / "c.json"
    config.write_text(
        json.dumps(
            {
                "org_id": ORG_ID,
                "client_id": "file-client",
                "secret": "sec",
                "ims_token_url": "https://file.example/token",
                "sandbox-name": "from-file",
            }
        )
    )
    answer = {**TOKEN_ANSWER}
    file_ims = api.post("https://file.example/token").respond(200, json=answer)
    env_ims = api.post("https://env.example/token").respond(200, json=answer)
    flag_ims = api.post("https://flag.example/token").respond(200, json=answer)
    route = api.get(OPS).respond(200, json=sample("operation"))
    base = ("--no-token-cache", "--config", str(config), "status", OPERATION_ID)
    assert cli(*base).code == 0
    assert route.calls.last.request.headers["x-sandbox-name"] == "from-file"
    monkeypatch.setenv("AEP_TOKEN_URL", "https://env.example/token")
    monkeypatch.setenv("AEP_SANDBOX", "from-env")
    assert cli(*base).code == 0
    assert route.calls.last.request.headers["x-sandbox-name"] == "from-env"
    assert cli(*base, "--token-url", "https://flag.example/token", "--sandbox", "flag").code == 0
    assert route.calls.last.request.headers["x-sandbox-name"] == "flag"
    assert (file_ims.call_count, env_ims.call_count, flag_ims.call_count) == (1, 1, 1)


def test_a_misspelled_config_key_gets_did_you_mean(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"org_id": ORG_ID, "client_secert": "TOPSECRET"}))
    result = cli("--config", str(config), "status", OPERATION_ID)
    assert result.code == 2
    assert error_line(result) == (
        f"aep-ais: bad config file: '{config}' key 'client_secert': unknown key; "
        "did you mean client_secret?"
    )


# 3. A window in the future -------------------------------------------------------------------


def test_a_future_since_or_until_is_refused_before_sending(cli: Callable[..., Result]) -> None:
    # The fake clock's wall time is 2025-06-15T15:06:40Z.
    result = cli("run", AUDIENCE_ID, "--since", "2025-06-16")
    assert result.code == 2
    assert error_line(result) == (
        "aep-ais: run: --since 2025-06-16T00:00:00Z is in the future; a run over an empty "
        "window would spend one of the audience's daily runs"
    )
    result = cli("run", AUDIENCE_ID, "--since", "2025-06-01", "--until", "2025-06-15T16:00:00Z")
    assert result.code == 2
    assert "--until 2025-06-15T16:00:00Z is in the future" in error_line(result)


def test_an_until_within_the_clock_skew_is_accepted(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.post(RUNS).respond(200, json=sample("run_started"))
    now = datetime.fromtimestamp(1_750_000_000 + 120, tz=UTC).isoformat()
    assert cli("run", AUDIENCE_ID, "--since", "2025-06-01", "--until", now).code == 0


# 4. Configuration mistakes are usage errors ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ftp://x", "'ftp://x' is not an http(s) URL"),
        ("http://platform.example", "plain http is allowed only for loopback hosts"),
    ],
)
def test_a_bad_base_url_is_exit_2_naming_the_variable(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("AEP_BASE_URL", value)
    result = cli("status", OPERATION_ID)
    assert result.code == 2
    assert error_line(result).startswith(f"aep-ais: bad setting AEP_BASE_URL: {problem}")
    result = cli("status", OPERATION_ID, "--base-url", value)
    assert result.code == 2
    assert error_line(result).startswith(
        f"aep-ais: bad setting AEP_BASE_URL (set by --base-url): {problem}"
    )


# 5. Quota refusals ------------------------------------------------------------------------------


def test_a_quota_refusal_has_its_own_status_and_says_when_it_resets(
    cli: Callable[..., Result],
) -> None:
    # Ten runs of one audience on the emulator spend its daily quota; the eleventh is
    # refused by the SDK's guardrail before sending.
    from aep_ais import QuotaExceededError
    from aep_ais._cli.errors import EXIT_QUOTA, describe, exit_code_for

    error = QuotaExceededError(
        "audience",
        limit=10,
        sandbox="prod",
        audience_id=AUDIENCE_ID,
        resets_at=datetime(2025, 6, 16, 9, 0, tzinfo=UTC),
    )
    assert exit_code_for(error) == EXIT_QUOTA == 10
    assert describe(error) == (
        f"QuotaExceededError: audience {AUDIENCE_ID} in sandbox 'prod' reached its quota of "
        "10 ingestion runs a day; resets_at 2025-06-16T09:00:00Z"
    )
    assert " 10  a daily run quota is spent" in cli("--help").out


def test_a_quota_refusal_from_the_command_exits_10(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK's guardrail refuses a start before sending it (stood in for here).
    from aep_ais import AISClient, QuotaExceededError

    async def refuse(self: AISClient, audience_id: str, **_: Any) -> None:
        raise QuotaExceededError(
            "sandbox", limit=100, sandbox="prod", resets_at=datetime(2025, 6, 16, tzinfo=UTC)
        )

    monkeypatch.setattr(AISClient, "start_run", refuse)
    result = cli("run", AUDIENCE_ID, "--since", "2025-06-01")
    assert result.code == 10
    assert error_line(result) == (
        "aep-ais: QuotaExceededError: sandbox 'prod' reached its quota of 100 ingestion runs "
        "a day; resets_at 2025-06-16T00:00:00Z"
    )


# 6. CLI-worded hints -----------------------------------------------------------------------------


def test_rate_limit_hint_names_the_flag(api: respx.MockRouter, cli: Callable[..., Result]) -> None:
    api.get(OPS).respond(429, json={"errorCode": "429050", "message": "slow down"})
    result = cli("status", OPERATION_ID, "--retries", "1")
    assert result.code == 8
    line = error_line(result)
    assert line.endswith("; slow down, or give more attempts with --retries N")
    assert "RetryPolicy" not in line


def test_both_conflicts_get_hints(
    api: respx.MockRouter, cli: Callable[..., Result], spec_file: Path
) -> None:
    problem = {
        "title": "exists",
        "status": 409,
        "type": "http://ns.adobe.com/aep/errors/100950-409",
    }
    api.post("/external-audience/").respond(409, json=problem)
    api.post(RUNS).respond(409, json={**problem, "title": "a run is in progress"})
    created = error_line(cli("create", str(spec_file)))
    assert "an audience with this name exists" in created
    started = error_line(cli("run", AUDIENCE_ID, "--since", "2025-06-01"))
    assert "--if-active wait|attach" in started
    assert "aep-ais runs AUDIENCE_ID --status PROCESSING" in started


# 7. Masking whole values only --------------------------------------------------------------------


@pytest.mark.usefixtures("oauth")
def test_a_short_secret_does_not_garble_the_message(
    api: respx.MockRouter, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEP_CLIENT_SECRET", "secret")
    api.post(IMS).respond(
        400,
        json={"error": "invalid_client", "error_description": "invalid client_secret parameter"},
    )
    result = cli("status", OPERATION_ID)
    assert result.code == 3
    assert "invalid client_secret parameter" in error_line(result)


@pytest.mark.usefixtures("oauth")
def test_a_secret_echoed_whole_is_masked(api: respx.MockRouter, cli: Callable[..., Result]) -> None:
    api.post(IMS).respond(
        400, json={"error": "invalid_client", "error_description": "bad secret s3cr3t-VALUE"}
    )
    line = error_line(cli("status", OPERATION_ID))
    assert "s3cr3t-VALUE" not in line
    assert "bad secret ***" in line


# 9. validate and --dry-run ---------------------------------------------------------------------


def test_validate_checks_files_offline(
    cli: Callable[..., Result], spec_file: Path, tmp_path: Path, sample: Any
) -> None:
    assert cli("validate", str(spec_file)) == Result(
        0, f"{spec_file}: ok ({sample('create_request')['name']})\n", ""
    )
    bad = tmp_path / "bad.json"
    body = sample("create_request")
    body["ttlInDays"] = 400
    bad.write_text(json.dumps(body))
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({**sample("create_request"), "lables": []}))
    result = cli("validate", str(spec_file), str(bad), str(typo))
    assert result.code == 2
    assert result.out == f"{spec_file}: ok ({body['name']})\n"
    assert result.err.splitlines() == [
        f"aep-ais: spec file {bad}: ttlInDays: must be a whole number of days from 1 to 90, "
        "got 400",
        f"aep-ais: spec file {typo}: lables: unknown key; did you mean labels?",
    ]


def test_create_dry_run_sends_nothing(
    api: respx.MockRouter, cli: Callable[..., Result], spec_file: Path, sample: Any
) -> None:
    result = cli("create", str(spec_file), "--dry-run")
    assert result == Result(
        0, f"{spec_file}: ok ({sample('create_request')['name']}); nothing sent\n", ""
    )


# 10. --debug -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("oauth")
def test_debug_traces_requests_without_secrets(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.post(IMS).respond(200, json=TOKEN_ANSWER)
    api.get(OPS).respond(200, json=sample("operation"), headers={"x-request-id": "req-7"})
    result = cli("status", OPERATION_ID, "--debug", "--no-token-cache")
    assert result.code == 0
    trace = [line for line in result.err.splitlines() if line.startswith("aep-ais debug: ")]
    assert f"aep-ais debug: token requested from {IMS}" in trace
    assert "aep-ais debug: API at https://platform.adobe.io/data/core/ais" in trace
    assert any(
        line.startswith(f"aep-ais debug: GET {OPS} -> 200 (attempt 1, ")
        and line.endswith(" ms, request id req-7)")
        for line in trace
    )
    assert "minted-1" not in result.err and "s3cr3t-VALUE" not in result.err
    assert "answered" not in result.err  # no bodies without --debug-bodies
    result = cli("status", OPERATION_ID, "--debug", "--debug-bodies", "--no-token-cache")
    assert 'answered {"operationId":' in result.err
    assert "minted-1" not in result.err


def test_without_debug_nothing_is_traced(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).respond(200, json=sample("operation"))
    assert cli("status", OPERATION_ID).err == ""


def test_retry_decisions_are_traced(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=sample("operation"))]
    )
    result = cli("status", OPERATION_ID, "--debug")
    assert result.code == 0
    assert any("retrying in" in line for line in result.err.splitlines())


_ = RUN_ID
