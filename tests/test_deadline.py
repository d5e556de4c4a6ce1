"""A wait's deadline is a hard bound: polls, token fetches and their retries run inside it.

Over a real socket against a server that trickles its answers (one byte every half
second), under asyncio and trio, and on the fake clock with an IMS blip.
"""

from __future__ import annotations

import datetime

import anyio
import httpx
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock, FaultPlan, running_server
from tests.conftest import spec

ORG = "0123456789ABCDEF01234567@AdobeOrg"
RUNS = "/external-audience/{}/runs/{}"
# Only a guard against a hang (the old code waited minutes): no timing is asserted.
HANG_GUARD = 30.0


async def _audience_with_a_run(emu: Emulator, clock: aep_ais.Clock) -> tuple[str, str]:
    async with aep_ais.AISClient(
        org_id=ORG,
        auth=aep_ais.StaticToken("setup-token"),
        api_key="key",
        clock=clock,
        transport=emu.transport(),
    ) as ais:
        op = await ais.create_and_wait(spec(), poll=aep_ais.PollPolicy(interval=0.01))
        assert op.audience_id is not None
        since = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        run = await ais.start_run(op.audience_id, data_filter_start_time=since)
        return op.audience_id, run.run_id


def _sent_at_or_after(emu: Emulator, deadline: float) -> list[tuple[float, str, str]]:
    return [entry for entry in emu.request_times if entry[0] >= deadline]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_trickling_answer_cannot_hold_a_wait_past_its_deadline(backend: str) -> None:
    async def main() -> None:
        # Real time on both sides (the same monotonic clock), so arrival times compare.
        emu = Emulator(operation_time=0.0, run_time=3600.0)
        audience_id, run_id = await _audience_with_a_run(emu, emu.clock)
        before = len(emu.request_times)
        with running_server(emu, trickle=0.5) as base_url:
            async with aep_ais.AISClient(
                org_id=ORG, auth=aep_ais.StaticToken("tok"), api_key="key", base_url=base_url
            ) as ais:
                deadline = ais.clock.now() + 3.0
                with anyio.fail_after(HANG_GUARD), pytest.raises(aep_ais.WaitTimeoutError):
                    await ais.wait_for_run(
                        audience_id, run_id, poll=aep_ais.PollPolicy(timeout=3.0)
                    )
        polls = emu.request_times[before:]
        assert polls and all(path == RUNS.format(audience_id, run_id) for _, _, path in polls)
        assert _sent_at_or_after(emu, deadline) == []

    anyio.run(main, backend=backend)


async def test_a_trickling_token_endpoint_cannot_hold_a_wait_past_its_deadline() -> None:
    emu = Emulator(operation_time=0.0, run_time=3600.0)
    audience_id, run_id = await _audience_with_a_run(emu, emu.clock)
    with running_server(emu, trickle=0.5) as base_url:
        auth = aep_ais.OAuthServerToServer(
            emu.client_id, emu.client_secret, token_url=f"{base_url}/ims/token/v3"
        )
        async with aep_ais.AISClient(org_id=ORG, auth=auth, base_url=base_url) as ais:
            deadline = ais.clock.now() + 3.0
            with anyio.fail_after(HANG_GUARD), pytest.raises(aep_ais.AISError) as caught:
                await ais.wait_for_run(audience_id, run_id, poll=aep_ais.PollPolicy(timeout=3.0))
    # The token request took the whole wait: a timeout, said as the wait's or the token's.
    assert isinstance(caught.value, aep_ais.WaitTimeoutError | aep_ais.TokenError)
    assert _sent_at_or_after(emu, deadline) == []


async def test_a_token_refresh_during_an_ims_blip_sends_nothing_after_the_deadline() -> None:
    clock = FakeClock(fixed_random=0.5)
    faults = FaultPlan().script("POST /ims/token/v3", ["503", "503", "503"])
    emu = Emulator(clock=clock, faults=faults, run_time=3600.0)
    audience_id, run_id = await _audience_with_a_run(emu, clock)
    auth = aep_ais.OAuthServerToServer(emu.client_id, emu.client_secret)
    async with aep_ais.AISClient(
        org_id=ORG, auth=auth, clock=clock, transport=emu.transport()
    ) as ais:
        deadline = clock.now() + 3.0
        with pytest.raises(aep_ais.AISError) as caught:
            await ais.wait_for_run(audience_id, run_id, poll=aep_ais.PollPolicy(timeout=3.0))
    assert isinstance(caught.value, aep_ais.WaitTimeoutError | aep_ais.TokenError)
    # IMS was asked before the deadline (and its retry waits were cut short by it).
    assert [p for t, _, p in emu.request_times if t < deadline].count("/ims/token/v3") >= 1
    assert _sent_at_or_after(emu, deadline) == []
    assert clock.now() <= deadline


async def test_a_401_that_arrives_past_the_deadline_ends_the_wait_as_a_timeout() -> None:
    # The token was revoked and the poll's 401 came back only after the wait's deadline:
    # no fresh token may be tried then, and the credential is not at fault. The wait ends
    # as a timeout carrying the ids (retryable), never as an AuthenticationError saying
    # the server did not act (seen in the trio soak: a resumed wait ended that way).
    clock = FakeClock(fixed_random=0.5)
    issued: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token/v3"):
            issued.append(f"tok-{len(issued)}")
            return httpx.Response(
                200, json={"access_token": issued[-1], "token_type": "bearer", "expires_in": 86399}
            )
        clock.advance(5.0)  # a slow answer: the deadline passes while it comes
        return httpx.Response(401, json={"error_code": "401013", "message": "token not valid"})

    auth = aep_ais.OAuthServerToServer("client", "secret")
    async with aep_ais.AISClient(
        org_id=ORG, auth=auth, clock=clock, transport=httpx.MockTransport(answer)
    ) as ais:
        with pytest.raises(aep_ais.WaitTimeoutError) as caught:
            await ais.wait_for_run("aud-1", "run-1", poll=aep_ais.PollPolicy(timeout=3.0))
    assert (caught.value.audience_id, caught.value.run_id) == ("aud-1", "run-1")
    assert caught.value.retryable
    assert issued == ["tok-0"]  # no fresh token was fetched past the deadline
