"""The emulator's options for what the docs leave open, and its fresh ids, with plain httpx."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from aep_ais.testing import Emulator, FakeClock

from .conftest import BASE, HEADERS, create_body, new_audience


@asynccontextmanager
async def _raw(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS) as c:
        yield c


def _code(answer: httpx.Response) -> str:
    return str(answer.json()["type"]).rsplit("/", 1)[1]


async def _start(http: httpx.AsyncClient, audience_id: str) -> httpx.Response:
    return await http.post(
        f"/external-audience/{audience_id}/runs", json={"dataFilterStartTime": 1_700_000_000}
    )


# list_query -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{"limit": "5"}, {"sortBy": "-createdAt"}, {"property": "status=SUCCESS"}, {"other": "1"}],
)
async def test_refuse_answers_400_to_any_query_on_the_run_listing(
    clock: FakeClock, params: dict[str, str]
) -> None:
    emu = Emulator(clock=clock, list_query="refuse")
    async with _raw(emu) as http:
        audience_id = await new_audience(http, clock)
        answer = await http.get(f"/external-audience/{audience_id}/runs", params=params)
        plain = await http.get(f"/external-audience/{audience_id}/runs")
    assert answer.status_code == 400
    assert _code(answer) == "100910-400"
    assert next(iter(params)) in answer.json()["detail"]
    assert plain.status_code == 200
    assert plain.json()["runs"] == []


async def test_documented_honours_the_commented_out_parameters(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, run_time=1.0)
    async with _raw(emu) as http:
        audience_id = await new_audience(http, clock)
        for _ in range(3):
            assert (await _start(http, audience_id)).status_code == 200
            clock.advance(2)
        answer = await http.get(
            f"/external-audience/{audience_id}/runs", params={"limit": "2", "sortBy": "createdAt"}
        )
    assert answer.status_code == 200
    assert len(answer.json()["runs"]) == 2


# listing_lag ------------------------------------------------------------------------------


async def test_an_active_run_shows_in_the_listing_only_after_the_lag(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, run_time=30.0, listing_lag=5.0)
    async with _raw(emu) as http:
        audience_id = await new_audience(http, clock)
        started = await _start(http, audience_id)
        run_id = started.json()["runId"]
        listing = f"/external-audience/{audience_id}/runs"
        clock.advance(4.9)
        early = (await http.get(listing)).json()["runs"]
        # The run itself is there: reading it by id and a second start both see it.
        one = await http.get(f"{listing}/{run_id}")
        refused = await _start(http, audience_id)
        clock.advance(0.1)
        late = (await http.get(listing)).json()["runs"]
    assert early == []
    assert one.status_code == 200
    assert refused.status_code == 409
    assert [r["runId"] for r in late] == [run_id]


async def test_a_finished_run_is_listed_even_within_the_lag(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, run_time=1.0, listing_lag=5.0)
    async with _raw(emu) as http:
        audience_id = await new_audience(http, clock)
        run_id = (await _start(http, audience_id)).json()["runId"]
        clock.advance(1.0)
        runs = (await http.get(f"/external-audience/{audience_id}/runs")).json()["runs"]
    assert [(r["runId"], r["status"]) for r in runs] == [(run_id, "SUCCESS")]


async def test_without_lag_a_started_run_is_listed_at_once(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, run_time=30.0)
    async with _raw(emu) as http:
        audience_id = await new_audience(http, clock)
        run_id = (await _start(http, audience_id)).json()["runId"]
        runs = (await http.get(f"/external-audience/{audience_id}/runs")).json()["runs"]
    assert [r["runId"] for r in runs] == [run_id]


# runs_per_audience_window and guardrail_status ---------------------------------------------


async def _runs_until_refused(
    http: httpx.AsyncClient, clock: FakeClock, audience_id: str, *, days: int, per_day: int = 10
) -> tuple[int, httpx.Response | None]:
    """Start runs one after another over `days` days; how many started, and the refusal."""
    started = 0
    for _ in range(days):
        for _ in range(per_day):
            answer = await _start(http, audience_id)
            if answer.status_code != 200:
                return started, answer
            started += 1
            clock.advance(10)
        clock.advance(86400)
    return started, None


async def test_by_day_the_audience_limit_starts_again_the_next_day(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, run_time=1.0)
    async with _raw(emu) as http:
        audience_id = await new_audience(http, clock)
        started, refusal = await _runs_until_refused(http, clock, audience_id, days=2)
    assert (started, refusal) == (20, None)


async def test_lifetime_counts_every_run_of_the_audience(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, run_time=1.0, runs_per_audience_window="lifetime")
    async with _raw(emu) as http:
        audience_id = await new_audience(http, clock)
        started, refusal = await _runs_until_refused(http, clock, audience_id, days=2)
        other = await new_audience(http, clock, name="Other buyers")
        fresh = await _start(http, other)
    assert started == 10
    assert refusal is not None
    assert refusal.status_code == 422
    assert _code(refusal) == "100960-422"
    assert "10 ingestion runs per audience" in refusal.json()["detail"]
    assert fresh.status_code == 200


@pytest.mark.parametrize("status", [400, 403, 409, 429])
async def test_the_guardrail_refusal_status_is_an_option(clock: FakeClock, status: int) -> None:
    emu = Emulator(clock=clock, run_time=1.0, guardrail_status=status)
    async with _raw(emu) as http:
        audience_id = await new_audience(http, clock)
        started, refusal = await _runs_until_refused(http, clock, audience_id, days=1, per_day=11)
    assert started == 10
    assert refusal is not None
    assert refusal.status_code == status
    assert refusal.json()["status"] == status
    assert _code(refusal) == f"100965-{status}"
    assert "guardrail" in refusal.json()["detail"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"list_query": "strict"},
        {"runs_per_audience_window": "week"},
        {"listing_lag": -1.0},
        {"listing_lag": float("nan")},
        {"guardrail_status": 200},
        {"guardrail_status": 503},
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Emulator(**kwargs)


# Fresh ids ---------------------------------------------------------------------------------


async def _ids(emu: Emulator, clock: FakeClock) -> list[str]:
    async with _raw(emu) as http:
        created = (await http.post("/external-audience/", json=create_body())).json()
        clock.advance(10)
        op = (await http.get(f"/external-audience/operations/{created['operationId']}")).json()
        run = (await _start(http, op["audienceId"])).json()
    return [created["operationId"], op["audienceId"], run["runId"]]


async def test_every_emulator_hands_out_fresh_random_uuids() -> None:
    first = await _ids(Emulator(clock=(clock := FakeClock())), clock)
    second = await _ids(Emulator(clock=(clock := FakeClock())), clock)
    assert not set(first) & set(second)
    for value in first + second:
        assert uuid.UUID(value).version == 4


async def test_a_seed_makes_the_ids_repeatable() -> None:
    first = await _ids(Emulator(clock=(clock := FakeClock()), seed=7), clock)
    again = await _ids(Emulator(clock=(clock := FakeClock()), seed=7), clock)
    other = await _ids(Emulator(clock=(clock := FakeClock()), seed=8), clock)
    assert first == again
    assert not set(first) & set(other)


async def test_an_id_from_another_emulator_is_unknown(clock: FakeClock) -> None:
    yesterday = Emulator(clock=clock)
    today = Emulator(clock=clock)
    async with _raw(yesterday) as http:
        kept = await new_audience(http, clock)
    async with _raw(today) as http:
        await new_audience(http, clock)
        answer = await http.get(f"/external-audience/{kept}/runs")
    assert answer.status_code == 404


# expressActivation --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False])
async def test_express_activation_is_echoed_and_cannot_be_updated(
    clock: FakeClock, value: bool
) -> None:
    emu = Emulator(clock=clock)
    async with _raw(emu) as http:
        created = await http.post("/external-audience/", json=create_body(expressActivation=value))
        clock.advance(10)
        op = (
            await http.get(f"/external-audience/operations/{created.json()['operationId']}")
        ).json()
        patch = await http.patch(
            f"/external-audience/{op['audienceId']}", json={"expressActivation": not value}
        )
    assert created.json()["operationDetails"]["expressActivation"] is value
    assert op["operationDetails"]["expressActivation"] is value
    assert patch.status_code == 400
    assert "expressActivation" in patch.json()["detail"]


async def test_express_activation_left_out_is_not_echoed(clock: FakeClock) -> None:
    emu = Emulator(clock=clock)
    async with _raw(emu) as http:
        created = await http.post("/external-audience/", json=create_body())
    assert "expressActivation" not in created.json()["operationDetails"]


async def test_encryption_inside_params_is_kept(clock: FakeClock) -> None:
    emu = Emulator(clock=clock)
    source = {
        "path": "a/b.csv",
        "type": "file",
        "cloudType": "S3",
        "baseConnectionId": "c-1",
        "encryption": {"publicKeyId": "k", "signVerificationId": "s"},
    }
    async with _raw(emu) as http:
        created = await http.post(
            "/external-audience/", json=create_body(sourceSpec={"params": source})
        )
    assert created.status_code == 202, created.text
    assert created.json()["operationDetails"]["sourceSpec"] == {"params": source}


def test_the_emulator_does_not_use_the_sdks_validation() -> None:
    import aep_ais.testing._rules as rules

    source = Path(rules.__file__).read_text("utf-8")
    assert "_validation" not in source and "_convert" not in source
