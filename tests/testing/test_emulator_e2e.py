"""The SDK's `AISClient` against the emulator: in-process, over a real socket, under trio."""

from __future__ import annotations

import errno
import socket
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock, FaultPlan, running_server
from aep_ais.testing._server import bind_socket
from tests.conftest import spec

ORG = "0123456789ABCDEF01234567@AdobeOrg"
CREATE = "POST /external-audience/"


def make_client(emu: Emulator, clock: FakeClock, **overrides: Any) -> aep_ais.AISClient:
    kwargs: dict[str, Any] = {
        "org_id": ORG,
        "sandbox": "dev",
        "auth": aep_ais.StaticToken("static-token"),
        "api_key": "my-api-key",
        "clock": clock,
        "transport": emu.transport(),
    }
    kwargs.update(overrides)
    return aep_ais.AISClient(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(fixed_random=0.5)


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(clock=clock, operation_time=3.0, run_time=6.0)


@pytest.fixture
async def ais(emu: Emulator, clock: FakeClock) -> AsyncIterator[aep_ais.AISClient]:
    async with make_client(emu, clock) as client:
        yield client


async def life_cycle(ais: aep_ais.AISClient, emu: Emulator, clock: FakeClock) -> None:
    """Every endpoint once, polling on the shared virtual clock; asserts as it goes."""
    op = await ais.create_audience(spec(name="Life cycle"))
    assert op.details is not None and op.details.ttl_in_days == 40
    while not (op := await ais.get_operation(op.operation_id)).done:
        assert op.status == aep_ais.OperationStatus.PROCESSING
        await clock.sleep(1.0)
    assert op.status == aep_ais.OperationStatus.SUCCESS
    assert op.audience_id is not None and op.audience_id in emu.audiences
    audience_id = op.audience_id

    started = await ais.start_run(audience_id, data_filter_start_time=1_700_000_000)
    assert started.run_id in emu.runs
    seen = []
    while not (run := await ais.get_run(audience_id, started.run_id)).done:
        seen.append([s.status for s in run.details])
        await clock.sleep(2.0)
    assert run.status == aep_ais.RunStatus.SUCCESS
    assert [s.stage for s in run.details] == ["DATASET_INGEST", "PROFILE_STORE_INGEST"]
    assert ["PROCESSING", "QUEUED"] in seen
    assert run.data_filter_start_time is not None
    assert int(run.data_filter_start_time.timestamp()) == 1_700_000_000

    runs = await ais.list_runs(audience_id, status="SUCCESS", limit=5)
    assert [r.run_id for r in runs] == [run.run_id]
    assert runs.page == aep_ais.Page(limit=5, count=1, total_count=1)

    updated = await ais.update_audience(
        audience_id, aep_ais.AudienceUpdate(description="updated", ttl_in_days=12)
    )
    assert (updated.description, updated.ttl_in_days) == ("updated", 12)
    assert emu.audiences[audience_id].details["description"] == "updated"

    extended = await ais.extend_ttl(audience_id)
    assert extended == aep_ais.TTLExtension(audience_id=audience_id, name="Life cycle")

    await ais.delete_audience(audience_id)
    assert audience_id not in emu.audiences
    with pytest.raises(aep_ais.NotFoundError) as caught:
        await ais.get_run(audience_id, run.run_id)
    assert caught.value.error_code == "100940-404"


async def test_the_sdk_life_cycle_in_process(
    ais: aep_ais.AISClient, emu: Emulator, clock: FakeClock
) -> None:
    await life_cycle(ais, emu, clock)
    # Every request was answered once: the SDK never needed a retry here.
    assert all(status < 500 for _, _, status in emu.request_log)
    assert emu.create_attempts == {"Life cycle": 1}


def test_the_sdk_life_cycle_under_trio() -> None:
    async def main() -> None:
        clock = FakeClock(fixed_random=0.5)
        emu = Emulator(clock=clock, operation_time=3.0, run_time=6.0)
        async with make_client(emu, clock) as ais:
            await life_cycle(ais, emu, clock)

    anyio.run(main, backend="trio")


async def test_the_sdk_life_cycle_over_a_real_socket(emu: Emulator, clock: FakeClock) -> None:
    with running_server(emu) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with make_client(emu, clock, transport=None, base_url=base_url) as ais:
            await life_cycle(ais, emu, clock)
        # The documented base path works over the socket as well.
        async with make_client(
            emu, clock, transport=None, base_url=f"{base_url}/data/core/ais"
        ) as ais:
            op = await ais.get_operation(next(iter(emu.operations)))
        assert op.status == aep_ais.OperationStatus.SUCCESS
        assert emu.request_log[-1] == (
            "GET",
            f"/external-audience/operations/{op.operation_id}",
            200,
        )


async def test_a_dropped_connection_over_a_socket_is_a_connection_error(
    clock: FakeClock,
) -> None:
    emu = Emulator(clock=clock, faults=FaultPlan().script(CREATE, ["drop-after"]))
    with running_server(emu) as base_url:
        async with make_client(emu, clock, transport=None, base_url=base_url) as ais:
            with pytest.raises(aep_ais.APIConnectionError) as caught:
                await ais.create_audience(spec())
    assert caught.value.server_may_have_acted is True
    assert emu.create_attempts == {"Sample external audience": 1}
    assert len(emu.operations) == 1


async def test_waiting_helpers_drive_a_full_cycle(
    ais: aep_ais.AISClient, emu: Emulator, clock: FakeClock
) -> None:
    op = await ais.create_and_wait(spec())
    assert op.status == aep_ais.OperationStatus.SUCCESS
    assert op.audience_id is not None
    run = await ais.run_and_wait(op.audience_id, data_filter_start_time=1_700_000_000)
    assert run.status == aep_ais.RunStatus.SUCCESS
    assert len(emu.runs) == 1


# The SDK's retry rules, checked against the emulator's own record of what it did ------------


@pytest.mark.parametrize(
    ("script", "error", "posts", "attempts"),
    [
        ([429], None, 2, 1),  # refused before acting: retried, created once
        (["drop"], None, 2, 1),  # never connected: retried, created once
        ([429, "drop", 429], None, 4, 1),
        (["500"], aep_ais.InternalServerError, 1, 0),  # a 5xx may hide an act: not retried
        (["500-after"], aep_ais.InternalServerError, 1, 1),
        (["drop-after"], aep_ais.APIConnectionError, 1, 1),
        ([503, 429], aep_ais.ServiceUnavailableError, 1, 0),
        (["html"], aep_ais.BadGatewayError, 1, 0),
        (["truncated"], aep_ais.MalformedResponseError, 1, 1),
    ],
)
async def test_a_create_is_never_sent_twice_after_the_server_may_have_acted(
    clock: FakeClock,
    script: list[int | str],
    error: type[Exception] | None,
    posts: int,
    attempts: int,
) -> None:
    emu = Emulator(clock=clock, faults=FaultPlan().script(CREATE, script))
    async with make_client(emu, clock) as ais:
        if error is None:
            await ais.create_audience(spec())
        else:
            with pytest.raises(error):
                await ais.create_audience(spec())
    assert sum(1 for method, _, _ in emu.request_log if method == "POST") == posts
    assert sum(emu.create_attempts.values()) == attempts
    assert len(emu.operations) == attempts


async def test_polls_are_retried_through_faults(
    ais: aep_ais.AISClient, emu: Emulator, clock: FakeClock
) -> None:
    op = await ais.create_audience(spec())
    emu.faults.script("GET /external-audience/operations/x", [503, "drop-after", 429])
    clock.advance(5)
    got = await ais.get_operation(op.operation_id)
    assert got.status == aep_ais.OperationStatus.SUCCESS
    assert [s for m, _, s in emu.request_log if m == "GET"] == [503, 0, 429, 200]
    assert clock.sleeps[-1] == 1.0  # the 429's Retry-After


async def test_platform_refusals_map_to_sdk_errors(
    ais: aep_ais.AISClient, emu: Emulator, clock: FakeClock
) -> None:
    op = await ais.create_audience(spec())
    with pytest.raises(aep_ais.ConflictError) as duplicate:
        await ais.create_audience(spec())
    assert duplicate.value.error_code == "100950-409"
    clock.advance(5)
    audience_id = (await ais.get_operation(op.operation_id)).audience_id
    assert audience_id is not None
    first = await ais.start_run(audience_id, data_filter_start_time=1)
    with pytest.raises(aep_ais.ConflictError) as active:
        await ais.start_run(audience_id, data_filter_start_time=1)
    assert first.run_id in str(active.value)
    with pytest.raises(aep_ais.UnprocessableEntityError) as unknown_field:
        await ais.update_audience(
            audience_id,
            aep_ais.AudienceUpdate(fields=[aep_ais.AudienceField(name="nope", labels=[])]),
        )
    assert unknown_field.value.error_code == "100960-422"


async def test_oauth_tokens_from_the_emulator_with_a_refresh_after_revocation(
    clock: FakeClock,
) -> None:
    emu = Emulator(clock=clock, strict_tokens=True)
    auth = aep_ais.OAuthServerToServer(emu.client_id, emu.client_secret, token_url=emu.token_url)
    async with make_client(emu, clock, auth=auth, api_key=None) as ais:
        op = await ais.create_audience(spec())
        await ais.get_operation(op.operation_id)
        assert emu.tokens_issued == 1
        emu.revoke(next(iter(emu.tokens)))
        await ais.get_operation(op.operation_id)
        assert emu.tokens_issued == 2
    statuses = Counter(status for _, _, status in emu.request_log)
    assert statuses == Counter({200: 4, 202: 1, 401: 1})


async def test_oauth_over_a_real_socket(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, strict_tokens=True)
    with running_server(emu) as base_url:
        auth = aep_ais.OAuthServerToServer(
            emu.client_id, emu.client_secret, token_url=f"{base_url}/ims/token/v3"
        )
        async with make_client(
            emu, clock, auth=auth, api_key=None, transport=None, base_url=base_url
        ) as ais:
            op = await ais.create_audience(spec())
    assert emu.tokens_issued == 1
    assert op.operation_id in emu.operations


async def test_the_asgi_app_serves_through_httpx_asgi_transport(emu: Emulator) -> None:
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emu") as http:
        answer = await http.get("/external-audience/x/runs")
    assert answer.status_code == 401
    assert answer.json()["type"].endswith("100920-401")


def test_running_server_frees_its_port(emu: Emulator) -> None:
    with running_server(emu) as base_url:
        answer = httpx.get(f"{base_url}/external-audience/x/runs")
        assert answer.status_code == 401
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/external-audience/x/runs")


def test_bind_socket_listens_at_once_and_refuses_a_taken_port() -> None:
    # What `aep-ais emulator` relies on: a free port is known and listening before
    # `serve(..., sock=...)` runs, a taken one fails before anything is printed.
    with bind_socket("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with pytest.raises(OSError) as caught:
            bind_socket("127.0.0.1", port)
        assert caught.value.errno == errno.EADDRINUSE


async def test_concurrent_creates_under_random_faults_never_duplicate(clock: FakeClock) -> None:
    plan = FaultPlan(rate=0.4, kinds=(429, "drop", 503, "500-after", "drop-after"), seed=5)
    emu = Emulator(clock=clock, faults=plan, seed=5)
    outcomes: dict[str, BaseException | None] = {}

    async def create(client: aep_ais.AISClient, name: str) -> None:
        try:
            await client.create_audience(spec(name=name))
        except aep_ais.AISError as exc:
            outcomes[name] = exc
        else:
            outcomes[name] = None

    async with make_client(emu, clock) as client, anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(create, client, f"audience-{i}")

    made = Counter(op.name for op in emu.operations.values())
    assert max(emu.create_attempts.values()) == 1
    assert made == emu.create_attempts
    for name, error in outcomes.items():
        if error is None:
            assert made[name] == 1
        elif not getattr(error, "server_may_have_acted", True):
            assert made[name] == 0, name  # the SDK said the server did nothing: true
    assert sum(e is None for e in outcomes.values()) >= 30
    assert sum(e is not None for e in outcomes.values()) >= 5
    # The plan really did hit both before and after handling.
    assert {"429", "drop-before", "500-after", "drop-after"} <= set(emu.faults_injected)
