"""Ingestion runs on the emulator: stages, one at a time, guardrails, listing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aep_ais.testing import Emulator, FakeClock

from .conftest import BASE, HEADERS, new_audience
from .test_emulator_api import EPOCH, assert_ais_error

START = {"dataFilterStartTime": 1_700_000_000}


async def start(http: httpx.AsyncClient, audience_id: str, **body: Any) -> httpx.Response:
    return await http.post(f"/external-audience/{audience_id}/runs", json=body or START)


async def test_a_run_goes_through_both_stages_in_turn(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    audience_id = await new_audience(http, clock)  # virtual time is now 10
    started = await start(http, audience_id, dataFilterStartTime=5, dataFilterEndTime=9)
    assert started.status_code == 200
    run = started.json()
    # The documented start answer: no status and no stages yet.
    assert set(run) == {
        "audienceName",
        "audienceId",
        "runId",
        "differentialIngestion",
        "dataFilterStartTime",
        "dataFilterEndTime",
        "createdAt",
        "createdBy",
    }
    assert (run["dataFilterStartTime"], run["dataFilterEndTime"]) == (5, 9)
    assert run["createdAt"] == EPOCH + 10
    assert run["differentialIngestion"] is False

    path = f"/external-audience/{audience_id}/runs/{run['runId']}"
    seen = []
    for _ in range(3):
        body = (await http.get(path)).json()
        seen.append((body["status"], [s["status"] for s in body["details"]]))
        clock.advance(2.0)  # run_time is 4: stage one ends at 2, stage two at 4
    assert seen == [
        ("PROCESSING", ["PROCESSING", "QUEUED"]),
        ("PROCESSING", ["SUCCESS", "PROCESSING"]),
        ("SUCCESS", ["SUCCESS", "SUCCESS"]),
    ]
    stages = (await http.get(path)).json()["details"]
    assert [s["stage"] for s in stages] == ["DATASET_INGEST", "PROFILE_STORE_INGEST"]
    assert stages[0]["flowRunId"] != stages[1]["flowRunId"]

    second = (await start(http, audience_id)).json()
    assert second["differentialIngestion"] is True
    assert second["dataFilterEndTime"] == second["createdAt"]  # no end given: up to now


async def test_a_second_run_is_refused_while_one_is_in_progress(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator
) -> None:
    audience_id = await new_audience(http, clock)
    first = (await start(http, audience_id)).json()["runId"]
    clock.advance(3.9)
    assert_ais_error(await start(http, audience_id), 409, "100950-409", first)
    clock.advance(0.1)
    assert (await start(http, audience_id)).status_code == 200
    assert len(emu.runs) == 2
    assert emu.start_attempts[audience_id] == 3


@pytest.mark.parametrize("by", ["audience", "path"])
async def test_failing_runs_end_failed_at_the_profile_stage(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator, by: str
) -> None:
    audience_id = await new_audience(http, clock)
    emu.failing_runs.add(audience_id if by == "audience" else "activation/spring/buyers.csv")
    run_id = (await start(http, audience_id)).json()["runId"]
    clock.advance(4)
    run = (await http.get(f"/external-audience/{audience_id}/runs/{run_id}")).json()
    assert run["status"] == "FAILED"
    assert [s["status"] for s in run["details"]] == ["SUCCESS", "FAILED"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "dataFilterStartTime is required"),
        ({"dataFilterStartTime": "1700000000"}, "epoch seconds"),
        ({"dataFilterStartTime": -1}, "epoch seconds"),
        ({"dataFilterStartTime": 1_700_000_000_000}, "milliseconds"),
        ({"dataFilterStartTime": 10, "dataFilterEndTime": 9}, "before"),
        ({"dataFilterStartTime": 10, "data_filter_end_time": 11}, "data_filter_end_time"),
    ],
)
async def test_invalid_run_requests_are_400(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator, body: dict[str, Any], words: str
) -> None:
    audience_id = await new_audience(http, clock)
    answer = await http.post(f"/external-audience/{audience_id}/runs", json=body)
    assert_ais_error(answer, 400, "100910-400", words)
    assert emu.runs == {}


async def _run_to_end(http: httpx.AsyncClient, clock: FakeClock, audience_id: str) -> int:
    answer = await start(http, audience_id)
    clock.advance(5)
    return answer.status_code


async def test_ten_runs_a_day_per_audience_unless_guardrails_are_off(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator
) -> None:
    audience_id = await new_audience(http, clock)
    assert [await _run_to_end(http, clock, audience_id) for _ in range(10)] == [200] * 10
    refused = await start(http, audience_id)
    assert_ais_error(refused, 422, "100960-422", "per audience")
    assert refused.json()["detail"] == (
        "guardrail: at most 10 ingestion runs a day per audience (emulator: "
        "Emulator(guardrails=False) or `aep-ais emulator --no-guardrails` lifts this)"
    )
    emu.guardrails = False
    assert await _run_to_end(http, clock, audience_id) == 200
    emu.guardrails = True
    clock.advance(86400)  # a day later the window is empty again
    assert await _run_to_end(http, clock, audience_id) == 200


async def test_a_hundred_runs_a_day_per_sandbox(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, operation_time=1.0, run_time=1.0)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS) as http:
        audiences = [await new_audience(http, clock, name=f"A{i}") for i in range(11)]
        statuses = [
            await _run_to_end(http, clock, audience_id)
            for audience_id in audiences[:10]
            for _ in range(10)
        ]
        assert statuses == [200] * 100
        refused = await start(http, audiences[10])
        assert_ais_error(refused, 422, "100960-422", "per sandbox")
        assert refused.json()["detail"] == (
            "guardrail: at most 100 ingestion runs a day per sandbox (emulator: "
            "Emulator(guardrails=False) or `aep-ais emulator --no-guardrails` lifts this)"
        )
        # Deleting audiences does not give back the sandbox's quota.
        await http.delete(f"/external-audience/{audiences[0]}")
        assert (await start(http, audiences[10])).status_code == 422
        # Another sandbox has its own quota.
        other = await new_audience(http, clock, name="B", **{"x-sandbox-name": "prod"})
        answer = await http.post(
            f"/external-audience/{other}/runs", json=START, headers={"x-sandbox-name": "prod"}
        )
        assert answer.status_code == 200


# Listing ---------------------------------------------------------------------------------------


@pytest.fixture
async def five_runs(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator
) -> tuple[str, list[str]]:
    """Runs 1-3 succeeded, run 4 failed, run 5 is still going; createdAt 100 s apart."""
    audience_id = await new_audience(http, clock)
    ids = []
    for i in range(5):
        if i == 3:
            emu.failing_runs.add(audience_id)
        if i == 4:
            emu.failing_runs.clear()
        ids.append((await start(http, audience_id)).json()["runId"])
        clock.advance(100 if i < 4 else 1)
    return audience_id, ids


async def _list(http: httpx.AsyncClient, audience_id: str, *params: tuple[str, str]) -> Any:
    answer = await http.get(f"/external-audience/{audience_id}/runs", params=list(params))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_listing_defaults_to_newest_first_with_a_page(
    http: httpx.AsyncClient, five_runs: tuple[str, list[str]]
) -> None:
    audience_id, ids = five_runs
    body = await _list(http, audience_id)
    assert [r["runId"] for r in body["runs"]] == ids[::-1]
    assert [r["status"] for r in body["runs"]] == [
        "PROCESSING",
        "FAILED",
        "SUCCESS",
        "SUCCESS",
        "SUCCESS",
    ]
    assert body["_page"] == {"limit": 20, "count": 5, "totalCount": 5}
    assert all("details" not in r for r in body["runs"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("sortBy", "createdAt")], [0, 1, 2, 3, 4]),
        ([("sortBy", "-createdAt"), ("limit", "2")], [4, 3]),
        ([("sortBy", "name")], [0, 1, 2, 3, 4]),
        ([("sortBy", "-name")], [4, 3, 2, 1, 0]),
        ([("property", "status=SUCCESS")], [2, 1, 0]),
        ([("property", "status!=SUCCESS")], [4, 3]),
        ([("property", "status=containsFAIL")], [3]),
        ([("property", "status!=containsSUCC")], [4, 3]),
        ([("property", "name=Spring buyers")], [4, 3, 2, 1, 0]),
        ([("property", "name=containsspring")], [4, 3, 2, 1, 0]),
        ([("property", "name!=Spring buyers")], []),
        ([("property", f"createdAt>={EPOCH + 110}")], [4, 3, 2, 1]),
        ([("property", f"createdAt<={EPOCH + 110}")], [1, 0]),
        ([("property", f"createdAt<{EPOCH + 110}")], [0]),
        ([("property", f"createdAt<{(EPOCH + 210) * 1000}")], [1, 0]),  # milliseconds
        (
            [("property", f"createdAt>={EPOCH + 110}"), ("property", "status=SUCCESS")],
            [2, 1],
        ),
    ],
)
async def test_listing_sorts_limits_and_filters(
    http: httpx.AsyncClient,
    five_runs: tuple[str, list[str]],
    params: list[tuple[str, str]],
    expected: list[int],
) -> None:
    audience_id, ids = five_runs
    body = await _list(http, audience_id, *params)
    assert [r["runId"] for r in body["runs"]] == [ids[i] for i in expected]


@pytest.mark.parametrize(
    ("param", "words"),
    [
        (("limit", "0"), "1 to 40"),
        (("limit", "41"), "1 to 40"),
        (("limit", "ten"), "1 to 40"),
        (("sortBy", "status"), "sortBy"),
        (("property", "runId=x"), "property filter"),
        (("property", "createdAt=5"), "createdAt takes"),
        (("property", "createdAt>=soon"), "epoch seconds"),
        (("property", "status>=x"), "status takes"),
        (("page", "2"), "unknown query parameter"),
    ],
)
async def test_invalid_listing_queries_are_400(
    http: httpx.AsyncClient, clock: FakeClock, param: tuple[str, str], words: str
) -> None:
    audience_id = await new_audience(http, clock)
    answer = await http.get(f"/external-audience/{audience_id}/runs", params=[param])
    assert_ais_error(answer, 400, "100910-400", words)


async def test_limit_forty_is_accepted(http: httpx.AsyncClient, clock: FakeClock) -> None:
    audience_id = await new_audience(http, clock)
    body = await _list(http, audience_id, ("limit", "40"))
    assert body == {"runs": [], "_page": {"limit": 40, "count": 0, "totalCount": 0}}
