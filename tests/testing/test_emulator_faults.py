"""Fault injection: before or after the server acts, scripted or by rate, seeded."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

import httpx
import pytest

import aep_ais
from aep_ais._errors import parse_error_body
from aep_ais.testing import Emulator, FakeClock, Fault, FaultPlan
from tests.conftest import spec

from .conftest import BASE, HEADERS, create_body, new_audience

CREATE = "POST /external-audience/"


def client(emu: Emulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS)


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        (429, "429"),
        ("500", "500-before"),
        ("502-after", "502-after"),
        ("drop", "drop-before"),
        ("drop-after", "drop-after"),
        ("SLOW-after", "slow-after"),
        (504, "504-before"),
        ("html", "html-before"),
        ("truncated", "truncated-after"),
        (401, "401"),
        ("403-before", "403"),
        ("404", "404"),
        (409, "409"),
        (422, "422"),
    ],
)
def test_fault_specs_parse(spec: int | str, label: str) -> None:
    assert Fault.parse(spec).label == label


@pytest.mark.parametrize(
    "spec", [418, 400, "teapot", "500-during", "404-during", "truncated-before"]
)
def test_bad_fault_specs_are_refused_with_the_accepted_kinds(spec: int | str) -> None:
    with pytest.raises(ValueError) as refused:
        Fault.parse(spec)
    assert str(refused.value) == (
        f"unknown fault {spec!r}: a status (401, 403, 404, 409, 422, 429, 500, 502, 503, 504), "
        "drop, slow, html or truncated, optionally followed by -before or -after"
        if spec != "truncated-before"
        else "a truncated answer needs an answer: use 'truncated' (after)"
    )


@pytest.mark.parametrize("status", [401, 403, 404, 409, 422, 429])
def test_a_4xx_never_hits_after_the_server_acted(status: int) -> None:
    with pytest.raises(ValueError) as refused:
        FaultPlan().script(CREATE, [f"{status}-after"])
    assert str(refused.value) == (
        f"a {status} means the server did not act: '{status}-after' is not a fault"
    )


def test_plan_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="rate"):
        FaultPlan(rate=1.5)
    with pytest.raises(ValueError, match="kind"):
        FaultPlan(rate=0.5, kinds=())
    with pytest.raises(ValueError, match="no emulator route"):
        FaultPlan().script("GET /audiences", [500])


async def test_scripted_faults_hit_before_or_after_the_server_acts(clock: FakeClock) -> None:
    plan = FaultPlan().script(CREATE, ["500-after", "drop-after", 429, 500, "drop", None])
    emu = Emulator(clock=clock, faults=plan)
    async with client(emu) as http:
        after_500 = await http.post("/external-audience/", json=create_body(name="a"))
        with pytest.raises(httpx.ReadError):
            await http.post("/external-audience/", json=create_body(name="b"))
        limited = await http.post("/external-audience/", json=create_body(name="c"))
        before_500 = await http.post("/external-audience/", json=create_body(name="d"))
        with pytest.raises(httpx.ConnectError):
            await http.post("/external-audience/", json=create_body(name="e"))
        passed = await http.post("/external-audience/", json=create_body(name="f"))
        normal = await http.post("/external-audience/", json=create_body(name="g"))

    assert [after_500.status_code, limited.status_code, before_500.status_code] == [500, 429, 500]
    assert limited.headers["retry-after"] == "1"
    assert (passed.status_code, normal.status_code) == (202, 202)
    # Only the faults that hit after handling left an operation behind.
    assert sorted(op.name for op in emu.operations.values()) == ["a", "b", "f", "g"]
    assert emu.create_attempts == Counter({"a": 1, "b": 1, "f": 1, "g": 1})
    assert emu.faults_injected == Counter(
        {"500-after": 1, "drop-after": 1, "429": 1, "500-before": 1, "drop-before": 1}
    )
    assert [status for _, _, status in emu.request_log] == [500, 0, 429, 500, 0, 202, 202]
    assert plan.pending(CREATE) == 0


async def test_a_script_names_a_route_for_every_id(clock: FakeClock) -> None:
    plan = FaultPlan().script("GET /external-audience/any-id/runs", [503, "502-after"])
    emu = Emulator(clock=clock, faults=plan)
    async with client(emu) as http:
        audience_id = await new_audience(http, clock)
        first = await http.get(f"/external-audience/{audience_id}/runs")
        second = await http.get(f"/external-audience/{audience_id}/runs")
        third = await http.get(f"/external-audience/{audience_id}/runs")
    assert [first.status_code, second.status_code, third.status_code] == [503, 502, 200]
    assert parse_error_body(first.json()) == (None, "Service temporarily unavailable", None)
    assert parse_error_body(second.json())[0] == "100970-502"


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (429, 429, "429050"),
        (500, 500, "100970-500"),
        (502, 502, "100970-502"),
        (503, 503, None),
        (504, 504, "504001"),
        (401, 401, "401013"),
        (403, 403, "403003"),
        (404, 404, "100940-404"),
        (409, 409, "100950-409"),
        (422, 422, "100960-422"),
    ],
)
async def test_every_fault_answer_is_readable_by_the_sdk_parser(
    clock: FakeClock, kind: int, status: int, code: str | None
) -> None:
    emu = Emulator(clock=clock, faults=FaultPlan().script(CREATE, [kind]))
    async with client(emu) as http:
        answer = await http.post("/external-audience/", json=create_body())
    assert answer.status_code == status
    parsed_code, message, _ = parse_error_body(answer.json())
    assert parsed_code == code
    assert message


@pytest.mark.parametrize("when", ["before", "after"])
async def test_slow_answers_wait_on_the_emulator_clock(clock: FakeClock, when: str) -> None:
    plan = FaultPlan(slow_seconds=7.5).script(CREATE, [f"slow-{when}"])
    emu = Emulator(clock=clock, faults=plan, operation_time=5.0)
    async with client(emu) as http:
        answer = await http.post("/external-audience/", json=create_body())
    assert answer.status_code == 202
    assert clock.sleeps == [7.5]
    assert clock.now() == 7.5
    op = emu.operations[answer.json()["operationId"]]
    # Handled after the delay, the operation is still going; handled before, it is done.
    assert op.status(clock.now()) == ("SUCCESS" if when == "after" else "PROCESSING")
    assert emu.faults_injected == {f"slow-{when}": 1}


async def test_a_rate_hits_about_that_share_and_spares_the_token_endpoint(
    clock: FakeClock,
) -> None:
    emu = Emulator(clock=clock, faults=FaultPlan(rate=0.3, kinds=(503,), seed=1))
    async with client(emu) as http:
        statuses = [(await http.get("/external-audience/x/runs")).status_code for _ in range(200)]
        tokens = [
            (
                await http.post(
                    emu.token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": emu.client_id,
                        "client_secret": emu.client_secret,
                    },
                )
            ).status_code
            for _ in range(20)
        ]
    assert set(statuses) == {404, 503}
    assert 40 <= statuses.count(503) <= 80
    assert emu.faults_injected == {"503-before": statuses.count(503)}
    assert tokens == [200] * 20


async def test_the_token_endpoint_can_be_faulted_too(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, faults=FaultPlan(rate=1.0, kinds=(502,), token_endpoint=True))
    async with client(emu) as http:
        answer = await http.post(emu.token_url, data={"grant_type": "client_credentials"})
    assert answer.status_code == 502
    assert emu.tokens_issued == 0


async def _session(seed: int, fault_seed: int) -> tuple[list[Any], list[str]]:
    clock = FakeClock()
    plan = FaultPlan(rate=0.4, kinds=(429, "500-after", "drop", "drop-after"), seed=fault_seed)
    emu = Emulator(clock=clock, faults=plan, seed=seed)
    async with client(emu) as http:
        for i in range(30):
            with contextlib.suppress(httpx.TransportError):
                await http.post("/external-audience/", json=create_body(name=f"n{i}"))
            clock.advance(1)
    return emu.request_log, sorted(emu.operations)


async def test_the_same_seeds_give_the_same_session() -> None:
    first = await _session(seed=3, fault_seed=9)
    assert first == await _session(seed=3, fault_seed=9)
    assert first[0] != (await _session(seed=3, fault_seed=10))[0]
    assert first[1] != (await _session(seed=4, fault_seed=9))[1]


async def test_html_pages_and_truncated_answers(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, faults=FaultPlan().script(CREATE, ["html", "truncated"]))
    async with client(emu) as http:
        page = await http.post("/external-audience/", json=create_body(name="a"))
        cut = await http.post("/external-audience/", json=create_body(name="b"))
    assert (page.status_code, page.headers["content-type"]) == (502, "text/html")
    assert page.text.startswith("<html>")
    assert cut.status_code == 202
    with pytest.raises(ValueError):
        cut.json()
    assert cut.text.startswith('{"operationId":')
    assert [op.name for op in emu.operations.values()] == ["b"]


async def test_injected_4xx_answers_come_before_the_server_acts(clock: FakeClock) -> None:
    plan = FaultPlan().script(CREATE, [401, 403, 404, 409, 422, None])
    emu = Emulator(clock=clock, faults=plan)
    async with client(emu) as http:
        answers = [
            await http.post("/external-audience/", json=create_body(name=f"n{i}")) for i in range(6)
        ]
    assert [a.status_code for a in answers] == [401, 403, 404, 409, 422, 202]
    assert [op.name for op in emu.operations.values()] == ["n5"]
    assert emu.create_attempts == Counter({"n5": 1})
    assert emu.faults_injected == Counter({"401": 1, "403": 1, "404": 1, "409": 1, "422": 1})
    assert answers[2].json()["detail"] == "not found in this sandbox (an injected fault)"
    assert answers[2].json()["report"]["requestId"] == answers[2].headers["x-request-id"]


async def test_an_injected_401_is_what_a_revoked_token_gets(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, faults=FaultPlan().script("GET /external-audience/x/runs", [401]))
    async with client(emu) as http:
        injected = await http.get("/external-audience/x/runs")
        emu.revoke("any-token")  # the token the raw client sends
        revoked = await http.get("/external-audience/x/runs")
    assert (injected.status_code, revoked.status_code) == (401, 401)
    assert injected.content == revoked.content
    assert injected.headers["content-type"] == revoked.headers["content-type"]


async def test_the_sdk_meets_injected_4xx_as_its_own_errors(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, strict_tokens=True)
    emu.faults.script("GET /external-audience/operations/op", [401, 404, 403, None])
    auth = aep_ais.OAuthServerToServer(emu.client_id, emu.client_secret, token_url=emu.token_url)
    async with aep_ais.AISClient(
        org_id="0123456789ABCDEF01234567@AdobeOrg",
        sandbox="dev",
        auth=auth,
        clock=clock,
        transport=emu.transport(),
    ) as ais:
        op = await ais.create_audience(spec())
        # The 401 makes the SDK drop its token and retry once, with a fresh one.
        with pytest.raises(aep_ais.NotFoundError) as missing:
            await ais.get_operation(op.operation_id)
        assert missing.value.error_code == "100940-404"
        with pytest.raises(aep_ais.PermissionDeniedError):
            await ais.get_operation(op.operation_id)
        assert (await ais.get_operation(op.operation_id)).operation_id == op.operation_id
    assert emu.tokens_issued == 2
    assert [status for _, _, status in emu.request_log if status != 200][1:] == [401, 404, 403]
