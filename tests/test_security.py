"""Safety: where tokens may go, TLS, hostile IDs, oversized answers, the user's own
`httpx.AsyncClient`, and a scripted session that must never show a secret or a token.
"""

from __future__ import annotations

import gzip
import inspect
import logging
import ssl
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

import aep_ais
from aep_ais import (
    AISClient,
    AuthContext,
    OAuthServerToServer,
    ResponseTooLargeError,
    StaticToken,
    ValidationError,
)
from aep_ais.testing import FakeClock

BASE_URL = "https://platform.adobe.io/data/core/ais"
IMS_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
ORG_ID = "0123456789ABCDEF01234567@AdobeOrg"
CLIENT_ID = "sec-client-id"
SECRET = "p8e-SESSION-SECRET-31337"
OPERATION = {"operationId": "op-1", "status": "PROCESSING"}
RUN = {"runId": "run-1", "audienceId": "aud-1", "status": "QUEUED"}


def issued(token: str) -> dict[str, Any]:
    return {"access_token": token, "token_type": "bearer", "expires_in": 86399}


class Recording(httpx.AsyncBaseTransport):
    """A transport that answers with `handler` and remembers whether it was closed."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    async def aclose(self) -> None:
        self.closed = True


def answer_operation(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=OPERATION)


def make_client(**kwargs: Any) -> AISClient:
    kwargs.setdefault("auth", StaticToken("tok-static"))
    kwargs.setdefault("api_key", "key")
    return AISClient(org_id=ORG_ID, clock=FakeClock(), **kwargs)


# Where a token may go ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://platform.adobe.io/data/core/ais",
        "http://10.0.0.1/ais",
        "http://localhost.example.com/ais",
        "http://127.0.0.1.nip.io/ais",
        "ftp://platform.adobe.io/ais",
        "platform.adobe.io/ais",
    ],
)
def test_base_url_must_be_https_unless_loopback(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_client(base_url=url)
    assert info.value.field == "base_url"


@pytest.mark.parametrize(
    "url", ["http://localhost:8000/ais", "http://127.0.0.1:8000", "http://[::1]:8000/x"]
)
async def test_plain_http_is_fine_for_loopback(url: str) -> None:
    recording = Recording(answer_operation)
    async with make_client(base_url=url, transport=recording) as ais:
        await ais.get_operation("op-1")
    assert str(recording.requests[0].url).startswith(url.rstrip("/") + "/external-audience/")


async def test_a_custom_provider_cannot_post_a_form_over_plain_http() -> None:
    recording = Recording(answer_operation)

    class Leaky:
        client_id = "leaky"

        async def get_token(self, ctx: AuthContext) -> str:
            await ctx.post_form("http://ims.example.com/token", {"client_secret": SECRET})
            return "never"

        def invalidate(self, token: str) -> None:
            return None

    async with make_client(auth=Leaky(), transport=recording) as ais:
        with pytest.raises(ValidationError) as info:
            await ais.get_operation("op-1")
    assert info.value.field == "token_url"
    assert recording.requests == []


def test_tls_verification_cannot_be_switched_off_through_the_sdk() -> None:
    for factory in (AISClient, AISClient.from_env, AISClient.from_config_file):
        assert "verify" not in inspect.signature(factory).parameters
    with pytest.raises(TypeError):
        make_client(verify=False)


async def test_the_sdks_own_http_client_verifies_certificates_and_hostnames() -> None:
    async with make_client() as ais:
        # httpx internals, pinned by this test on purpose: the SDK must not loosen them.
        context: ssl.SSLContext = ais._transport._http._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True


# The user's own httpx client -----------------------------------------------------------


async def test_the_users_http_client_is_used_and_left_open() -> None:
    hooked: list[str] = []

    async def hook(request: httpx.Request) -> None:
        hooked.append(f"{request.method} {request.url.path}")

    recording = Recording(answer_operation)
    own = httpx.AsyncClient(transport=recording, event_hooks={"request": [hook]})
    async with make_client(http_client=own) as ais:
        await ais.get_operation("op-1")
    assert hooked == ["GET /data/core/ais/external-audience/operations/op-1"]
    assert not own.is_closed
    assert not recording.closed
    # Still usable by its owner after the SDK client is gone.
    response = await own.get("https://example.com/")
    assert response.status_code == 200
    await own.aclose()
    assert recording.closed


async def test_the_sdk_closes_what_it_opened() -> None:
    recording = Recording(answer_operation)
    async with make_client(transport=recording) as ais:
        await ais.get_operation("op-1")
        assert not recording.closed
    assert recording.closed


def test_http_client_and_transport_are_exclusive() -> None:
    with pytest.raises(ValidationError) as info:
        make_client(http_client=httpx.AsyncClient(), transport=Recording(answer_operation))
    assert info.value.field == "transport"


# Hostile IDs ---------------------------------------------------------------------------

HOSTILE_IDS = [
    "",
    ".",
    "..",
    "../x",
    "a/../b",
    "a/b",
    "/abs",
    "a\\b",
    "%2F",
    "a%2Fb",
    "%2e%2e",
    "?x=1",
    "a?b",
    "#",
    "a#frag",
    "a b",
    " a",
    "a\n",
    "a\r\nX-Evil: 1",
    "a\x00",
    "a\t",
    "ä",
    "a\u202eb",
    "a\uff0fb",  # fullwidth solidus
    "a\u2024\u2024b",  # one dot leader twice: looks like ".."
    "-leading-dash",
    "_x",
    "x" * 257,
]


def id_calls(bad: str) -> list[Callable[[AISClient], Any]]:
    update = aep_ais.AudienceUpdate(description="d")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        lambda ais: ais.get_operation(bad),
        lambda ais: ais.update_audience(bad, update),
        lambda ais: ais.delete_audience(bad),
        lambda ais: ais.extend_ttl(bad),
        lambda ais: ais.start_run(bad, data_filter_start_time=start),
        lambda ais: ais.get_run(bad, "run-1"),
        lambda ais: ais.get_run("aud-1", bad),
        lambda ais: ais.list_runs(bad),
    ]


@pytest.mark.parametrize("bad", HOSTILE_IDS)
async def test_hostile_ids_are_refused_before_anything_is_sent(bad: str) -> None:
    recording = Recording(answer_operation)
    async with make_client(transport=recording) as ais:
        for call in id_calls(bad):
            with pytest.raises(ValidationError) as info:
                await call(ais)
            assert info.value.field in ("audience_id", "operation_id", "run_id")
            assert "\n" not in str(info.value) and "\r" not in str(info.value)
    assert recording.requests == []


@pytest.mark.parametrize("bad", [None, 42, b"aud-1", ["aud-1"]])
async def test_ids_that_are_not_strings_are_refused(bad: Any) -> None:
    recording = Recording(answer_operation)
    async with make_client(transport=recording) as ais:
        with pytest.raises(ValidationError):
            await ais.get_run(bad, "run-1")
    assert recording.requests == []


@pytest.mark.parametrize(
    "good", ["60ccea95-1435-4180-97a5-58af4aa285ab", "A1", "a.b", "a:b@c~d", "run_1"]
)
async def test_plain_ids_address_exactly_their_resource(good: str) -> None:
    recording = Recording(lambda r: httpx.Response(200, json=RUN))
    async with make_client(transport=recording) as ais:
        await ais.get_run(good, good)
    (request,) = recording.requests
    assert request.url.raw_path == (f"/data/core/ais/external-audience/{good}/runs/{good}".encode())


# Oversized answers ---------------------------------------------------------------------


def stream_of(chunk: bytes, count: int, pulled: list[int]) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(count):
            pulled.append(len(chunk))
            yield chunk

    return chunks()


async def test_a_declared_oversized_answer_is_refused_without_reading_it() -> None:
    pulled: list[int] = []
    big = 16 * 1024 * 1024 + 1

    class Unread(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            pulled.append(1)
            yield b"x"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-length": str(big)}, stream=Unread())

    recording = Recording(handler)
    async with make_client(transport=recording) as ais:  # the default bound: 16 MiB
        with pytest.raises(ResponseTooLargeError) as info:
            await ais.get_operation("op-1")
    assert info.value.limit == 16 * 1024 * 1024
    assert info.value.status_code == 200
    assert pulled == []
    assert len(recording.requests) == 1  # not retried


async def test_an_undeclared_oversized_stream_is_cut_off_at_the_bound() -> None:
    pulled: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=stream_of(b"x" * 100, 1000, pulled))

    async with make_client(transport=Recording(handler), max_response_bytes=1000) as ais:
        with pytest.raises(ResponseTooLargeError) as info:
            await ais.get_operation("op-1")
    assert sum(pulled) == 1100  # stopped right after passing 1000 bytes
    message = str(info.value)
    assert "larger than 1000 bytes" in message
    assert "GET /external-audience/operations/op-1" in message
    assert "max_response_bytes" in message
    assert info.value.server_may_have_acted


async def test_an_answer_exactly_at_the_bound_is_read() -> None:
    body = b'{"operationId":"op-1"}'
    body += b" " * (1000 - len(body))
    async with make_client(
        transport=Recording(lambda r: httpx.Response(200, content=body)), max_response_bytes=1000
    ) as ais:
        op = await ais.get_operation("op-1")
    assert op.operation_id == "op-1"


async def test_a_compressed_answer_is_bounded_by_its_decoded_size() -> None:
    bomb = gzip.compress(b'{"operationId":"op-1"}' + b" " * 50_000)
    assert len(bomb) < 1000

    pulled: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=stream_of(bomb, 1, pulled), headers={"content-encoding": "gzip"}
        )

    async with make_client(transport=Recording(handler), max_response_bytes=1000) as ais:
        with pytest.raises(ResponseTooLargeError):
            await ais.get_operation("op-1")


async def test_an_oversized_error_answer_is_refused_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, content=b"x" * 5000)

    async with make_client(transport=Recording(handler), max_response_bytes=1000) as ais:
        with pytest.raises(ResponseTooLargeError) as info:
            await ais.get_operation("op-1")
    assert info.value.status_code == 404
    assert not info.value.server_may_have_acted


async def test_an_undecodable_compressed_answer_is_a_malformed_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        pulled: list[int] = []
        return httpx.Response(
            200, content=stream_of(b"not gzip", 1, pulled), headers={"content-encoding": "gzip"}
        )

    async with make_client(transport=Recording(handler)) as ais:
        with pytest.raises(aep_ais.MalformedResponseError):
            await ais.get_operation("op-1")


async def test_an_oversized_token_answer_is_a_token_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b" " * 2000)

    auth = OAuthServerToServer(CLIENT_ID, SECRET)
    async with make_client(auth=auth, transport=Recording(handler), max_response_bytes=1000) as ais:
        with pytest.raises(aep_ais.TokenError) as info:
            await ais.get_operation("op-1")
    assert "larger than 1000 bytes" in str(info.value)


@pytest.mark.parametrize("bound", [0, -1, True, 1.5, "big", 2**41])
def test_max_response_bytes_must_be_a_sane_whole_number(bound: Any) -> None:
    with pytest.raises(ValidationError) as info:
        make_client(max_response_bytes=bound)
    assert info.value.field == "max_response_bytes"


async def test_a_deeply_nested_error_body_still_gives_an_api_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=b"[" * 200_000)

    async with make_client(transport=Recording(handler)) as ais:
        with pytest.raises(aep_ais.BadRequestError):
            await ais.get_operation("op-1")


# Nothing secret anywhere ---------------------------------------------------------------


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True) as router:
        yield router


def everything_shown(error: BaseException) -> str:
    """Every text a user might see of an error: message, repr, traceback with causes."""
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    parts += [repr(v) for v in vars(error).values()]
    return "\n".join(parts)


async def test_a_session_with_failures_never_shows_a_secret_or_a_token(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's included
    tokens = [f"tok-ISSUED-{i}-abcdef" for i in range(4)]
    mock.post(IMS_URL).mock(
        side_effect=[
            *[httpx.Response(500, text="IMS is down")] * 3,  # tried three times
            httpx.Response(
                400,
                json={"error": "invalid_client", "error_description": f"bad secret {SECRET}"},
            ),
            *[httpx.ReadTimeout("slow")] * 3,
            *(httpx.Response(200, json=issued(t)) for t in tokens),
        ]
    )
    expired = {"error_code": "401013", "message": "Oauth token is not valid"}
    mock.get(f"{BASE_URL}/external-audience/operations/op-1").mock(
        side_effect=[httpx.Response(401, json=expired), httpx.Response(200, json=OPERATION)]
    )
    mock.get(f"{BASE_URL}/external-audience/aud-1/runs/run-1").mock(
        side_effect=[httpx.Response(500, json={"message": "boom"})] * 3
    )
    mock.delete(f"{BASE_URL}/external-audience/aud-1").mock(
        side_effect=[httpx.Response(401, json=expired)] * 2
    )
    mock.patch(f"{BASE_URL}/external-audience/aud-1").respond(
        404, json={"type": "http://ns.adobe.com/aep/errors/100940-404", "title": "Not found"}
    )
    mock.post(f"{BASE_URL}/external-audience/aud-1/runs").mock(
        side_effect=httpx.ConnectError("refused")
    )
    auth = OAuthServerToServer(CLIENT_ID, SECRET)
    errors: list[BaseException] = []

    async def expect(call: Any, error: type[BaseException]) -> None:
        with pytest.raises(error) as info:
            await call
        errors.append(info.value)

    async with AISClient(
        org_id=ORG_ID, auth=auth, clock=FakeClock(), retry=aep_ais.RetryPolicy(max_attempts=3)
    ) as ais:
        for _ in range(3):  # IMS fails three ways (5xx and timeouts after retries)
            await expect(ais.get_operation("op-1"), aep_ais.TokenError)
        assert (await ais.get_operation("op-1")).operation_id == "op-1"  # 401, refresh, 200
        await expect(ais.get_run("aud-1", "run-1"), aep_ais.InternalServerError)
        await expect(ais.delete_audience("aud-1"), aep_ais.AuthenticationError)
        await expect(ais.get_run("../aud-1", "run-1"), ValidationError)
        await expect(ais.update_audience("aud-1", aep_ais.AudienceUpdate()), ValidationError)
        await expect(
            ais.update_audience("aud-1", aep_ais.AudienceUpdate(description="x")),
            aep_ais.NotFoundError,
        )
        await expect(
            ais.start_run("aud-1", data_filter_start_time=1_700_000_000),
            aep_ais.APIConnectionError,
        )
        shown = [repr(ais), str(ais), repr(auth), str(auth), repr(vars(auth))]
    shown += [everything_shown(e) for e in errors]
    for record in caplog.records:
        shown.append(record.getMessage())
        if record.exc_info:
            shown.append("".join(traceback.format_exception(*record.exc_info)))
    text = "\n".join(shown)

    for secret in (SECRET, *tokens):
        assert secret not in text
    assert "Bearer " not in text
    assert "client_secret=" not in text.replace("client_secret=***", "")
    # The logs did record the session (so the check above is not vacuous).
    logged = [r.getMessage() for r in caplog.records if r.name == "aep_ais"]
    assert "token issued (expires in 86399 s)" in logged
    assert any(
        m.startswith("GET /external-audience/operations/op-1 -> 401 (attempt 1,") for m in logged
    )
    assert any(
        m.startswith("GET /external-audience/aud-1/runs/run-1 -> 500 (attempt 3,") for m in logged
    )
    assert any(
        m.startswith("POST /external-audience/aud-1/runs -> no answer: APIConnectionError")
        for m in logged
    )
    assert len(errors) == 9
