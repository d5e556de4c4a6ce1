"""`AISClient.with_options`: other policies for some calls, the same connections and guard."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import httpx
import pytest
import respx

import aep_ais
from aep_ais.testing import FakeClock
from tests.conftest import API_KEY, AUDIENCE_ID, BASE_URL, OPERATION_ID, ORG_ID, RUN_ID, SANDBOX

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


# Policies live in one place -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("retry", aep_ais.RetryPolicy(max_attempts=1), "with_options(retry="),
        ("poll", aep_ais.PollPolicy(timeout=5), "with_options(poll="),
        ("sandbox", "other", "with_options(sandbox="),
        ("clock", FakeClock(), "clock="),
        ("auth", aep_ais.StaticToken("other-token"), "auth="),
        ("org_id", "OTHER@AdobeOrg", "another client"),
        ("base_url", "https://example.com", "another client"),
    ],
)
async def test_a_clients_settings_are_read_only(
    ais: aep_ais.AISClient, name: str, value: object, hint: str
) -> None:
    # Assigning one used to leave the transport on the old value: requests went on with
    # the old retry policy, clock, token or sandbox header.
    before = getattr(ais, name)
    with pytest.raises(AttributeError, match="read-only") as caught:
        setattr(ais, name, value)
    assert hint in str(caught.value)
    assert getattr(ais, name) is before


async def test_with_options_retry_takes_effect_at_the_transport(
    api: respx.MockRouter, ais: aep_ais.AISClient, clock: FakeClock
) -> None:
    route = api.get(RUN_PATH).mock(
        side_effect=[httpx.Response(503)] * 4 + [httpx.Response(200, json=RUN_BODY)]
    )
    patient = ais.with_options(retry=aep_ais.RetryPolicy(max_attempts=5, backoff=2.0))
    assert (await patient.get_run(AUDIENCE_ID, RUN_ID)).run_id == RUN_ID
    assert route.call_count == 5
    assert len(clock.sleeps) == 4


# Views on other sandboxes -------------------------------------------------------------


async def test_each_view_sends_its_own_sandbox(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    route = api.get(RUN_PATH).respond(200, json=RUN_BODY)
    dev = ais.with_options(sandbox="dev")
    stage = dev.with_options(sandbox="stage", retry=aep_ais.RetryPolicy(max_attempts=1))
    for client in (ais, dev, stage, ais):
        await client.get_run(AUDIENCE_ID, RUN_ID)
    sent = [call.request.headers for call in route.calls]
    assert [h["x-sandbox-name"] for h in sent] == [SANDBOX, "dev", "stage", SANDBOX]
    assert {h["x-gw-ims-org-id"] for h in sent} == {ais.org_id}
    assert {h["x-api-key"] for h in sent} == {API_KEY}
    assert (dev.sandbox, stage.sandbox, ais.sandbox) == ("dev", "stage", SANDBOX)
    assert "sandbox='dev'" in repr(dev)


async def test_a_sandbox_name_is_checked_like_the_clients(ais: aep_ais.AISClient) -> None:
    with pytest.raises(aep_ais.ValidationError, match="sandbox"):
        ais.with_options(sandbox="dev\r\nX-Evil: 1")


async def test_views_on_other_sandboxes_share_one_token(clock: FakeClock) -> None:
    token_url = "https://ims-na1.adobelogin.com/ims/token/v3"
    with respx.mock(assert_all_called=True) as mock:
        ims = mock.post(token_url).respond(
            200, json={"access_token": "tok-1", "token_type": "bearer", "expires_in": 86399}
        )
        route = mock.get(f"{BASE_URL}{RUN_PATH}").respond(200, json=RUN_BODY)
        auth = aep_ais.OAuthServerToServer(client_id="cid", client_secret="s3cret")
        async with aep_ais.AISClient(org_id=ORG_ID, auth=auth, clock=clock) as ais:
            views = [ais.with_options(sandbox=name) for name in ("dev", "stage", "qa")]
            for client in (*views, ais):
                await client.get_run(AUDIENCE_ID, RUN_ID)
    assert ims.call_count == 1
    assert {c.request.headers["authorization"] for c in route.calls} == {"Bearer tok-1"}


def _two_sandbox_runs(api: respx.MockRouter) -> list[str]:
    """Runs that end only once a run was started in each of two sandboxes."""
    started: list[str] = []
    runs = f"/external-audience/{AUDIENCE_ID}/runs"

    def start(request: httpx.Request) -> httpx.Response:
        started.append(request.headers["x-sandbox-name"])
        return httpx.Response(200, json={"runId": f"run-{started[-1]}", "audienceId": AUDIENCE_ID})

    def poll(request: httpx.Request, run_id: str) -> httpx.Response:
        status = "SUCCESS" if len(started) == 2 else "PROCESSING"
        return httpx.Response(200, json={"runId": run_id, "status": status})

    api.get(runs).respond(200, json={"runs": []})
    api.post(runs).mock(side_effect=start)
    api.get(url__regex=rf".*{runs}/(?P<run_id>[^/]+)$").mock(side_effect=poll)
    return started


async def test_the_run_guard_is_kept_per_sandbox(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    # The same audience id in two sandboxes is two audiences: neither waits for the other.
    # With one key per audience id, the first run would wait for an end that needs the
    # second run, and time out.
    started = _two_sandbox_runs(api)
    dev = ais.with_options(sandbox="dev")
    poll = aep_ais.PollPolicy(interval=1, multiplier=1, jitter=0, timeout=30)
    results: dict[str, aep_ais.IngestionRun] = {}

    async def run(client: aep_ais.AISClient) -> None:
        results[client.sandbox] = await client.run_and_wait(
            AUDIENCE_ID, data_filter_start_time=1_749_000_000, poll=poll
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, ais)
        tg.start_soon(run, dev)
    assert sorted(started) == sorted([SANDBOX, "dev"])
    assert results[SANDBOX].run_id == f"run-{SANDBOX}"
    assert results["dev"].run_id == "run-dev"


async def test_a_view_on_the_same_sandbox_shares_the_guards_keys(
    ais: aep_ais.AISClient,
) -> None:
    same = ais.with_options(retry=aep_ais.RetryPolicy(max_attempts=1))
    dev = ais.with_options(sandbox="dev")
    async with same._run_guard.hold(AUDIENCE_ID):
        assert ais._run_guard.busy(AUDIENCE_ID) is not None
        assert dev._run_guard.busy(AUDIENCE_ID) is None
        assert dev.with_options(sandbox=SANDBOX)._run_guard.busy(AUDIENCE_ID) is not None


async def test_closing_the_parent_closes_the_connections_its_views_share(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient]
) -> None:
    route = api.get(RUN_PATH).respond(200, json=RUN_BODY)
    ais = make_client()
    dev = ais.with_options(sandbox="dev")
    await dev.aclose()  # a view owns nothing: closing it closes nothing
    await dev.get_run(AUDIENCE_ID, RUN_ID)
    assert route.call_count == 1
    await ais.aclose()
    assert ais._transport._http.is_closed
    assert dev._transport._http is ais._transport._http
