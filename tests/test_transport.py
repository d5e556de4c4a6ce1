"""The request pipeline: which failures are retried, how often, the sleeps taken, 401s.

All on a `FakeClock` with `random()` fixed at 0.5, so with the default `RetryPolicy`
(`backoff=0.5`) the full-jitter waits before retries 1, 2, 3 are exactly 0.25, 0.5, 1.0 s.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

import aep_ais
from aep_ais.testing import FakeClock
from tests.conftest import AUDIENCE_ID, BASE_URL, OPERATION_ID, RUN_ID, SAMPLES, TOKEN

BACKOFF_SLEEPS = [0.25, 0.5, 1.0]

Call = Callable[[aep_ais.AISClient], Awaitable[Any]]


def _spec() -> aep_ais.AudienceSpec:
    return aep_ais.AudienceSpec(
        name="Spring buyers",
        fields=[aep_ais.AudienceField(name="ppid", type="string", identity_ns="email")],
        source_spec=aep_ais.SourceSpec(path="activation/spring/buyers.csv", cloud_type="DLZ"),
    )


# name: (HTTP method, path, the call, a good answer, creates-or-otherwise-unsafe POST)
ENDPOINTS: dict[str, tuple[str, str, Call, httpx.Response, bool]] = {
    "get_run": (
        "GET",
        f"/external-audience/{AUDIENCE_ID}/runs/{RUN_ID}",
        lambda c: c.get_run(AUDIENCE_ID, RUN_ID),
        httpx.Response(200, json=SAMPLES["run"]),
        False,
    ),
    "get_operation": (
        "GET",
        f"/external-audience/operations/{OPERATION_ID}",
        lambda c: c.get_operation(OPERATION_ID),
        httpx.Response(200, json=SAMPLES["operation"]),
        False,
    ),
    "list_runs": (
        "GET",
        f"/external-audience/{AUDIENCE_ID}/runs",
        lambda c: c.list_runs(AUDIENCE_ID),
        httpx.Response(200, json=SAMPLES["runs"]),
        False,
    ),
    "update_audience": (
        "PATCH",
        f"/external-audience/{AUDIENCE_ID}",
        lambda c: c.update_audience(AUDIENCE_ID, aep_ais.AudienceUpdate(ttl_in_days=30)),
        httpx.Response(200, json=SAMPLES["audience"]),
        False,
    ),
    "delete_audience": (
        "DELETE",
        f"/external-audience/{AUDIENCE_ID}",
        lambda c: c.delete_audience(AUDIENCE_ID),
        httpx.Response(204),
        False,
    ),
    "create_audience": (
        "POST",
        "/external-audience/",
        lambda c: c.create_audience(_spec()),
        httpx.Response(202, json=SAMPLES["create_response"]),
        True,
    ),
    "start_run": (
        "POST",
        f"/external-audience/{AUDIENCE_ID}/runs",
        lambda c: c.start_run(AUDIENCE_ID, data_filter_start_time=764245635),
        httpx.Response(200, json=SAMPLES["run_started"]),
        True,
    ),
    "extend_ttl": (
        "POST",
        f"/external-audience/extend-ttl/{AUDIENCE_ID}",
        lambda c: c.extend_ttl(AUDIENCE_ID),
        httpx.Response(200, json=SAMPLES["ttl_extension"]),
        True,
    ),
}

# failure: (exception class raised, retried for GET/PATCH/DELETE, retried for a creating POST)
FAILURES: dict[str, tuple[type[aep_ais.AISError], bool, bool]] = {
    "ConnectError": (aep_ais.APIConnectionError, True, True),
    "ConnectTimeout": (aep_ais.APITimeoutError, True, True),
    "PoolTimeout": (aep_ais.APITimeoutError, True, True),
    "ReadTimeout": (aep_ais.APITimeoutError, True, False),
    "WriteTimeout": (aep_ais.APITimeoutError, True, False),
    "RemoteProtocolError": (aep_ais.APIConnectionError, True, False),
    "ReadError": (aep_ais.APIConnectionError, True, False),
    "429": (aep_ais.RateLimitError, True, True),
    "500": (aep_ais.InternalServerError, True, False),
    "502": (aep_ais.BadGatewayError, True, False),
    "503": (aep_ais.ServiceUnavailableError, True, False),
    "504": (aep_ais.GatewayTimeoutError, True, False),
    "400": (aep_ais.BadRequestError, False, False),
    "403": (aep_ais.PermissionDeniedError, False, False),
    "404": (aep_ais.NotFoundError, False, False),
    "409": (aep_ais.ConflictError, False, False),
    "422": (aep_ais.UnprocessableEntityError, False, False),
}


Effect = Callable[[httpx.Request], httpx.Response]


def failing(kind: str) -> Effect:
    """A respx side effect that fails every time in the given way."""

    def effect(request: httpx.Request) -> httpx.Response:
        if kind.isdigit():
            return httpx.Response(int(kind), json={"error_code": f"x-{kind}", "message": kind})
        raise getattr(httpx, kind)(f"simulated {kind}", request=request)

    return effect


def route_for(api: respx.MockRouter, endpoint: str) -> respx.Route:
    method, path, *_ = ENDPOINTS[endpoint]
    return api.route(method=method, path=path, name=endpoint)


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_retry_table(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    clock: FakeClock,
    endpoint: str,
    failure: str,
) -> None:
    _, _, call, _, unsafe = ENDPOINTS[endpoint]
    error_cls, retried_if_safe, retried_if_unsafe = FAILURES[failure]
    retried = retried_if_unsafe if unsafe else retried_if_safe
    route = route_for(api, endpoint).mock(side_effect=failing(failure))

    with pytest.raises(error_cls) as info:
        await call(ais)

    assert type(info.value) is error_cls
    expected_attempts = 4 if retried else 1
    assert route.call_count == expected_attempts
    assert clock.sleeps == BACKOFF_SLEEPS[: expected_attempts - 1]
    # Every attempt sends the same request.
    assert len({bytes(c.request.content) for c in route.calls}) == 1
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("failure", "acted"),
    [
        ("500", True),
        ("502", True),
        ("ReadTimeout", True),
        ("RemoteProtocolError", True),
        ("400", False),
        ("409", False),
        ("422", False),
    ],
)
@pytest.mark.parametrize("endpoint", ["create_audience", "start_run"])
async def test_create_is_sent_exactly_once_when_the_server_may_have_acted(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    clock: FakeClock,
    endpoint: str,
    failure: str,
    acted: bool,
) -> None:
    call = ENDPOINTS[endpoint][2]
    route = route_for(api, endpoint).mock(side_effect=failing(failure))

    with pytest.raises(aep_ais.AISError) as info:
        await call(ais)

    assert route.call_count == 1
    assert clock.sleeps == []
    assert getattr(info.value, "server_may_have_acted", None) is acted


@pytest.mark.parametrize("failure", ["ConnectError", "ConnectTimeout", "429"])
@pytest.mark.parametrize("endpoint", ["create_audience", "start_run"])
async def test_create_is_retried_when_the_server_surely_did_not_act(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    clock: FakeClock,
    endpoint: str,
    failure: str,
) -> None:
    _, _, call, good, _ = ENDPOINTS[endpoint]
    fail = failing(failure)
    answers: Iterator[Effect] = iter([fail, fail, lambda request: good])
    route = route_for(api, endpoint).mock(side_effect=lambda request: next(answers)(request))

    result = await call(ais)

    assert result is not None
    assert route.call_count == 3
    assert clock.sleeps == [0.25, 0.5]
    bodies = [json.loads(c.request.content) for c in route.calls]
    assert bodies[0] == bodies[1] == bodies[2]


@pytest.mark.parametrize("endpoint", ["create_audience", "start_run"])
async def test_create_that_never_connects_says_the_server_did_not_act(
    api: respx.MockRouter, ais: aep_ais.AISClient, endpoint: str
) -> None:
    route = route_for(api, endpoint).mock(side_effect=failing("ConnectError"))
    with pytest.raises(aep_ais.APIConnectionError) as info:
        await ENDPOINTS[endpoint][2](ais)
    assert route.call_count == 4
    assert info.value.server_may_have_acted is False


@pytest.mark.parametrize(
    ("failures", "sleeps"),
    [
        (["503"], [0.25]),
        (["ReadTimeout", "500"], [0.25, 0.5]),
        (["ConnectError", "429", "504"], [0.25, 0.5, 1.0]),
    ],
)
async def test_get_recovers_after_transient_failures(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    clock: FakeClock,
    failures: list[str],
    sleeps: list[float],
) -> None:
    good = ENDPOINTS["get_run"][3]
    answers: Iterator[Effect] = iter([*(failing(f) for f in failures), lambda request: good])
    route = route_for(api, "get_run").mock(side_effect=lambda request: next(answers)(request))

    run = await ais.get_run(AUDIENCE_ID, RUN_ID)

    assert run.run_id == RUN_ID
    assert route.call_count == len(failures) + 1
    assert clock.sleeps == sleeps


@pytest.mark.parametrize(
    ("max_attempts", "calls", "sleeps"),
    [(1, 1, []), (2, 2, [0.25]), (3, 3, [0.25, 0.5]), (6, 6, [0.25, 0.5, 1.0, 2.0, 4.0])],
)
async def test_max_attempts_is_respected(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    clock: FakeClock,
    max_attempts: int,
    calls: int,
    sleeps: list[float],
) -> None:
    route = route_for(api, "get_run").mock(side_effect=failing("503"))
    async with make_client(retry=aep_ais.RetryPolicy(max_attempts=max_attempts)) as ais:
        with pytest.raises(aep_ais.ServiceUnavailableError):
            await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert route.call_count == calls
    assert clock.sleeps == sleeps


async def test_backoff_is_capped_by_max_backoff(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    clock: FakeClock,
) -> None:
    clock.fixed_random = 0.999
    route_for(api, "get_run").mock(side_effect=failing("500"))
    policy = aep_ais.RetryPolicy(max_attempts=5, backoff=1.0, max_backoff=3.0)
    async with make_client(retry=policy) as ais:
        with pytest.raises(aep_ais.InternalServerError):
            await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert clock.sleeps == pytest.approx([0.999, 1.998, 2.997, 2.997])


# Retry-After -----------------------------------------------------------------------------


def http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "sleep"),
    [
        (429, "3", 3.0),
        (429, "0", 0.0),
        (429, "1.5", 1.5),
        (503, "7", 7.0),
        (429, http_date(FakeClock().time() + 7), 7.0),
        (503, http_date(FakeClock().time() + 42), 42.0),
        (429, http_date(FakeClock().time() - 60), 0.0),
        (429, "1000", 120.0),
        (429, http_date(FakeClock().time() + 3600), 120.0),
        (429, "-5", 0.0),
        (429, "soon", 0.25),
        (429, "", 0.25),
        (500, "2", 2.0),
    ],
    ids=[
        "seconds",
        "zero",
        "fraction",
        "503-seconds",
        "http-date",
        "503-http-date",
        "date-in-the-past",
        "capped-seconds",
        "capped-date",
        "negative",
        "garbage-falls-back-to-backoff",
        "empty-falls-back-to-backoff",
        "500-seconds",
    ],
)
async def test_retry_after_sets_the_sleep(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    clock: FakeClock,
    status: int,
    retry_after: str,
    sleep: float,
) -> None:
    good = ENDPOINTS["get_run"][3]
    route = route_for(api, "get_run").mock(
        side_effect=[httpx.Response(status, headers={"Retry-After": retry_after}), good]
    )

    await ais.get_run(AUDIENCE_ID, RUN_ID)

    assert route.call_count == 2
    assert clock.sleeps == [pytest.approx(sleep)]


async def test_retry_after_cap_follows_the_policy(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    clock: FakeClock,
) -> None:
    good = ENDPOINTS["create_audience"][3]
    route = route_for(api, "create_audience").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "600"}), good]
    )
    async with make_client(retry=aep_ais.RetryPolicy(max_retry_after=10.0)) as ais:
        await ais.create_audience(_spec())
    assert route.call_count == 2
    assert clock.sleeps == [10.0]


# 401: refresh the token and retry once ------------------------------------------------


class RecordingToken:
    """A token provider that issues `tok-1`, `tok-2`, ... and records invalidations."""

    def __init__(self) -> None:
        self.issued = 0
        self.invalidated: list[str] = []
        self.current: str | None = None

    async def get_token(self, ctx: aep_ais.AuthContext) -> str:
        if self.current is None:
            self.issued += 1
            self.current = f"tok-{self.issued}"
        return self.current

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        if token == self.current:
            self.current = None


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_401_refreshes_the_token_and_retries_once(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    clock: FakeClock,
    endpoint: str,
) -> None:
    good = ENDPOINTS[endpoint][3]
    route = route_for(api, endpoint).mock(
        side_effect=[httpx.Response(401, json={"error_code": "401013"}), good]
    )
    auth = RecordingToken()

    async with make_client(auth=auth) as ais:
        await ENDPOINTS[endpoint][2](ais)

    assert route.call_count == 2
    assert [c.request.headers["authorization"] for c in route.calls] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    assert auth.invalidated == ["tok-1"]
    assert clock.sleeps == []


@pytest.mark.parametrize("endpoint", ["get_run", "create_audience", "start_run"])
async def test_second_401_raises_authentication_error(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    endpoint: str,
) -> None:
    body = {"error_code": "401013", "message": "Oauth token is not valid"}
    route = route_for(api, endpoint).respond(401, json=body)
    auth = RecordingToken()

    async with make_client(auth=auth) as ais:
        with pytest.raises(aep_ais.AuthenticationError) as info:
            await ENDPOINTS[endpoint][2](ais)

    assert route.call_count == 2
    assert auth.invalidated == ["tok-1"]
    assert info.value.error_code == "401013"
    assert info.value.server_may_have_acted is False
    assert "tok-" not in str(info.value)


async def test_401_refresh_does_not_use_up_a_retry(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    clock: FakeClock,
) -> None:
    good = ENDPOINTS["get_run"][3]
    route = route_for(api, "get_run").mock(
        side_effect=[httpx.Response(401), httpx.Response(503), httpx.Response(503), good]
    )
    async with make_client(auth=RecordingToken(), retry=aep_ais.RetryPolicy(max_attempts=3)) as c:
        await c.get_run(AUDIENCE_ID, RUN_ID)
    assert route.call_count == 4
    assert clock.sleeps == [0.25, 0.5]


async def test_a_static_token_refused_is_not_sent_again(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    # A static token cannot be refreshed: a second try would carry the same token.
    route = route_for(api, "delete_audience").respond(401)
    with pytest.raises(aep_ais.AuthenticationError) as info:
        await ais.delete_audience(AUDIENCE_ID)
    assert route.call_count == 1
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)


# The deadline of Transport.call ---------------------------------------------------------


async def test_deadline_stops_retries(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    route = route_for(api, "get_run").mock(side_effect=failing("503"))
    path = ENDPOINTS["get_run"][1]

    with pytest.raises(aep_ais.ServiceUnavailableError):
        await ais._transport.call("GET", path, into=None, deadline=clock.now() + 1.0)

    # Waits of 0.25 and 0.5 fit before the deadline; the next (1.0) would pass it.
    assert route.call_count == 3
    assert clock.sleeps == [0.25, 0.5]
    assert clock.now() == 0.75


async def test_retry_after_past_the_deadline_is_not_waited_for(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    route = route_for(api, "get_run").respond(429, headers={"Retry-After": "5"})
    path = ENDPOINTS["get_run"][1]

    with pytest.raises(aep_ais.RateLimitError) as info:
        await ais._transport.call("GET", path, into=None, deadline=clock.now() + 2.0)

    assert route.call_count == 1
    assert clock.sleeps == []
    assert info.value.retry_after == 5.0


async def test_deadline_bounds_the_request_timeout(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    route = route_for(api, "get_run").respond(200, json={})
    path = ENDPOINTS["get_run"][1]
    clock.advance(10.0)

    answer: Any = await ais._transport.call("GET", path, into=None, deadline=clock.now() + 2.5)

    assert answer.status_code == 200
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


async def test_client_timeout_reaches_the_request(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient]
) -> None:
    route = route_for(api, "delete_audience").respond(204)
    async with make_client(timeout=7.0) as ais:
        await ais.delete_audience(AUDIENCE_ID)
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == {"connect": 7.0, "read": 7.0, "write": 7.0, "pool": 7.0}


async def test_answer_carries_retry_after_of_a_success(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    path = ENDPOINTS["get_operation"][1]
    route_for(api, "get_operation").respond(
        200, json=SAMPLES["operation"], headers={"Retry-After": "12"}
    )
    answer = await ais._transport.call("GET", path, into=aep_ais.Operation)
    assert answer.retry_after == 12.0
    assert answer.value.operation_id == OPERATION_ID


async def test_user_agent_and_accept(api: respx.MockRouter, ais: aep_ais.AISClient) -> None:
    route = route_for(api, "delete_audience").respond(204)
    await ais.delete_audience(AUDIENCE_ID)
    headers = route.calls.last.request.headers
    assert headers["user-agent"].startswith(f"aep-ais/{aep_ais.__version__} ")
    assert headers["accept"] == "application/json"


@pytest.mark.parametrize(
    ("endpoint", "failure", "warned"),
    [
        ("create_audience", "500", True),
        ("create_audience", "ReadTimeout", True),
        ("start_run", "502", True),
        ("start_run", "RemoteProtocolError", True),
        ("create_audience", "400", False),
        ("create_audience", "ConnectError", False),
        ("get_run", "500", False),
        ("delete_audience", "ReadTimeout", False),
    ],
)
async def test_message_warns_when_a_post_may_have_been_carried_out(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    endpoint: str,
    failure: str,
    warned: bool,
) -> None:
    route_for(api, endpoint).mock(side_effect=failing(failure))
    async with make_client(retry=aep_ais.RetryPolicy(max_attempts=1)) as ais:
        with pytest.raises(aep_ais.AISError) as info:
            await ENDPOINTS[endpoint][2](ais)
    text = str(info.value)
    assert ("may have carried it out" in text) is warned
    if warned:
        assert "try again later" not in text


def test_works_under_trio(make_client: Callable[..., aep_ais.AISClient], clock: FakeClock) -> None:
    trio = pytest.importorskip("trio")
    good = ENDPOINTS["get_run"][3]

    async def main() -> aep_ais.IngestionRun:
        async with make_client() as ais:
            return await ais.get_run(AUDIENCE_ID, RUN_ID)

    with respx.mock(base_url=BASE_URL, assert_all_called=True) as api:
        route = route_for(api, "get_run").mock(side_effect=[httpx.Response(503), good])
        run = trio.run(main)

    assert run.run_id == RUN_ID
    assert route.call_count == 2
    assert clock.sleeps == [0.25]


@pytest.mark.parametrize(
    ("error", "method", "attempt", "reason"),
    [
        (aep_ais.APIConnectionError("x", server_may_have_acted=False), "POST", 1, "connection"),
        (aep_ais.APIConnectionError("x", server_may_have_acted=True), "POST", 1, None),
        (aep_ais.APIConnectionError("x", server_may_have_acted=True), "GET", 1, "connection"),
        (aep_ais.APITimeoutError("x", server_may_have_acted=True), "DELETE", 2, "timeout"),
        (aep_ais.RateLimitError("x", status_code=429), "POST", 1, "status 429"),
        (aep_ais.ServiceUnavailableError("x", status_code=503), "POST", 1, None),
        (aep_ais.ServiceUnavailableError("x", status_code=503), "PATCH", 3, "status 503"),
        (aep_ais.ServiceUnavailableError("x", status_code=503), "GET", 4, None),  # out of attempts
        (aep_ais.NotFoundError("x", status_code=404), "GET", 1, None),
        (aep_ais.AuthenticationError("x", status_code=401), "GET", 1, None),
    ],
)
def test_the_retry_decision_is_a_pure_function_of_error_method_and_attempt(
    error: Exception, method: str, attempt: int, reason: str | None
) -> None:
    from aep_ais._transport import retry_reason

    assert retry_reason(error, method, attempt, 4) == reason  # type: ignore[arg-type]
