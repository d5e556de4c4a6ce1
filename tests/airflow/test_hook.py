"""The connection type, the provider info Airflow reads, and `AEPHook`."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("airflow")

from airflow.sdk import Connection

import aep_ais
from aep_ais.airflow import AEPHook, get_provider_info
from aep_ais.testing import Emulator, FakeClock

from .conftest import connection_json

ORG = "0123456789ABCDEF01234567@AdobeOrg"
SECRET = "p4ssw0rd-0123456789"


def conn(conn_id: str = "aep_test", **fields: object) -> Connection:
    extra = fields.pop("extra", {"org_id": ORG})
    return Connection(conn_id=conn_id, conn_type="aep_ais", extra=json.dumps(extra), **fields)


def test_provider_info_passes_airflows_schema_and_names_the_hook() -> None:
    from airflow.providers_manager import _create_provider_info_schema_validator

    info = get_provider_info()
    _create_provider_info_schema_validator().validate(info)
    [conn_type] = info["connection-types"]
    assert conn_type["connection-type"] == "aep_ais"
    assert conn_type["hook-class-name"] == "aep_ais.airflow.AEPHook"
    assert set(conn_type["conn-fields"]) == {
        "org_id",
        "sandbox",
        "scopes",
        "token_url",
        "access_token",
        "api_key",
    }
    # Secrets are masked in the form.
    assert conn_type["conn-fields"]["access_token"]["schema"]["format"] == "password"


def test_airflow_discovers_the_provider_through_its_entry_point() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    # The API server's view: the connection form, without importing the hook.
    manager = ProvidersManager()
    assert "aep-ais" in manager.providers
    assert "extra__aep_ais__org_id" in manager.connection_form_widgets
    assert manager.connection_form_widgets["extra__aep_ais__access_token"].is_sensitive
    assert manager.field_behaviours["aep_ais"]["relabeling"]["login"] == "Client id"
    # The workers' view: the connection type's hook (what Connection.get_hook uses).
    hook = ProvidersManagerTaskRuntime().hooks["aep_ais"]
    assert hook is not None
    assert hook.hook_class_name == "aep_ais.airflow.AEPHook"
    assert hook.connection_id_attribute_name == "aep_conn_id"


def test_hook_builds_an_oauth_client_from_the_connection() -> None:
    hook = AEPHook("aep_test")
    ais = hook.client_for(
        conn(
            login="my-client",
            password="my-secret",
            extra={"org_id": ORG, "sandbox": "dev", "scopes": "openid,AdobeID"},
        )
    )
    assert ais.org_id == ORG and ais.sandbox == "dev"
    assert ais.base_url == aep_ais.DEFAULT_BASE_URL
    assert isinstance(ais.auth, aep_ais.OAuthServerToServer)
    assert ais.auth.client_id == "my-client" and ais.auth.scopes == "openid,AdobeID"
    assert "my-secret" not in repr(ais) + repr(ais.auth)


def test_hook_reads_host_port_prefixed_extras_and_an_access_token() -> None:
    ais = AEPHook("aep_test").client_for(
        conn(
            host="127.0.0.1",
            port=8765,
            extra={
                "extra__aep_ais__org_id": ORG,
                "access_token": "tok-0123456789",
                "api_key": "key-1",
            },
        )
    )
    assert ais.base_url == "https://127.0.0.1:8765"
    assert isinstance(ais.auth, aep_ais.StaticToken)
    http = AEPHook("aep_test").client_for(
        conn(host="http://localhost:9/ais", login="c", password="s")
    )
    assert http.base_url == "http://localhost:9/ais"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"login": "c", "password": SECRET, "extra": {}}, "extra.org_id"),
        ({"login": "c", "extra": {"org_id": ORG}}, "password"),
        ({"extra": {"org_id": ORG}}, "login"),
        (
            {"login": "c", "password": SECRET, "extra": {"org_id": ORG, "access_token": SECRET}},
            "extra.access_token",
        ),
        ({"login": "c", "password": SECRET, "host": "http://example.com"}, "host"),
        (
            {"login": "c", "password": SECRET, "extra": {"org_id": ORG, "token_url": "ftp://x"}},
            "extra.token_url",
        ),
    ],
)
def test_a_bad_connection_names_the_field_and_no_secret(
    fields: dict[str, object], named: str
) -> None:
    with pytest.raises(aep_ais.ValidationError) as caught:
        AEPHook("aep_test").client_for(conn(**fields))
    assert f"connection 'aep_test' {named}" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_clients_of_one_connection_share_one_token_provider() -> None:
    hook = AEPHook("aep_shared")
    first = hook.client_for(conn(conn_id="aep_shared", login="c", password="secret-1"))
    second = hook.client_for(conn(conn_id="aep_shared", login="c", password="secret-1"))
    rotated = hook.client_for(conn(conn_id="aep_shared", login="c", password="secret-2"))
    other = hook.client_for(conn(conn_id="aep_other", login="c", password="secret-1"))
    assert first.auth is second.auth
    assert rotated.auth is not first.auth
    assert other.auth is not first.auth


async def test_many_clients_in_one_loop_mint_one_token() -> None:
    clock = FakeClock()
    emulator = Emulator(clock=clock, strict_tokens=True)
    hook = AEPHook("aep_tokens", client_options={"clock": clock, "transport": emulator.transport()})
    connection = conn(
        conn_id="aep_tokens",
        login=emulator.client_id,
        password=emulator.client_secret,
        extra={"org_id": ORG, "token_url": emulator.token_url},
    )

    async def look() -> None:
        async with hook.client_for(connection) as ais:
            with pytest.raises(aep_ais.NotFoundError):
                await ais.get_operation("no-such-operation")

    await asyncio.gather(*(look() for _ in range(20)))
    assert emulator.tokens_issued == 1


def test_test_connection_says_ok_when_the_credentials_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = Emulator(strict_tokens=True)
    fields = {
        "login": emulator.client_id,
        "extra": {"org_id": ORG, "token_url": emulator.token_url},
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_PROBE", connection_json(password=emulator.client_secret, **fields)
    )
    options = {"transport": emulator.transport()}
    ok, message = AEPHook("aep_probe", client_options=options).test_connection()
    assert ok, message
    monkeypatch.setenv("AIRFLOW_CONN_AEP_PROBE", connection_json(password="wrong", **fields))
    ok, message = AEPHook("aep_probe", client_options=options).test_connection()
    assert not ok
    assert "TokenError" in message and "wrong" not in message
    monkeypatch.setenv("AIRFLOW_CONN_AEP_PROBE", connection_json(login="c", password=SECRET))
    ok, message = AEPHook("aep_probe", client_options=options).test_connection()
    assert not ok and "extra.org_id" in message


async def test_test_connection_works_from_inside_a_running_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = Emulator()
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_PROBE",
        connection_json(
            login=emulator.client_id,
            password=emulator.client_secret,
            extra={"org_id": ORG, "token_url": emulator.token_url},
        ),
    )
    hook = AEPHook("aep_probe", client_options={"transport": emulator.transport()})
    ok, message = hook.test_connection()
    assert ok, message


def test_the_readmes_connection_example_builds_a_client() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    found = re.search(r"export AIRFLOW_CONN_AEP_DEFAULT='(.*?)'", readme)
    assert found is not None
    fields = json.loads(found.group(1))
    assert fields.pop("conn_type") == "aep_ais"
    extra = fields.pop("extra")
    ais = AEPHook().client_for(conn("aep_default", extra=extra, **fields))
    assert isinstance(ais.auth, aep_ais.OAuthServerToServer)
    assert ais.org_id == extra["org_id"]


def test_the_provider_names_its_public_classes_from_the_package() -> None:
    import aep_ais.airflow as provider

    assert provider.__all__ == sorted(provider.__all__)
    assert sorted(dir(provider)) == provider.__all__
    for name in provider.__all__:
        thing = getattr(provider, name)
        assert thing.__module__ == "aep_ais.airflow", name
        assert thing.__doc__, name
    with pytest.raises(AttributeError):
        _ = provider.NoSuchName
