"""The emulator's IMS token endpoint and how the API gateway treats tokens."""

from __future__ import annotations

import httpx
import pytest

from aep_ais._errors import parse_error_body
from aep_ais.testing import Emulator, FakeClock

from .conftest import BASE, HEADERS

FORM = {
    "grant_type": "client_credentials",
    "client_id": "emulator-client",
    "client_secret": "emulator-secret",
    "scope": "openid,AdobeID",
}


async def get_token(http: httpx.AsyncClient, emu: Emulator, **form: str) -> httpx.Response:
    return await http.post(emu.token_url, data={**FORM, **form})


async def call(http: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    return await http.get(
        "/external-audience/nope/runs", headers={"Authorization": f"Bearer {token}", **headers}
    )


def assert_invalid_token(answer: httpx.Response) -> None:
    assert answer.status_code == 401
    assert answer.json() == {"error_code": "401013", "message": "Oauth token is not valid"}
    assert parse_error_body(answer.json()) == ("401013", "Oauth token is not valid", None)


async def test_the_token_endpoint_issues_and_counts_tokens(
    http: httpx.AsyncClient, emu: Emulator
) -> None:
    assert emu.token_url == "https://ims-na1.adobelogin.com/ims/token/v3"
    first = await get_token(http, emu)
    second = await get_token(http, emu)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert body["access_token"] != second.json()["access_token"]
    assert emu.tokens_issued == 2
    assert emu.request_log[-1] == ("POST", "/ims/token/v3", 200)


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_id": "stranger"}, 400, "invalid_client"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
    ],
)
async def test_bad_token_requests_are_refused_and_issue_nothing(
    http: httpx.AsyncClient, emu: Emulator, form: dict[str, str], status: int, error: str
) -> None:
    answer = await get_token(http, emu, **form)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert emu.tokens_issued == 0


async def test_added_credentials_get_tokens(http: httpx.AsyncClient, emu: Emulator) -> None:
    emu.add_credential("team-b", "b-secret")
    answer = await get_token(http, emu, client_id="team-b", client_secret="b-secret")
    assert answer.status_code == 200


@pytest.mark.parametrize("strict", [False, True])
async def test_issued_tokens_expire_after_their_lifetime(clock: FakeClock, strict: bool) -> None:
    emu = Emulator(clock=clock, token_lifetime=100.0, strict_tokens=strict)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS) as http:
        token = (await get_token(http, emu)).json()["access_token"]
        assert (await get_token(http, emu)).json()["expires_in"] == 100
        clock.advance(99.9)
        assert (await call(http, token)).status_code == 404  # accepted; the id is unknown
        clock.advance(0.1)
        assert_invalid_token(await call(http, token))


async def test_a_sub_second_lifetime_is_reported_as_it_is(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, token_lifetime=0.5)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS) as http:
        assert (await get_token(http, emu)).json()["expires_in"] == 0.5


@pytest.mark.parametrize("strict", [False, True])
async def test_revoked_tokens_get_401(clock: FakeClock, strict: bool) -> None:
    emu = Emulator(clock=clock, strict_tokens=strict)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS) as http:
        token = (await get_token(http, emu)).json()["access_token"]
        emu.revoke(token)
        assert_invalid_token(await call(http, token))
        emu.revoke("made-up")
        assert_invalid_token(await call(http, "made-up"))


async def test_lenient_mode_accepts_any_bearer_token(http: httpx.AsyncClient) -> None:
    assert (await call(http, "whatever")).status_code == 404


async def test_strict_mode_accepts_only_issued_tokens_and_registered_api_keys(
    clock: FakeClock,
) -> None:
    emu = Emulator(clock=clock, strict_tokens=True)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS) as http:
        assert_invalid_token(await call(http, "whatever"))
        token = (await get_token(http, emu)).json()["access_token"]
        assert (await call(http, token)).status_code == 404
        wrong_key = await call(http, token, **{"x-api-key": "someone-else"})
        assert wrong_key.status_code == 403
        assert parse_error_body(wrong_key.json())[0] == "403003"
