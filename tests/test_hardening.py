"""Findings of review, pinned: no secret in our frames' locals, 3xx is not success,
`Retry-After` is honoured on any error answer while polling."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx
import pytest
import respx

import aep_ais
from aep_ais.testing import FakeClock
from tests.conftest import AUDIENCE_ID, OPERATION_ID, RUN_ID, TOKEN

PACKAGE = os.path.dirname(aep_ais.__file__)
IMS = "https://ims-na1.adobelogin.com/ims/token/v3"
SECRET = "s3cr3t-CLIENT-SECRET-42"
ISSUED = "tok-ISSUED-BY-IMS-77"
RUN_PATH = f"/external-audience/{AUDIENCE_ID}/runs/{RUN_ID}"


def _holds(value: Any, secret: str, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(value, str):
        return secret in value
    if isinstance(value, bytes):
        return secret.encode() in value
    if isinstance(value, httpx.Headers):
        return any(secret in v for v in value.values())
    if isinstance(value, Mapping):
        return any(_holds(v, secret, depth + 1) for v in value.values())
    if isinstance(value, aep_ais.FormResponse):
        return _holds(value.content, secret, depth + 1)
    return secret in repr(value)


def _tracebacks(error: BaseException) -> Iterator[TracebackType]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            yield tb
            tb = tb.tb_next
        todo += [exc.__cause__, exc.__context__]


def our_frames_holding(error: BaseException, secret: str) -> list[str]:
    """`function:local` for every local of an aep_ais frame in the error's chain that holds
    `secret` (what a crash reporter that records locals would capture)."""
    hits = []
    for tb in _tracebacks(error):
        frame = tb.tb_frame
        if not frame.f_code.co_filename.startswith(PACKAGE):
            continue
        for name, value in frame.f_locals.items():
            if name != "self" and _holds(value, secret):
                hits.append(f"{frame.f_code.co_name}:{name}")
    return hits


@pytest.mark.parametrize("status", [404, 500, 400])
async def test_an_api_error_leaves_no_token_in_our_frames(
    api: respx.MockRouter, ais: aep_ais.AISClient, status: int
) -> None:
    api.get(RUN_PATH).respond(status, json={"error_code": f"100940-{status}"})
    with pytest.raises(aep_ais.APIError) as caught:
        await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert our_frames_holding(caught.value, TOKEN) == []


async def test_a_lost_answer_leaves_no_token_in_our_frames(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.get(RUN_PATH).mock(side_effect=httpx.ReadError("reset"))
    with pytest.raises(aep_ais.APIConnectionError) as caught:
        await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert our_frames_holding(caught.value, TOKEN) == []


def _oauth_client(
    make_client: Callable[..., aep_ais.AISClient], ims: Callable[[httpx.Request], Any]
) -> aep_ais.AISClient:
    def route(request: httpx.Request) -> httpx.Response:
        if str(request.url) == IMS:
            answer: httpx.Response = ims(request)
            return answer
        return httpx.Response(200, json={"runId": RUN_ID, "status": "SUCCESS"})

    return make_client(
        auth=aep_ais.OAuthServerToServer("client-id", SECRET),
        api_key=None,
        transport=httpx.MockTransport(route),
    )


@pytest.mark.parametrize(
    "ims",
    [
        pytest.param(lambda r: (_ for _ in ()).throw(httpx.ConnectError("down")), id="no-answer"),
        pytest.param(lambda r: httpx.Response(400, json={"error": "invalid_client"}), id="refused"),
        pytest.param(
            lambda r: httpx.Response(
                200, json={"access_token": ISSUED, "token_type": "mac", "expires_in": 60}
            ),
            id="unusable-token",
        ),
    ],
)
async def test_a_token_failure_leaves_no_secret_or_token_in_our_frames(
    make_client: Callable[..., aep_ais.AISClient], ims: Callable[[httpx.Request], Any]
) -> None:
    async with _oauth_client(make_client, ims) as ais:
        with pytest.raises(aep_ais.TokenError) as caught:
            await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert our_frames_holding(caught.value, SECRET) == []
    assert our_frames_holding(caught.value, ISSUED) == []
    assert SECRET not in repr(caught.value) and ISSUED not in str(caught.value)


def test_a_form_response_never_shows_its_body() -> None:
    answer = aep_ais.FormResponse(200, f'{{"access_token": "{ISSUED}"}}'.encode())
    assert ISSUED not in repr(answer)


@pytest.mark.parametrize("status", [301, 302, 304, 307])
async def test_a_redirect_or_other_3xx_is_not_taken_for_success(
    api: respx.MockRouter, ais: aep_ais.AISClient, status: int
) -> None:
    route = api.delete(f"/external-audience/{AUDIENCE_ID}").respond(
        status, headers={"location": "https://elsewhere.example/"}
    )
    with pytest.raises(aep_ais.APIError) as caught:
        await ais.delete_audience(AUDIENCE_ID)
    assert caught.value.status_code == status
    assert route.call_count == 1  # not retried, not followed


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_retry_after_on_any_error_sets_the_next_poll(
    api: respx.MockRouter,
    make_client: Callable[..., aep_ais.AISClient],
    clock: FakeClock,
    status: int,
) -> None:
    processing = {"operationId": OPERATION_ID, "status": "PROCESSING"}
    done = {"operationId": OPERATION_ID, "status": "SUCCESS", "audienceId": AUDIENCE_ID}
    times: list[float] = []
    answers = iter(
        [
            httpx.Response(200, json=processing),
            httpx.Response(status, headers={"retry-after": "60"}),
            httpx.Response(200, json=done),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        times.append(clock.now())
        return next(answers)

    api.get(f"/external-audience/operations/{OPERATION_ID}").mock(side_effect=answer)
    # One attempt per poll: the wait, not the transport, handles the error answer.
    ais = make_client(retry=aep_ais.RetryPolicy(max_attempts=1))
    async with ais:
        operation = await ais.wait_for_operation(OPERATION_ID)
    assert operation.audience_id == AUDIENCE_ID
    assert times[1] == pytest.approx(1.0)  # the policy's first interval
    assert times[2] - times[1] == pytest.approx(60.0)  # the server's hint, not 1.2 s


@pytest.mark.parametrize(
    "first",
    [httpx.Response(500), httpx.Response(503), httpx.ReadTimeout("lost"), httpx.ReadError("x")],
    ids=["500", "503", "read-timeout", "read-error"],
)
async def test_a_delete_that_finds_it_gone_on_a_retry_succeeded_before(
    api: respx.MockRouter, ais: aep_ais.AISClient, first: Any
) -> None:
    route = api.delete(f"/external-audience/{AUDIENCE_ID}").mock(
        side_effect=[first, httpx.Response(404, json={"error_code": "100940-404"})]
    )
    assert await ais.delete_audience(AUDIENCE_ID) is None
    assert route.call_count == 2


@pytest.mark.parametrize(
    "before",
    [[], [httpx.ConnectError("refused")], [httpx.Response(429)]],
    ids=["first-answer", "after-no-connection", "after-429"],
)
async def test_a_delete_of_what_was_never_there_is_still_not_found(
    api: respx.MockRouter, ais: aep_ais.AISClient, before: list[Any]
) -> None:
    # Nothing earlier can have deleted it: the 404 means what it says.
    api.delete(f"/external-audience/{AUDIENCE_ID}").mock(
        side_effect=[*before, httpx.Response(404, json={"error_code": "100940-404"})]
    )
    with pytest.raises(aep_ais.NotFoundError):
        await ais.delete_audience(AUDIENCE_ID)


async def test_a_read_that_finds_nothing_on_a_retry_is_not_found(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.get(RUN_PATH).mock(side_effect=[httpx.Response(503), httpx.Response(404)])
    with pytest.raises(aep_ais.NotFoundError):
        await ais.get_run(AUDIENCE_ID, RUN_ID)
