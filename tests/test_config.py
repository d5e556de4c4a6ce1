"""`AISClient.from_env` and `AISClient.from_config_file`: what is read, and what is refused."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest

import aep_ais
from aep_ais import AISClient, OAuthServerToServer, StaticToken, ValidationError
from aep_ais.testing import FakeClock

ORG_ID = "0123456789ABCDEF01234567@AdobeOrg"
CLIENT_ID = "cfg-client-id"
SECRET = "p8e-CONFIG-SECRET-77"
ACCESS_TOKEN = "eyJ-CONFIG-TOKEN-99"
IMS_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
DEFAULT_SCOPE = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
OPERATION_ID = "op-1"


class Recorder:
    """An httpx transport that answers IMS and the API and records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/ims/token/v3"):
            return httpx.Response(
                200, json={"access_token": "tok-1", "token_type": "bearer", "expires_in": 86399}
            )
        return httpx.Response(200, json={"operationId": OPERATION_ID, "status": "SUCCESS"})


def oauth_env(**extra: str) -> dict[str, str]:
    return {
        "AEP_ORG_ID": ORG_ID,
        "AEP_CLIENT_ID": CLIENT_ID,
        "AEP_CLIENT_SECRET": SECRET,
        **extra,
    }


def write(tmp_path: Path, data: Any, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# from_env ------------------------------------------------------------------------------


async def test_from_env_builds_an_oauth_client_that_sends_the_right_headers() -> None:
    recorder = Recorder()
    env = oauth_env(AEP_SANDBOX="dev", AEP_SCOPES="openid, AdobeID")
    async with AISClient.from_env(
        environ=env, transport=httpx.MockTransport(recorder), clock=FakeClock()
    ) as ais:
        op = await ais.get_operation(OPERATION_ID)
    assert op.operation_id == OPERATION_ID
    token_request, api_request = recorder.requests
    assert str(token_request.url) == IMS_URL
    assert urllib.parse.parse_qs(token_request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [SECRET],
        "scope": ["openid,AdobeID"],
    }
    assert api_request.url == (
        "https://platform.adobe.io/data/core/ais/external-audience/operations/op-1"
    )
    assert api_request.headers["authorization"] == "Bearer tok-1"
    assert api_request.headers["x-api-key"] == CLIENT_ID
    assert api_request.headers["x-gw-ims-org-id"] == ORG_ID
    assert api_request.headers["x-sandbox-name"] == "dev"


async def test_from_env_defaults() -> None:
    async with AISClient.from_env(environ=oauth_env()) as ais:
        assert ais.sandbox == "prod"
        assert ais.base_url == aep_ais.DEFAULT_BASE_URL
        assert isinstance(ais.auth, OAuthServerToServer)
        assert ais.auth.scopes == DEFAULT_SCOPE
        assert ais.auth.token_url == IMS_URL


async def test_from_env_accepts_a_positional_environ() -> None:
    async with AISClient.from_env(oauth_env(AEP_SANDBOX="qa")) as ais:
        assert ais.sandbox == "qa"


async def test_from_env_with_an_access_token_uses_it_as_is() -> None:
    recorder = Recorder()
    env = {
        "AEP_ORG_ID": ORG_ID,
        "AEP_ACCESS_TOKEN": ACCESS_TOKEN,
        "AEP_API_KEY": "key-1",
        "AEP_BASE_URL": "http://127.0.0.1:8000/ais/",
    }
    async with AISClient.from_env(environ=env, transport=httpx.MockTransport(recorder)) as ais:
        assert isinstance(ais.auth, StaticToken)
        await ais.get_operation(OPERATION_ID)
    (request,) = recorder.requests
    assert request.url == "http://127.0.0.1:8000/ais/external-audience/operations/op-1"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["x-api-key"] == "key-1"


async def test_an_access_token_with_a_client_id_takes_the_client_id_as_api_key() -> None:
    env = {"AEP_ORG_ID": ORG_ID, "AEP_ACCESS_TOKEN": ACCESS_TOKEN, "AEP_CLIENT_ID": CLIENT_ID}
    recorder = Recorder()
    async with AISClient.from_env(environ=env, transport=httpx.MockTransport(recorder)) as ais:
        await ais.get_operation(OPERATION_ID)
    assert recorder.requests[0].headers["x-api-key"] == CLIENT_ID


async def test_api_key_variable_wins_over_the_client_id() -> None:
    recorder = Recorder()
    env = oauth_env(AEP_API_KEY="other-key")
    async with AISClient.from_env(environ=env, transport=httpx.MockTransport(recorder)) as ais:
        await ais.get_operation(OPERATION_ID)
    assert recorder.requests[-1].headers["x-api-key"] == "other-key"


async def test_keyword_overrides_win_and_pass_through() -> None:
    clock = FakeClock()
    retry = aep_ais.RetryPolicy(max_attempts=1)
    poll = aep_ais.PollPolicy(timeout=5)
    own_auth = StaticToken("tok-override")
    async with AISClient.from_env(
        environ={"AEP_ORG_ID": ORG_ID, "AEP_SANDBOX": "dev"},
        sandbox="override",
        auth=own_auth,
        api_key="k",
        clock=clock,
        retry=retry,
        poll=poll,
    ) as ais:
        # With `auth` given, no credentials are needed in the environment.
        assert ais.sandbox == "override"
        assert ais.auth is own_auth
        assert ais.clock is clock
        assert ais.retry is retry
        assert ais.poll is poll


async def test_empty_variables_count_as_unset() -> None:
    env = oauth_env(AEP_SANDBOX="", AEP_ACCESS_TOKEN="  ", AEP_SCOPES="")
    async with AISClient.from_env(environ=env) as ais:
        assert ais.sandbox == "prod"
        assert isinstance(ais.auth, OAuthServerToServer)


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in oauth_env(AEP_SANDBOX="from-os").items():
        monkeypatch.setenv(name, value)
    ais = AISClient.from_env()
    assert ais.sandbox == "from-os"


@pytest.mark.parametrize(
    ("env", "field", "words"),
    [
        ({"AEP_CLIENT_ID": CLIENT_ID, "AEP_CLIENT_SECRET": SECRET}, "AEP_ORG_ID", "required"),
        ({"AEP_ORG_ID": ORG_ID}, "AEP_CLIENT_SECRET", "no credentials"),
        ({"AEP_ORG_ID": ORG_ID, "AEP_CLIENT_ID": CLIENT_ID}, "AEP_CLIENT_SECRET", "required"),
        ({"AEP_ORG_ID": ORG_ID, "AEP_CLIENT_SECRET": SECRET}, "AEP_CLIENT_ID", "required"),
        (
            {**oauth_env(), "AEP_ACCESS_TOKEN": ACCESS_TOKEN},
            "AEP_ACCESS_TOKEN",
            "both an access token and a client secret",
        ),
        ({"AEP_ORG_ID": ORG_ID, "AEP_ACCESS_TOKEN": ACCESS_TOKEN}, "AEP_API_KEY", "required"),
        (
            {
                "AEP_ORG_ID": ORG_ID,
                "AEP_ACCESS_TOKEN": ACCESS_TOKEN,
                "AEP_API_KEY": "k",
                "AEP_SCOPES": "openid",
            },
            "AEP_SCOPES",
            "only to OAuth",
        ),
        ({**oauth_env(), "AEP_SCOPES": "open id"}, "AEP_SCOPES", "single scope"),
        ({**oauth_env(), "AEP_TOKEN_URL": "http://ims.example.com/t"}, "AEP_TOKEN_URL", "http"),
        ({**oauth_env(), "AEP_BASE_URL": "http://platform.example.com"}, "base_url", "loopback"),
    ],
)
def test_missing_or_contradictory_env_settings(env: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        AISClient.from_env(environ=env)
    assert info.value.field == field
    assert words in str(info.value)
    assert SECRET not in str(info.value)
    assert ACCESS_TOKEN not in str(info.value)


# from_config_file ----------------------------------------------------------------------


async def test_config_file_in_the_layout_of_other_aep_tools(tmp_path: Path) -> None:
    # The layout other AEP Python tools write, with their JWT-era keys left in.
    path = write(
        tmp_path,
        {
            "org_id": ORG_ID,
            "client_id": CLIENT_ID,
            "secret": SECRET,
            "sandbox-name": "dev",
            "environment": "prod",
            "scopes": "openid,AdobeID,read_organizations",
            "tech_id": "TECH@techacct.adobe.com",
            "tech_account_id": "TECH@techacct.adobe.com",
            "pathToKey": "",
        },
    )
    recorder = Recorder()
    async with AISClient.from_config_file(
        path, transport=httpx.MockTransport(recorder), clock=FakeClock()
    ) as ais:
        await ais.get_operation(OPERATION_ID)
    token_request, api_request = recorder.requests
    assert urllib.parse.parse_qs(token_request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [SECRET],
        "scope": ["openid,AdobeID,read_organizations"],
    }
    assert api_request.headers["x-sandbox-name"] == "dev"
    assert api_request.headers["x-gw-ims-org-id"] == ORG_ID
    assert api_request.headers["x-api-key"] == CLIENT_ID


async def test_config_keys_are_matched_case_insensitively(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "ORG_ID": ORG_ID,
            "Client_Id": CLIENT_ID,
            "CLIENT_SECRET": SECRET,
            "Sandbox-Name": "stage-sbx",
            "Scopes": ["openid", "session"],
        },
    )
    async with AISClient.from_config_file(str(path)) as ais:
        assert ais.sandbox == "stage-sbx"
        assert isinstance(ais.auth, OAuthServerToServer)
        assert ais.auth.client_id == CLIENT_ID
        assert ais.auth.scopes == "openid,session"


async def test_config_file_with_an_access_token_and_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"org_id": ORG_ID, "access_token": ACCESS_TOKEN, "api_key": "k", "sandbox": "a"}
    )
    async with AISClient.from_config_file(path, sandbox="b") as ais:
        assert isinstance(ais.auth, StaticToken)
        assert ais.sandbox == "b"


