"""The emulator looks runs up through indexes: a call's work does not grow with history.

Counted, not timed: each call of a run record's `active`, `status` and `wire` is one look
at a run, and a start or a page of ten must look at a bounded number of them however many
runs the audience has had.
"""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock, RunRecord
from tests.conftest import spec

SINCE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    for name in ("active", "status", "wire"):
        original = getattr(RunRecord, name)

        def counted(
            self: RunRecord, *args: Any, _f: Any = original, _n: str = name, **kw: Any
        ) -> Any:
            counts[_n] += 1
            return _f(self, *args, **kw)

        monkeypatch.setattr(RunRecord, name, counted)
    return counts


@pytest.mark.parametrize("history", [50, 400])
async def test_starts_and_pages_look_at_a_bounded_number_of_runs(
    looks: Counter[str], history: int
) -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=0.0, run_time=0.5, guardrails=False)
    async with aep_ais.AISClient(
        org_id="0123456789ABCDEF01234567@AdobeOrg",
        auth=aep_ais.StaticToken("tok"),
        api_key="key",
        clock=clock,
        transport=emu.transport(),
        guardrails=None,  # hundreds of runs of one audience, as the emulator's are off
    ) as ais:
        op = await ais.create_and_wait(spec(), poll=aep_ais.PollPolicy(interval=0.1))
        audience = op.audience_id
        assert audience is not None
        first = await ais.start_run(audience, data_filter_start_time=SINCE)
        for _ in range(history):
            clock.advance(1.0)
            await ais.start_run(audience, data_filter_start_time=SINCE)
        clock.advance(1.0)
        looks.clear()
        last = await ais.start_run(audience, data_filter_start_time=SINCE)
        with pytest.raises(aep_ais.ConflictError):  # the newest run is active
            await ais.start_run(audience, data_filter_start_time=SINCE)
        newest = await ais.list_runs(audience, limit=10, sort_by="-createdAt")
        oldest = await ais.list_runs(audience, limit=10, sort_by="createdAt")
        by_name = await ais.list_runs(audience, limit=10, sort_by="-name")
    # 3 pages of 10 runs (a wire looks at its status, which looks at `active`) and 2 starts.
    assert sum(looks.values()) <= 3 * 30 + 2 * 3, looks
    assert newest[0].run_id == last.run_id and oldest[0].run_id == first.run_id
    assert [r.run_id for r in by_name] == [r.run_id for r in newest]
    assert newest.page is not None and newest.page.total_count == history + 2
    assert emu.runs[last.run_id].differential and not emu.runs[first.run_id].differential
