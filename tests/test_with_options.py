"""`AISClient.with_options`: other policies for some calls, the same connections and guard."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx

import aep_ais
from aep_ais.testing import FakeClock
from tests.conftest import AUDIENCE_ID, OPERATION_ID, RUN_ID

RUN_PATH = f"/external-audience/{AUDIENCE_ID}/runs/{RUN_ID}"
OP_PATH = f"/external-audience/operations/{OPERATION_ID}"
RUN_BODY = {"runId": RUN_ID, "status": "SUCCESS"}


async def test_a_view_retries_by_its_own_policy_and_the_parent_by_its_own(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    route = api.get(RUN_PATH).mock(
        side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(200, json=RUN_BODY)]
    )
    once = ais.with_options(retry=aep_ais.RetryPolicy(max_attempts=1))
    with pytest.raises(aep_ais.ServiceUnavailableError):
        await once.get_run(AUDIENCE_ID, RUN_ID)
    assert route.call_count == 1
    # The parent keeps its default policy: it rides out the next 503.
    assert (await ais.get_run(AUDIENCE_ID, RUN_ID)).run_id == RUN_ID
    assert route.call_count == 3
    assert ais.retry == aep_ais.RetryPolicy()
    assert once.retry.max_attempts == 1


async def test_a_view_sends_with_its_own_timeout(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    route = api.get(RUN_PATH).respond(200, json=RUN_BODY)
    await ais.with_options(timeout=2.5).get_run(AUDIENCE_ID, RUN_ID)
    await ais.get_run(AUDIENCE_ID, RUN_ID)
    sent = [call.request.extensions["timeout"]["read"] for call in route.calls]
    assert sent == [2.5, 30.0]


async def test_a_view_waits_by_its_own_poll_policy(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    api.get(OP_PATH).respond(200, json={"operationId": OPERATION_ID, "status": "PROCESSING"})
    brief = ais.with_options(poll=aep_ais.PollPolicy(interval=1, multiplier=1, timeout=3))
    with pytest.raises(aep_ais.WaitTimeoutError) as caught:
        await brief.wait_for_operation(OPERATION_ID)
    assert caught.value.timeout == 3
    assert clock.now() == pytest.approx(3.0)
    assert ais.poll == aep_ais.PollPolicy()


async def test_a_view_shares_the_run_guard_and_closing_it_closes_nothing(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient]
) -> None:
    http = httpx.AsyncClient()
    try:
        ais = make_client(http_client=http, transport=None)
        view = ais.with_options(retry=aep_ais.RetryPolicy(max_attempts=2))
        assert view._run_guard is ais._run_guard
        assert view.org_id == ais.org_id and view.sandbox == ais.sandbox
        route = api.get(RUN_PATH).respond(200, json=RUN_BODY)
        async with view:
            await view.get_run(AUDIENCE_ID, RUN_ID)
        # The parent's connections are still open after the view's `async with` ended.
        assert not http.is_closed
        await ais.get_run(AUDIENCE_ID, RUN_ID)
        assert route.call_count == 2
    finally:
        await http.aclose()


async def test_a_users_own_http_client_keeps_its_timeout_unless_one_is_given(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient]
) -> None:
    route = api.get(RUN_PATH).respond(200, json=RUN_BODY)
    async with httpx.AsyncClient(timeout=7.0) as http:
        await make_client(http_client=http, transport=None).get_run(AUDIENCE_ID, RUN_ID)
        await make_client(http_client=http, transport=None, timeout=3.0).get_run(
            AUDIENCE_ID, RUN_ID
        )
    await make_client().get_run(AUDIENCE_ID, RUN_ID)
    sent = [call.request.extensions["timeout"]["read"] for call in route.calls]
    assert sent == [7.0, 3.0, 30.0]