async def test_the_same_value_under_two_keys_is_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"org_id": ORG_ID, "client_id": CLIENT_ID, "secret": SECRET, "client_secret": SECRET},
    )
    async with AISClient.from_config_file(path) as ais:
        assert isinstance(ais.auth, OAuthServerToServer)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"client_id": CLIENT_ID, "secret": SECRET}, "org_id", "required"),
        ({"org_id": ORG_ID, "client_id": CLIENT_ID}, "client_secret", "required"),
        (
            {"org_id": ORG_ID, "client_id": CLIENT_ID, "secret": SECRET, "client_secret": "x"},
            "client_secret",
            "contradicts 'secret'",
        ),
        (
            {"org_id": ORG_ID, "client_id": CLIENT_ID, "secret": SECRET, "access_token": "t"},
            "access_token",
            "both an access token and a client secret",
        ),
        (
            {"org_id": ORG_ID, "client_id": CLIENT_ID, "pathToKey": "/keys/private.key"},
            "pathToKey",
            "JWT",
        ),
        (
            {"org_id": ORG_ID, "client_id": CLIENT_ID, "secret": SECRET, "environment": "stage"},
            "environment",
            "prod",
        ),
        ({"org_id": ORG_ID, "client_id": CLIENT_ID, "secret": 12345}, "secret", "string"),
        ({"org_id": 7, "client_id": CLIENT_ID, "secret": SECRET}, "org_id", "string"),
        (
            {"org_id": ORG_ID, "client_id": CLIENT_ID, "secret": SECRET, "scopes": ["a", 1]},
            "scopes",
            "list of strings",
        ),
    ],
)
def test_bad_config_files(tmp_path: Path, data: dict[str, Any], field: str, words: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ValidationError) as info:
        AISClient.from_config_file(path)
    assert info.value.field == field
    assert words in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (f'{{"org_id": "{ORG_ID}", "secret": "{SECRET}",', "not valid JSON (line 1)"),
        ("[1, 2]", "must hold a JSON object"),
        ("", "not valid JSON"),
    ],
)
def test_unreadable_config_files(tmp_path: Path, content: str, words: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ValidationError) as info:
        AISClient.from_config_file(path)
    assert info.value.field == "config_file"
    assert words in str(info.value)
    # The file holds secrets: the error says where it broke, never what it holds.
    assert SECRET not in str(info.value)
    # Nor does it chain the JSON error, whose `doc` is the whole file.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_a_file_without_credentials_is_named_once(tmp_path: Path) -> None:
    path = write(tmp_path, {"org_id": ORG_ID})
    with pytest.raises(ValidationError) as info:
        AISClient.from_config_file(path)
    assert "no credentials" in str(info.value)
    assert str(info.value).count(path.name) == 1


def test_a_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        AISClient.from_config_file(tmp_path / "nope.json")
    assert info.value.field == "config_file"
    assert "nope.json" in str(info.value)
    assert "No such file" in str(info.value)


def test_the_settings_tables_are_public_and_read_only() -> None:
    assert aep_ais.ENV_VARS["org_id"] == "AEP_ORG_ID"
    assert aep_ais.CONFIG_FILE_KEYS["sandbox_name"] == "sandbox"
    assert "private_key" in aep_ais.CONFIG_FILE_JWT_KEYS
    with pytest.raises(TypeError):
        aep_ais.ENV_VARS["org_id"] = "X"  # type: ignore[index]
    with pytest.raises(TypeError):
        aep_ais.CONFIG_FILE_KEYS["x"] = "org_id"  # type: ignore[index]
