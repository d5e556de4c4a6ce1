"""Errors after the server accepted a create or a start tell the truth about it.

Once a create or a start was accepted, the server has acted: every error that ends the
call later (a poll refused, the token endpoint failing, a garbled id in the answer, the
look for a run whose start answer was lost) says `server_may_have_acted=True` and names
the ids to resume with. A token endpoint that fails for a while during a wait is as
passing as a 5xx: the wait goes on within its deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

import aep_ais
from aep_ais._auth import IMS_TOKEN_URL
from tests.conftest import AUDIENCE_ID, OPERATION_ID, RUN_ID, spec

SINCE = 1_749_000_000
RUNS = f"/external-audience/{AUDIENCE_ID}/runs"


def token(expires_in: int = 3600, value: str = "tok-fresh") -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": value, "token_type": "bearer", "expires_in": expires_in}
    )


@pytest.fixture
def ims(api: respx.MockRouter) -> respx.Route:
    return api.post(IMS_TOKEN_URL, name="token")


@pytest.fixture
def oauth_client(
    make_client: Callable[..., aep_ais.AISClient], ims: respx.Route
) -> aep_ais.AISClient:
    # refresh_margin=0: a token is used until it expires, so a 1 s token expires mid-wait.
    auth = aep_ais.OAuthServerToServer("client-id", "client-secret-xyz", refresh_margin=0)
    return make_client(auth=auth, api_key=None)


def op(status: str = "SUCCESS", **extra: Any) -> dict[str, Any]:
    body = {"operationId": OPERATION_ID, "status": status, **extra}
    if status == "SUCCESS":
        body.setdefault("audienceId", AUDIENCE_ID)
    return body


# A token endpoint failing during a wait ---------------------------------------------------


async def test_a_token_endpoint_outage_during_a_wait_does_not_end_it(
    api: respx.MockRouter, ims: respx.Route, oauth_client: aep_ais.AISClient
) -> None:
    # The first token expires after a second; IMS then fails six times in a row (two
    # rounds of the provider's three tries), then issues one again.
    ims.side_effect = [token(1, "tok-first")] + [httpx.Response(503)] * 6 + [token()]
    api.post("/external-audience/").respond(202, json={"operationId": OPERATION_ID})
    polled = api.get(f"/external-audience/operations/{OPERATION_ID}").respond(200, json=op())
    result = await oauth_client.create_and_wait(spec())
    assert result.audience_id == AUDIENCE_ID
    assert ims.call_count == 8
    assert polled.call_count == 1


async def test_a_token_refusal_during_a_run_wait_says_the_server_acted_and_names_the_run(
    api: respx.MockRouter,
    ims: respx.Route,
    oauth_client: aep_ais.AISClient,
    sample: Callable[[str], Any],
) -> None:
    ims.side_effect = [token(1, "tok-first")] + [
        httpx.Response(400, json={"error": "invalid_client"})
    ] * 3
    api.get(RUNS).respond(200, json={"runs": []})
    api.post(RUNS).respond(200, json=sample("run_started"))
    with pytest.raises(aep_ais.TokenError) as caught:
        await oauth_client.run_and_wait(AUDIENCE_ID, data_filter_start_time=SINCE)
    error: Any = caught.value
    assert error.server_may_have_acted is True
    assert (error.audience_id, error.run_id) == (AUDIENCE_ID, RUN_ID)


async def test_a_wait_that_meets_only_token_failures_times_out_with_the_ids(
    api: respx.MockRouter, ims: respx.Route, oauth_client: aep_ais.AISClient
) -> None:
    ims.side_effect = [token(1, "tok-first")] + [httpx.Response(502)] * 300
    api.post("/external-audience/").respond(202, json={"operationId": OPERATION_ID})
    with pytest.raises(aep_ais.WaitTimeoutError) as caught:
        await oauth_client.create_and_wait(
            spec(),
            poll=aep_ais.PollPolicy(timeout=60),
        )
    error: Any = caught.value
    assert error.operation_id == OPERATION_ID
    assert error.server_may_have_acted is True
    assert isinstance(error.__cause__, aep_ais.TokenError)


# A poll refused after the create or start was accepted ------------------------------------


async def test_a_refused_poll_after_a_create_says_the_server_acted_and_names_the_operation(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.post("/external-audience/").respond(202, json={"operationId": OPERATION_ID})
    api.get(f"/external-audience/operations/{OPERATION_ID}").respond(
        403, json={"error_code": "403003", "message": "no"}
    )
    with pytest.raises(aep_ais.PermissionDeniedError) as caught:
        await ais.create_and_wait(spec())
    error: Any = caught.value
    assert error.server_may_have_acted is True
    assert error.operation_id == OPERATION_ID


async def test_a_refused_poll_after_a_start_names_the_audience_and_the_run(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Callable[[str], Any]
) -> None:
    api.get(RUNS).respond(200, json={"runs": []})
    api.post(RUNS).respond(200, json=sample("run_started"))
    api.get(f"{RUNS}/{RUN_ID}").respond(404, json={"error_code": "100940-404", "message": "?"})
    with pytest.raises(aep_ais.NotFoundError) as caught:
        await ais.run_and_wait(AUDIENCE_ID, data_filter_start_time=SINCE)
    error: Any = caught.value
    assert error.server_may_have_acted is True
    assert (error.audience_id, error.run_id) == (AUDIENCE_ID, RUN_ID)


async def test_a_timeout_after_a_start_says_the_server_acted(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Callable[[str], Any]
) -> None:
    api.get(RUNS).respond(200, json={"runs": []})
    api.post(RUNS).respond(200, json=sample("run_started"))
    api.get(f"{RUNS}/{RUN_ID}").respond(200, json={**sample("run"), "status": "PROCESSING"})
    with pytest.raises(aep_ais.WaitTimeoutError) as caught:
        await ais.run_and_wait(
            AUDIENCE_ID, data_filter_start_time=SINCE, poll=aep_ais.PollPolicy(timeout=10)
        )
    error: Any = caught.value
    assert error.server_may_have_acted is True
    assert (error.audience_id, error.run_id) == (AUDIENCE_ID, RUN_ID)


# Ids in a 2xx answer that are not plain identifiers ---------------------------------------


@pytest.mark.parametrize("bad", ["../../x", "a/b", "", "a b"])
async def test_a_garbled_operation_id_in_a_create_answer_is_a_malformed_answer(
    api: respx.MockRouter, ais: aep_ais.AISClient, bad: str
) -> None:
    api.post("/external-audience/").respond(202, json={"operationId": bad})
    with pytest.raises(aep_ais.MalformedResponseError) as caught:
        await ais.create_and_wait(spec())
    assert not isinstance(caught.value, aep_ais.ValidationError)
    assert caught.value.server_may_have_acted is True


@pytest.mark.parametrize("bad", ["../../x", "a/b", "", "a b"])
async def test_a_garbled_run_id_in_a_start_answer_is_a_malformed_answer(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Callable[[str], Any], bad: str
) -> None:
    api.get(RUNS).respond(200, json={"runs": []})
    api.post(RUNS).respond(200, json={**sample("run_started"), "runId": bad})
    with pytest.raises(aep_ais.MalformedResponseError) as caught:
        await ais.run_and_wait(AUDIENCE_ID, data_filter_start_time=SINCE)
    assert not isinstance(caught.value, aep_ais.ValidationError)
    assert caught.value.server_may_have_acted is True
    assert caught.value.audience_id == AUDIENCE_ID  # type: ignore[attr-defined]


# The look after a lost start answer ------------------------------------------------------


async def test_a_refused_look_after_a_lost_start_keeps_the_starts_error(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.get(RUNS).mock(
        side_effect=[
            httpx.Response(200, json={"runs": []}),
            httpx.Response(403, json={"error_code": "403003", "message": "no"}),
        ]
    )
    api.post(RUNS).respond(502, json={"message": "bad gateway"})
    with pytest.raises(aep_ais.BadGatewayError) as caught:
        await ais.run_and_wait(AUDIENCE_ID, data_filter_start_time=SINCE)
    assert caught.value.server_may_have_acted is True
    assert isinstance(caught.value.__context__, aep_ais.PermissionDeniedError)
    assert caught.value.audience_id == AUDIENCE_ID  # type: ignore[attr-defined]


async def test_a_run_another_caller_started_after_the_look_is_not_taken_for_ours(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Callable[[str], Any]
) -> None:
    # Found by the soak with two processes: our start fails before the server acts, the
    # other process starts the same window meanwhile; its run names another creator.
    mine = {**sample("run_started"), "createdBy": "me@techacct.adobe.com"}
    theirs = {
        **sample("run"),
        "runId": "theirs-1",
        "status": "PROCESSING",
        "dataFilterStartTime": SINCE,
        "createdAt": 1_800_000_000,
        "createdBy": "other@techacct.adobe.com",
    }
    listings = iter([{"runs": []}, {"runs": []}])
    # After the lost start, every look (they go on for a while: a listing may lag) shows
    # only theirs.
    api.get(RUNS).mock(
        side_effect=lambda request: httpx.Response(200, json=next(listings, {"runs": [theirs]}))
    )
    api.post(RUNS).mock(
        side_effect=[httpx.Response(200, json=mine), httpx.Response(502, json={"message": "?"})]
    )
    api.get(f"{RUNS}/{RUN_ID}").respond(200, json=sample("run"))
    first = await ais.run_and_wait(AUDIENCE_ID, data_filter_start_time=SINCE)
    assert first.run_id == RUN_ID
    with pytest.raises(aep_ais.BadGatewayError):
        await ais.run_and_wait(AUDIENCE_ID, data_filter_start_time=SINCE)


async def test_a_token_endpoint_outage_before_the_start_is_ridden_out(
    api: respx.MockRouter,
    ims: respx.Route,
    oauth_client: aep_ais.AISClient,
    sample: Callable[[str], Any],
) -> None:
    # Found by the soak: a 6-request IMS outage ended most run_and_wait calls that were
    # about to look or start. Nothing was sent yet, so the guard looks again later.
    ims.side_effect = [httpx.Response(503)] * 6 + [token()]
    listed = api.get(RUNS).respond(200, json={"runs": []})
    started = api.post(RUNS).respond(200, json=sample("run_started"))
    api.get(f"{RUNS}/{RUN_ID}").respond(200, json=sample("run"))
    run = await oauth_client.run_and_wait(AUDIENCE_ID, data_filter_start_time=SINCE)
    assert run.run_id == RUN_ID
    assert (listed.call_count, started.call_count) == (1, 1)


async def test_a_refused_token_before_the_start_ends_the_call_at_once(
    api: respx.MockRouter, ims: respx.Route, oauth_client: aep_ais.AISClient
) -> None:
    ims.respond(400, json={"error": "invalid_client"})
    with pytest.raises(aep_ais.TokenError) as caught:
        await oauth_client.run_and_wait(AUDIENCE_ID, data_filter_start_time=SINCE)
    assert caught.value.server_may_have_acted is False
    assert ims.call_count == 1
