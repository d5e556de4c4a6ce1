"""`OAuthServerToServer`: the token request, caching, expiry, single-flight refresh, errors.

The first half drives the provider directly through a fake `AuthContext` (a recording
form poster); the second half drives it through `AISClient` against respx, where the
401 refresh-and-retry and the concurrency guarantees matter.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx

import aep_ais
from aep_ais import AuthContext, OAuthServerToServer, TokenError, ValidationError
from aep_ais._auth import FormResponse
from aep_ais.testing import FakeClock

BASE_URL = "https://platform.adobe.io/data/core/ais"
IMS_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
CLIENT_ID = "my-client-id"
SECRET = "p8e-SECRET-do-not-leak-42"
ORG_ID = "0123456789ABCDEF01234567@AdobeOrg"
OPERATION_ID = "df8cd82f-a214-4b72-b549-d6ee23f1ff1a"
OPERATION = {"operationId": OPERATION_ID, "status": "PROCESSING"}
DEFAULT_SCOPE = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"


def issued(token: str, expires_in: Any = 86399) -> dict[str, Any]:
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in}


class FakeIMS:
    """A recording `post_form`: answers from a script, optionally yielding first."""

    def __init__(self, *answers: FormResponse | Exception, yields: int = 0) -> None:
        self.answers = list(answers)
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.yields = yields

    async def __call__(self, url: str, form: Mapping[str, str]) -> FormResponse:
        self.forms.append((url, dict(form)))
        for _ in range(self.yields):
            await anyio.lowlevel.checkpoint()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(token: str, expires_in: Any = 86399) -> FormResponse:
    import json

    return FormResponse(200, json.dumps(issued(token, expires_in)).encode())


def refusal(status: int, body: bytes) -> FormResponse:
    return FormResponse(status, body)


def provider(**kwargs: Any) -> OAuthServerToServer:
    return OAuthServerToServer(CLIENT_ID, SECRET, **kwargs)


# Construction -------------------------------------------------------------------------


def test_repr_and_str_never_show_the_secret() -> None:
    auth = provider()
    for text in (repr(auth), str(auth), repr(vars(auth))):
        assert SECRET not in text
    assert repr(auth) == (
        f"OAuthServerToServer(client_id={CLIENT_ID!r}, client_secret=***, "
        f"scopes={DEFAULT_SCOPE!r}, token_url={IMS_URL!r})"
    )


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        ("openid,AdobeID", "openid,AdobeID"),
        (" openid , AdobeID ,", "openid,AdobeID"),
        (["openid", "AdobeID", "session"], "openid,AdobeID,session"),
        (("read_organizations",), "read_organizations"),
    ],
)
def test_scopes_accept_a_string_or_a_sequence(scopes: Any, expected: str) -> None:
    assert provider(scopes=scopes).scopes == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"client_id": ""}, "client_id"),
        ({"client_id": "two words"}, "client_id"),
        ({"client_id": "id\r\nX-Evil: 1"}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"client_secret": None}, "client_secret"),
        ({"scopes": ""}, "scopes"),
        ({"scopes": ["openid", 3]}, "scopes"),
        ({"scopes": ["open id"]}, "scopes"),
        ({"scopes": b"openid"}, "scopes"),
        ({"token_url": "http://ims.example.com/token"}, "token_url"),
        ({"token_url": "ftp://ims.example.com/token"}, "token_url"),
        ({"token_url": "https://user:pw@ims.example.com/token"}, "token_url"),
        ({"refresh_margin": -1}, "refresh_margin"),
        ({"refresh_margin": float("nan")}, "refresh_margin"),
    ],
)
def test_bad_arguments_raise_validation_error(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": SECRET, **kwargs}
    with pytest.raises(ValidationError) as info:
        OAuthServerToServer(**args)
    assert info.value.field == field
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "url", ["http://localhost:8080/ims/token/v3", "http://127.0.0.1/t", "http://[::1]:9/t"]
)
def test_plain_http_token_url_is_allowed_for_loopback_only(url: str) -> None:
    assert provider(token_url=url).token_url == url


# The token request and its cache ------------------------------------------------------


async def test_first_use_posts_the_client_credentials_form() -> None:
    ims = FakeIMS(ok("tok-1"))
    ctx = AuthContext(FakeClock(), ims)
    auth = provider(scopes=["openid", "AdobeID"])
    assert ims.forms == []  # nothing is fetched before it is needed
    assert await auth.get_token(ctx) == "tok-1"
    assert ims.forms == [
        (
            IMS_URL,
            {
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "scope": "openid,AdobeID",
            },
        )
    ]


async def test_token_is_cached_until_the_refresh_margin_before_expiry() -> None:
    clock = FakeClock()
    ims = FakeIMS(ok("tok-1", 3600), ok("tok-2", 3600))
    ctx = AuthContext(clock, ims)
    auth = provider(refresh_margin=300)
    assert await auth.get_token(ctx) == "tok-1"
    clock.advance(3600 - 300 - 0.001)
    assert await auth.get_token(ctx) == "tok-1"
    assert len(ims.forms) == 1
    clock.advance(0.001)
    assert await auth.get_token(ctx) == "tok-2"
    assert len(ims.forms) == 2


async def test_short_lived_tokens_are_refreshed_at_half_their_life_at_the_earliest() -> None:
    # A margin larger than the lifetime must not make every call fetch a new token.
    clock = FakeClock()
    ims = FakeIMS(ok("tok-1", 60), ok("tok-2", 60))
    ctx = AuthContext(clock, ims)
    auth = provider(refresh_margin=300)
    assert await auth.get_token(ctx) == "tok-1"
    clock.advance(29.9)
    assert await auth.get_token(ctx) == "tok-1"
    clock.advance(0.1)
    assert await auth.get_token(ctx) == "tok-2"


async def test_expiry_is_counted_from_when_the_request_was_sent() -> None:
    clock = FakeClock()

    class SlowIMS(FakeIMS):
        async def __call__(self, url: str, form: Mapping[str, str]) -> FormResponse:
            clock.advance(50)  # IMS took 50 s to answer
            return await super().__call__(url, form)

    ims = SlowIMS(ok("tok-1", 1000), ok("tok-2", 1000))
    ctx = AuthContext(clock, ims)
    auth = provider(refresh_margin=100)
    await auth.get_token(ctx)
    clock.advance(1000 - 100 - 50 - 0.01)
    assert await auth.get_token(ctx) == "tok-1"
    clock.advance(0.01)
    assert await auth.get_token(ctx) == "tok-2"


async def test_expires_in_as_a_numeric_string_is_accepted() -> None:
    ims = FakeIMS(FormResponse(200, b'{"access_token":"tok-1","expires_in":"86399"}'))
    auth = provider()
    assert await auth.get_token(AuthContext(FakeClock(), ims)) == "tok-1"


async def test_invalidate_drops_only_the_current_token() -> None:
    ims = FakeIMS(ok("tok-1"), ok("tok-2"), ok("tok-3"))
    ctx = AuthContext(FakeClock(), ims)
    auth = provider()
    assert await auth.get_token(ctx) == "tok-1"
    auth.invalidate("tok-1")
    assert await auth.get_token(ctx) == "tok-2"
    auth.invalidate("tok-1")  # a stale 401 must not throw the fresh token away
    assert await auth.get_token(ctx) == "tok-2"
    assert len(ims.forms) == 2


def test_one_provider_serves_one_event_loop_after_another() -> None:
    # Scripts and notebooks call anyio.run / asyncio.run more than once, even with another
    # backend; the single-flight lock must belong to the loop that uses it.
    ims = FakeIMS(ok("tok-1"), ok("tok-2"), ok("tok-3"), yields=3)
    clock = FakeClock()
    auth = provider()

    async def fetch(callers: int) -> list[str]:
        ctx = AuthContext(clock, ims)
        tokens: list[str] = []

        async def one() -> None:
            tokens.append(await auth.get_token(ctx))

        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(one)
        return tokens

    assert anyio.run(fetch, 5, backend="asyncio") == ["tok-1"] * 5
    # Still fresh: the cached token is reused under the new loop, no request sent.
    assert anyio.run(fetch, 1, backend="trio") == ["tok-1"]
    assert len(ims.forms) == 1
    auth.invalidate("tok-1")
    assert anyio.run(fetch, 5, backend="trio") == ["tok-2"] * 5  # one forced refresh
    assert len(ims.forms) == 2
    auth.invalidate("tok-2")
    assert anyio.run(fetch, 5, backend="asyncio") == ["tok-3"] * 5
    assert len(ims.forms) == 3


async def test_concurrent_callers_share_one_token_request() -> None:
    ims = FakeIMS(ok("tok-1"), yields=20)
    ctx = AuthContext(FakeClock(), ims)
    auth = provider()
    tokens: list[str] = []

    async def one() -> None:
        tokens.append(await auth.get_token(ctx))

    async with anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(one)
    assert tokens == ["tok-1"] * 200
    assert len(ims.forms) == 1


async def test_concurrent_callers_share_one_failure_instead_of_hammering_ims() -> None:
    ims = FakeIMS(refusal(400, b"{}"), ok("tok-2"), yields=5)
    ctx = AuthContext(FakeClock(), ims)
    auth = provider()
    errors: list[BaseException] = []

    async def one() -> None:
        try:
            await auth.get_token(ctx)
        except TokenError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(one)
    assert len(errors) == 50
    assert {e.status_code for e in errors if isinstance(e, TokenError)} == {400}
    assert len(ims.forms) == 1
    # The failure is not sticky: the next caller asks again.
    assert await auth.get_token(ctx) == "tok-2"
    assert len(ims.forms) == 2


async def test_a_fetch_cut_short_by_its_callers_deadline_is_not_shared() -> None:
    # The first caller's wait ends in 0.5 s: after a 503 it gives up rather than retry
    # past its deadline. A caller queued behind it without a deadline asks IMS itself
    # instead of inheriting that give-up (seen in the trio soak: calls without a deadline
    # ended with TokenError during an IMS blip because another wait's deadline cut it).
    clock = FakeClock()
    ims = FakeIMS(refusal(503, b"{}"), ok("tok-2"), yields=5)
    auth = provider()
    hurried = AuthContext(clock, ims, deadline=clock.now() + 0.5)
    patient = AuthContext(clock, ims)
    outcomes: dict[str, object] = {}

    async def one(name: str, ctx: AuthContext) -> None:
        try:
            outcomes[name] = await auth.get_token(ctx)
        except TokenError as exc:
            outcomes[name] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "hurried", hurried)
        await anyio.lowlevel.checkpoint()
        tg.start_soon(one, "patient", patient)
    assert isinstance(outcomes["hurried"], TokenError)
    assert outcomes["patient"] == "tok-2"
    assert len(ims.forms) == 2


async def test_a_cancelled_token_request_leaves_no_stale_failure_behind() -> None:
    ims = FakeIMS(refusal(400, b"{}"), ok("tok-2"))
    ctx = AuthContext(FakeClock(), ims)
    auth = provider()
    with pytest.raises(TokenError):
        await auth.get_token(ctx)
    never = anyio.Event()

    async def hang(url: str, form: Mapping[str, str]) -> FormResponse:
        await never.wait()
        raise AssertionError("unreachable")

    with anyio.move_on_after(0.01):
        await auth.get_token(AuthContext(FakeClock(), hang))
    assert await auth.get_token(ctx) == "tok-2"


# Token endpoint failures ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "status", "code", "words"),
    [
        (
            refusal(
                400,
                b'{"error":"invalid_client","error_description":"invalid client_secret parameter"}',
            ),
            400,
            "invalid_client",
            ["invalid_client", "invalid client_secret parameter", "check the client id"],
        ),
        (
            refusal(400, b'{"error":"invalid_scope","error_description":"bad scope: foo"}'),
            400,
            "invalid_scope",
            ["invalid_scope", "bad scope: foo"],
        ),
        (refusal(401, b"<html>nope</html>"), 401, None, ["refused", CLIENT_ID]),
        (refusal(500, b"upstream failure"), 500, None, ["IMS failed"]),
        (refusal(503, b'{"error":"server_error"}'), 503, "server_error", ["server_error"]),
    ],
)
async def test_refusals_raise_token_error_with_the_ims_text(
    answer: FormResponse, status: int, code: str | None, words: list[str]
) -> None:
    auth = provider()
    ims = FakeIMS(answer)
    clock = FakeClock()
    with pytest.raises(TokenError) as info:
        await auth.get_token(AuthContext(clock, ims))
    # A refusal is final; an IMS failure is tried three times in all.
    assert len(ims.forms) == (3 if status >= 500 else 1)
    assert clock.sleeps == ([1.0, 4.0] if status >= 500 else [])
    assert info.value.status_code == status
    assert info.value.error_code == code
    for word in words:
        assert word in str(info.value)
    assert SECRET not in str(info.value)


async def test_an_ims_answer_that_echoes_the_secret_is_redacted() -> None:
    body = f'{{"error":"invalid_client","error_description":"secret {SECRET} is wrong"}}'
    auth = provider()
    with pytest.raises(TokenError) as info:
        await auth.get_token(AuthContext(FakeClock(), FakeIMS(refusal(400, body.encode()))))
    assert SECRET not in str(info.value)
    assert "secret *** is wrong" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"access_token": "", "expires_in": 10}',
        b'{"access_token": 42, "expires_in": 10}',
        b'{"access_token": "a b", "expires_in": 10}',
        b'{"access_token": "tok", "expires_in": 0}',
        b'{"access_token": "tok", "expires_in": -5}',
        b'{"access_token": "tok", "expires_in": true}',
        b'{"access_token": "tok", "expires_in": "soon"}',
        b'{"access_token": "tok", "expires_in": Infinity}',
        b'{"access_token": "tok"}',
        b'{"access_token": "tok", "expires_in": 10, "token_type": "mac"}',
        b"[" * 100_000,
    ],
)
async def test_an_unusable_200_answer_raises_token_error(body: bytes) -> None:
    auth = provider()
    ims = FakeIMS(FormResponse(200, body))
    with pytest.raises(TokenError) as info:
        await auth.get_token(AuthContext(FakeClock(), ims))
    assert len(ims.forms) == 1  # not retried: asking again would give the same
    assert info.value.status_code == 200
    assert "token endpoint answered with" in str(info.value)


@pytest.mark.parametrize(
    "error", [aep_ais.APIConnectionError("refused"), aep_ais.APITimeoutError("slow")]
)
async def test_no_answer_from_ims_raises_token_error(error: Exception) -> None:
    auth = provider()
    ims = FakeIMS(error)
    with pytest.raises(TokenError) as info:
        await auth.get_token(AuthContext(FakeClock(), ims))
    assert len(ims.forms) == 3
    assert info.value.__cause__ is error
    assert "could not reach the token endpoint" in str(info.value)
    assert info.value.status_code is None


@pytest.mark.parametrize(
    "failure",
    [
        refusal(500, b"{}"),
        refusal(503, b"{}"),
        refusal(429, b"{}"),
        aep_ais.APITimeoutError("slow"),
        aep_ais.APIConnectionError("reset"),
    ],
)
async def test_a_transient_ims_failure_is_retried_on_the_clock(
    failure: FormResponse | Exception,
) -> None:
    clock = FakeClock()
    ims = FakeIMS(failure, failure, ok("tok-1"))
    assert await provider().get_token(AuthContext(clock, ims)) == "tok-1"
    assert len(ims.forms) == 3
    assert clock.sleeps == [1.0, 4.0]


async def test_a_cancelled_retry_wait_gives_up_at_once() -> None:
    clock = FakeClock()
    auth = provider()
    with anyio.CancelScope() as scope:

        async def failing(url: str, form: Mapping[str, str]) -> FormResponse:
            scope.cancel()
            return refusal(500, b"{}")

        await auth.get_token(AuthContext(clock, failing))
    assert scope.cancelled_caught
    assert clock.sleeps == [1.0]  # the retry wait began and was cut short
    assert clock.now() == 0
    # Nothing stale is left behind: the next caller gets a token.
    assert await auth.get_token(AuthContext(clock, FakeIMS(ok("tok-1")))) == "tok-1"


async def test_token_requests_are_logged_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aep_ais")
    auth = provider()
    await auth.get_token(AuthContext(FakeClock(), FakeIMS(ok("tok-SECRET-1", 7200))))
    messages = [r.getMessage() for r in caplog.records if r.name == "aep_ais"]
    assert messages == [f"token requested from {IMS_URL}", "token issued (expires in 7200 s)"]


# Through the client --------------------------------------------------------------------


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def client(clock: FakeClock, **kwargs: Any) -> aep_ais.AISClient:
    return aep_ais.AISClient(
        org_id=ORG_ID,
        auth=kwargs.pop("auth", None) or provider(),
        clock=clock,
        retry=aep_ais.RetryPolicy(max_attempts=3),
        **kwargs,
    )


def bearer(request: httpx.Request) -> str:
    return request.headers["authorization"].removeprefix("Bearer ")


def operation_url() -> str:
    return f"{BASE_URL}/external-audience/operations/{OPERATION_ID}"


async def test_client_sends_the_issued_token_and_the_client_id_as_api_key(
    mock: respx.MockRouter,
) -> None:
    ims = mock.post(IMS_URL).respond(200, json=issued("tok-1"))
    api = mock.get(operation_url()).respond(200, json=OPERATION)
    async with client(FakeClock()) as ais:
        await ais.get_operation(OPERATION_ID)
        await ais.get_operation(OPERATION_ID)
    assert ims.call_count == 1
    sent = ims.calls.last.request
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(sent.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [SECRET],
        "scope": [DEFAULT_SCOPE],
    }
    assert "authorization" not in sent.headers
    assert [bearer(c.request) for c in api.calls] == ["tok-1", "tok-1"]
    assert {c.request.headers["x-api-key"] for c in api.calls} == {CLIENT_ID}


async def test_client_refreshes_the_token_when_it_expires(mock: respx.MockRouter) -> None:
    clock = FakeClock()
    ims = mock.post(IMS_URL)
    ims.side_effect = [
        httpx.Response(200, json=issued("tok-1", 3600)),
        httpx.Response(200, json=issued("tok-2", 3600)),
    ]
    api = mock.get(operation_url()).respond(200, json=OPERATION)
    async with client(clock) as ais:
        await ais.get_operation(OPERATION_ID)
        clock.advance(3299)  # one second before the 300 s margin starts
        await ais.get_operation(OPERATION_ID)
        clock.advance(1)
        await ais.get_operation(OPERATION_ID)
    assert [bearer(c.request) for c in api.calls] == ["tok-1", "tok-1", "tok-2"]
    assert ims.call_count == 2


async def test_a_401_refreshes_the_token_and_retries_once(mock: respx.MockRouter) -> None:
    ims = mock.post(IMS_URL)
    ims.side_effect = [
        httpx.Response(200, json=issued("tok-1")),
        httpx.Response(200, json=issued("tok-2")),
    ]
    api = mock.post(f"{BASE_URL}/external-audience/extend-ttl/aud-1")
    api.side_effect = [
        httpx.Response(401, json={"error_code": "401013", "message": "Oauth token is not valid"}),
        httpx.Response(200, json={"audienceId": "aud-1", "name": "n"}),
    ]
    async with client(FakeClock()) as ais:
        result = await ais.extend_ttl("aud-1")
    assert result == aep_ais.TTLExtension(audience_id="aud-1", name="n")
    # A POST that the server refused with 401 is retried: the server did not act on it.
    assert [bearer(c.request) for c in api.calls] == ["tok-1", "tok-2"]
    assert ims.call_count == 2


async def test_a_second_401_raises_authentication_error(mock: respx.MockRouter) -> None:
    ims = mock.post(IMS_URL)
    ims.side_effect = [
        httpx.Response(200, json=issued("tok-1")),
        httpx.Response(200, json=issued("tok-2")),
    ]
    api = mock.get(operation_url()).respond(
        401, json={"error_code": "401013", "message": "Oauth token is not valid"}
    )
    async with client(FakeClock()) as ais:
        with pytest.raises(aep_ais.AuthenticationError) as info:
            await ais.get_operation(OPERATION_ID)
    assert info.value.error_code == "401013"
    assert [bearer(c.request) for c in api.calls] == ["tok-1", "tok-2"]
    assert ims.call_count == 2


def slow_ims(*tokens: str) -> Any:
    """An IMS answer that takes a few scheduler turns, so concurrent callers overlap."""
    queue = list(tokens)

    async def answer(request: httpx.Request) -> httpx.Response:
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        return httpx.Response(200, json=issued(queue.pop(0)))

    return answer


async def test_200_concurrent_requests_cause_one_token_request(mock: respx.MockRouter) -> None:
    ims = mock.post(IMS_URL).mock(side_effect=slow_ims("tok-1", "tok-2"))
    api = mock.get(operation_url()).respond(200, json=OPERATION)
    async with client(FakeClock()) as ais, anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(ais.get_operation, OPERATION_ID)
    assert ims.call_count == 1
    assert api.call_count == 200
    assert {bearer(c.request) for c in api.calls} == {"tok-1"}


async def test_200_concurrent_401s_cause_one_refresh(mock: respx.MockRouter) -> None:
    ims = mock.post(IMS_URL).mock(side_effect=slow_ims("tok-old", "tok-new", "tok-extra"))
    old_arrived = 0
    all_old_arrived = anyio.Event()
    new_in_use = anyio.Event()

    async def api_answer(request: httpx.Request) -> httpx.Response:
        nonlocal old_arrived
        if bearer(request) == "tok-old":
            # All 200 requests go out with the old token. Half of the 401s come back
            # together; the other half only after the new token is in use, so their
            # invalidate() must not throw the new token away.
            old_arrived += 1
            late = old_arrived > 100
            if old_arrived == 200:
                all_old_arrived.set()
            await all_old_arrived.wait()
            if late:
                await new_in_use.wait()
            return httpx.Response(401, json={"error_code": "401013", "message": "expired"})
        new_in_use.set()
        return httpx.Response(200, json=OPERATION)

    api = mock.get(operation_url()).mock(side_effect=api_answer)
    results: list[aep_ais.Operation] = []

    async def one(ais: aep_ais.AISClient) -> None:
        results.append(await ais.get_operation(OPERATION_ID))

    async with client(FakeClock()) as ais, anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(one, ais)
    assert len(results) == 200
    assert ims.call_count == 2
    tokens = [bearer(c.request) for c in api.calls]
    assert tokens.count("tok-old") == 200
    assert tokens.count("tok-new") == 200


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (httpx.Response(400, json={"error": "invalid_client"}), 400),
        (httpx.Response(500, text="oops"), 500),
        (httpx.ReadTimeout("slow"), None),
        (httpx.ConnectError("refused"), None),
    ],
)
async def test_token_endpoint_failure_raises_token_error_and_sends_nothing(
    mock: respx.MockRouter, answer: Any, status: int | None
) -> None:
    clock = FakeClock()
    if isinstance(answer, Exception):
        ims = mock.post(IMS_URL).mock(side_effect=answer)
    else:
        ims = mock.post(IMS_URL).mock(return_value=answer)
    api = mock.get(operation_url()).respond(200, json=OPERATION)
    async with client(clock) as ais:
        with pytest.raises(TokenError) as info:
            await ais.get_operation(OPERATION_ID)
    assert info.value.status_code == status
    assert api.call_count == 0
    final = status == 400
    assert ims.call_count == (1 if final else 3)
    assert clock.sleeps == ([] if final else [1.0, 4.0])
    assert SECRET not in str(info.value)


async def test_a_redirecting_token_endpoint_is_not_followed(mock: respx.MockRouter) -> None:
    # The form carries the secret: it must never be re-posted somewhere else.
    elsewhere = mock.post("https://evil.example.com/steal").respond(200, json=issued("x"))
    mock.post(IMS_URL).respond(307, headers={"Location": "https://evil.example.com/steal"})
    async with (
        httpx.AsyncClient(follow_redirects=True) as own,
        client(FakeClock(), http_client=own) as ais,
    ):
        with pytest.raises(TokenError) as info:
            await ais.get_operation(OPERATION_ID)
    assert info.value.status_code == 307
    assert elsewhere.call_count == 0
