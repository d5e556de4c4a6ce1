"""No bearer token in an error's text, body or `__cause__`/`__context__` chain."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

import aep_ais
from aep_ais._auth import check_secure_url, is_loopback_host
from tests.conftest import AUDIENCE_ID, RUN_ID

TOKEN = "eyJhbGciOiJSUzI1NiJ9.tok-SECRET-0123456789abcdef.sig"


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> aep_ais.AISClient:
    return aep_ais.AISClient(
        org_id="0123456789ABCDEF01234567@AdobeOrg",
        auth=aep_ais.StaticToken(TOKEN),
        api_key="key",
        transport=httpx.MockTransport(handler),
        retry=aep_ais.RetryPolicy(max_attempts=1),
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += (current.__cause__, current.__context__)


def _fragments(secret: str) -> list[str]:
    return [secret[i : i + 8] for i in range(0, len(secret) - 7)]


def _assert_no_token(exc: BaseException) -> None:
    for err in _chain(exc):
        shown = " ".join((str(err), repr(err), repr(vars(err))))
        assert not any(f in shown for f in _fragments(TOKEN)), type(err)
        request = getattr(err, "_request", None)
        if isinstance(request, httpx.Request):
            assert TOKEN not in request.headers.get("authorization", "")


@pytest.mark.parametrize(
    "raised", [httpx.ConnectError, httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
async def test_a_connection_errors_cause_holds_no_token(raised: type[httpx.RequestError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised("no answer", request=request)

    async with _client(handler) as ais:
        with pytest.raises(aep_ais.APIConnectionError) as caught:
            await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert isinstance(caught.value.__cause__, raised)
    assert caught.value.__cause__.request.headers["authorization"] == "***"
    _assert_no_token(caught.value)


def _echo_json(request: httpx.Request) -> httpx.Response:
    sent = request.headers["authorization"]
    body = {"message": f"refused: Authorization: {sent}", "detail": sent, "echo": [sent]}
    return httpx.Response(400, json=body)


def _echo_text(request: httpx.Request) -> httpx.Response:
    # The token straddles the cut at 2000 characters: a fragment would survive a plain cut.
    text = "x" * 1975 + "Authorization: " + request.headers["authorization"] + "y" * 100
    return httpx.Response(502, text=text)


@pytest.mark.parametrize("handler", [_echo_json, _echo_text], ids=["json", "text"])
async def test_an_echoed_authorization_header_is_redacted_whole(
    handler: Callable[[httpx.Request], httpx.Response],
) -> None:
    async with _client(handler) as ais:
        with pytest.raises(aep_ais.APIError) as caught:
            await ais.get_run(AUDIENCE_ID, RUN_ID)
    _assert_no_token(caught.value)
    assert "***" in json.dumps(caught.value.body)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("[::1]", True),
        ("evil.localhost", False),
        ("localhost.evil.com", False),
        ("a.b.localhost", False),
        ("10.0.0.1", False),
    ],
)
def test_only_localhost_and_loopback_addresses_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
    url = f"http://{host}/ims/token/v3"
    if loopback:
        assert check_secure_url(url, "token_url") == url
    else:
        with pytest.raises(aep_ais.ValidationError):
            check_secure_url(url, "token_url")
