"""The whole life cycle against the strictest reading of the docs, under asyncio and trio.

`Emulator(list_query="refuse", listing_lag=5)`: a run listing with any query parameter
gets 400, and an active run shows in the listing only 5 s after it started. Everything the
SDK guarantees (the run guard, the lost-start recovery, `ensure_run` with `reuse_since`,
the bulk helpers) must work on the plain listing, on the fake clock.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock, FaultPlan
from tests.conftest import API_KEY, ORG_ID, TOKEN, spec

SINCE = 1_749_000_000
START = "POST /external-audience/{id}/runs"


async def life_cycle() -> tuple[Emulator, dict[str, Any]]:
    clock = FakeClock(fixed_random=0.5)
    emu = Emulator(
        clock=clock,
        list_query="refuse",
        listing_lag=5,
        operation_time=2.0,
        run_time=20.0,
        faults=FaultPlan(),
    )
    seen: dict[str, Any] = {}

    def client() -> aep_ais.AISClient:
        # Each client is another process: a run guard of its own.
        return aep_ais.AISClient(
            org_id=ORG_ID,
            auth=aep_ais.StaticToken(TOKEN),
            api_key=API_KEY,
            clock=clock,
            transport=emu.transport(),
        )

    async with client() as ais, client() as other:
        created: list[str] = []
        operation = await ais.create_and_wait(
            spec(name="Strict one"), on_created=lambda op: created.append(op.operation_id)
        )
        assert created == [operation.operation_id]
        audience_id = operation.audience_id
        assert audience_id is not None
        assert (await ais.get_operation(operation.operation_id)).done
        updated = await ais.update_audience(
            audience_id, aep_ais.AudienceUpdate(description="checked against the strict docs")
        )
        seen["description"] = updated.description

        # Two processes run the same audience at once: the second's listing does not show
        # the first's run yet, its start is refused, and it looks again until it does.
        results: dict[str, aep_ais.IngestionRun] = {}

        async def run(name: str, who: aep_ais.AISClient, start: int) -> None:
            results[name] = await who.run_and_wait(audience_id, data_filter_start_time=start)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "first", ais, SINCE)
            await clock.sleep(1.0)
            tg.start_soon(run, "second", other, SINCE + 60)
        seen["two_runs"] = {name: r.status for name, r in results.items()}
        assert results["first"].run_id != results["second"].run_id

        # A start whose answer is lost: found in the (lagging) listing, never started twice.
        emu.faults.script(START, ["drop-after"])
        attempts = emu.start_attempts[audience_id]
        lost = await ais.run_and_wait(audience_id, data_filter_start_time=SINCE + 120)
        seen["lost_start"] = (lost.status, emu.start_attempts[audience_id] - attempts)

        # A workflow step: ensure_run, a crash, a retry elsewhere with reuse_since.
        began = datetime.fromtimestamp(clock.time(), tz=UTC)
        step = await ais.ensure_run(
            audience_id, data_filter_start_time=SINCE + 180, reuse_since=began
        )
        retried = await other.ensure_run(
            audience_id, data_filter_start_time=SINCE + 180, reuse_since=began
        )
        assert retried.run_id == step.run_id
        final = await other.wait_for_run(
            audience_id, step.run_id, deadline=datetime.fromtimestamp(clock.time() + 600, tz=UTC)
        )
        seen["step"] = final.status

        listing = await ais.list_runs(audience_id)
        seen["listed"] = len(listing)
        assert (await ais.get_run(audience_id, step.run_id)).status == "SUCCESS"
        seen["extended"] = (await ais.extend_ttl(audience_id)).audience_id == audience_id

        made = await ais.create_many(
            [spec(name=f"Strict bulk {i}") for i in range(3)], concurrency=2
        )
        ids = [r.value.audience_id for r in made if r.value is not None]
        ran = await ais.run_many(
            [audience_id, *[i for i in ids if i is not None]],
            data_filter_start_time=SINCE + 240,
            concurrency=3,
        )
        seen["bulk"] = [r.ok for r in made + ran]  # type: ignore[operator]
        for gone in [audience_id, *[i for i in ids if i is not None]]:
            await ais.delete_audience(gone)
        seen["left"] = len(emu.audiences)
    return emu, seen


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_life_cycle_on_the_strictest_emulator(backend: str) -> None:
    emu, seen = anyio.run(life_cycle, backend=backend)
    assert seen["description"] == "checked against the strict docs"
    assert seen["two_runs"] == {"first": "SUCCESS", "second": "SUCCESS"}
    assert seen["lost_start"] == ("SUCCESS", 1)
    assert seen["step"] == "SUCCESS"
    assert seen["listed"] == 4  # two at once, the lost start, the step
    assert seen["extended"]
    assert seen["bulk"] == [True] * 7
    assert seen["left"] == 0
    # Nothing was refused for a query parameter: the SDK only reads the plain listing.
    assert not [r for r in emu.request_log if r[2] == 400]
    # One active run per audience at a time, at every moment.
    for audience_runs in _runs_by_audience(emu).values():
        spans = sorted((r.started, r.started + r.run_time) for r in audience_runs)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def _runs_by_audience(emu: Emulator) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for run in emu.runs.values():
        out.setdefault(run.audience_id, []).append(run)
    return out
