"""`create_many` / `run_many` at scale: sandboxes, quotas and journals, on the emulator."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock
from benchmarks._lifecycle import audience_spec

ORG = "0123456789ABCDEF01234567@AdobeOrg"
SINCE = 1_749_000_000


def _client(emu: Emulator, clock: FakeClock, **kwargs: Any) -> aep_ais.AISClient:
    return aep_ais.AISClient(
        org_id=ORG,
        sandbox="s0",
        auth=aep_ais.StaticToken("tok"),
        api_key="key",
        clock=clock,
        transport=emu.transport(),
        poll=aep_ais.PollPolicy(interval=1.0, jitter=0.0),
        **kwargs,
    )


async def run_many(ais: aep_ais.AISClient, items: Any, **kwargs: Any) -> list[Any]:
    kwargs.setdefault("concurrency", 16)
    return await ais.run_many(items, data_filter_start_time=SINCE, **kwargs)


async def create_many(ais: aep_ais.AISClient, items: Any, **kwargs: Any) -> list[Any]:
    kwargs.setdefault("concurrency", 16)
    return await ais.create_many(items, **kwargs)


async def _audiences(ais: aep_ais.AISClient, n: int, prefix: str) -> list[str]:
    ops = await ais.create_many([audience_spec(i, prefix) for i in range(n)], concurrency=32)
    assert all(r.ok for r in ops)
    return [r.value.audience_id for r in ops]


def _sent_for(emu: Emulator, audience_id: str, since: int = 0) -> list[tuple[str, str, int]]:
    return [entry for entry in emu.request_log[since:] if audience_id in entry[1]]


def _run_counts(emu: Emulator) -> Counter[str]:
    return Counter(run.audience_id for run in emu.runs.values())


async def test_a_sandbox_stops_at_its_quota_and_nothing_is_sent_for_the_rest() -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=1.0, run_time=2.0)
    async with _client(emu, clock) as ais:
        auds = await _audiences(ais, 150, "q")
        mark = len(emu.request_log)
        results = await run_many(ais, auds, concurrency=20)
    ok = [r for r in results if r.ok]
    skipped = [r for r in results if isinstance(r.error, aep_ais.QuotaExceededError)]
    assert len(ok) == 100 and len(skipped) == 50
    assert all(r.error.scope == "sandbox" and r.error.limit == 100 for r in skipped)
    assert len(emu.runs) == 100
    for r in skipped:
        assert _sent_for(emu, r.input, mark) == []  # not even a listing
    refused = [e for e in emu.request_log[mark:] if e[2] == 422]
    assert refused == []


async def test_several_sandboxes_each_with_its_own_quota() -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=1.0, run_time=2.0)
    small = aep_ais.Guardrails(runs_per_sandbox_per_day=3, runs_per_audience_per_day=10)
    async with _client(emu, clock, guardrails=small) as ais:
        a = await _audiences(ais, 5, "a")
        b = await _audiences(ais.with_options(sandbox="s1"), 2, "b")
        items: list[str | tuple[str, str]] = [*a[:2], ("s1", b[0]), ("s0", a[2]), a[3], a[4]]
        items.append(("s1", b[1]))
        results = await run_many(ais, items, concurrency=2)
    assert [r.input for r in results] == items
    outcome = ["ok" if r.ok else type(r.error).__name__ for r in results]
    assert outcome == ["ok", "ok", "ok", "ok", "QuotaExceededError", "QuotaExceededError", "ok"]
    by_sandbox = Counter(run.scope[1] for run in emu.runs.values())
    assert by_sandbox == {"s0": 3, "s1": 2}


async def test_a_server_refusal_stops_the_rest_of_the_sandbox_without_guardrails() -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=1.0, run_time=2.0)
    async with _client(emu, clock, guardrails=None) as ais:
        auds = await _audiences(ais, 110, "r")
        results = await run_many(ais, auds, concurrency=4)
    assert sum(r.ok for r in results) == 100
    errors = [r.error for r in results if not r.ok]
    assert all(isinstance(e, aep_ais.QuotaExceededError) for e in errors)
    refused = [e for e in emu.request_log if e[2] == 422]
    assert 1 <= len(refused) <= 4  # the ones in flight when the server said no; then none


async def test_bad_items_are_refused_before_anything_is_sent() -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock)
    async with _client(emu, clock) as ais:
        with pytest.raises(aep_ais.ValidationError, match=r"audience_ids\[1\]"):
            await run_many(ais, ["a1", ("s1",)])
        with pytest.raises(aep_ais.ValidationError, match=r"specs\[0\]"):
            await create_many(ais, [("s1", "not a spec")])
    assert emu.request_log == []


# Journals -----------------------------------------------------------------------------


async def test_a_rerun_with_the_journal_sends_nothing_for_finished_items(tmp_path: Path) -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=1.0, run_time=2.0)
    journal = tmp_path / "runs.jsonl"
    async with _client(emu, clock) as ais:
        auds = await _audiences(ais, 6, "j")
        first = await run_many(ais, auds, journal=journal)
        mark = len(emu.request_log)
        again = await run_many(ais, auds, journal=journal)
    assert all(r.ok for r in first)
    assert [r.value for r in again] == [r.value for r in first]
    assert len(emu.request_log) == mark


async def test_a_journal_of_another_batch_or_an_unwritable_one_stops_before_sending(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=1.0, run_time=2.0)
    journal = tmp_path / "runs.jsonl"
    async with _client(emu, clock) as ais:
        auds = await _audiences(ais, 3, "k")
        await run_many(ais, auds[:2], journal=journal)
        mark = len(emu.request_log)
        with pytest.raises(aep_ais.JournalError, match="another batch"):
            await run_many(ais, auds, journal=journal)
        with pytest.raises(aep_ais.JournalError, match="cannot open"):
            await run_many(ais, auds, journal=tmp_path / "missing" / "j.jsonl")
        with pytest.raises(aep_ais.JournalError, match="cannot open"):
            await create_many(ais, [audience_spec(9, "k")], journal=tmp_path)
    assert len(emu.request_log) == mark


async def _crash_at(moment: float, clock: FakeClock, work: Any) -> None:
    """Run `work` and stop it dead at `moment` on the fake clock (a crash, as far as the
    journal can tell: no outcome is written for the items in flight)."""
    async with anyio.create_task_group() as tg:

        async def kill() -> None:
            while clock.now() < moment:
                await clock.sleep(0.05)
            tg.cancel_scope.cancel()

        tg.start_soon(kill)
        await work()
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_crash_and_resume_runs_no_duplicates(tmp_path: Path, seed: int) -> None:
    clock = FakeClock(seed=seed)
    emu = Emulator(clock=clock, operation_time=1.0, run_time=3.0, seed=seed)
    journal = tmp_path / "runs.jsonl"
    async with _client(emu, clock) as ais:
        auds = await _audiences(ais, 40, f"c{seed}")
        start = clock.now()
        moment = start + random.Random(seed).uniform(0.5, 10.0)
        await _crash_at(moment, clock, lambda: run_many(ais, auds, journal=journal))
        crashed_runs = len(emu.runs)
    # A new process: a new client, the same journal.
    async with _client(emu, clock) as ais:
        results = await run_many(ais, auds, journal=journal)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert _run_counts(emu) == Counter(auds)  # exactly one run per audience
    assert 0 < crashed_runs < 40, crashed_runs  # the crash came mid-batch


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_crash_and_resume_creates_no_duplicates(tmp_path: Path, seed: int) -> None:
    clock = FakeClock(seed=seed)
    emu = Emulator(clock=clock, operation_time=2.0, seed=seed)
    journal = tmp_path / "creates.jsonl"
    specs = [audience_spec(i, f"cc{seed}") for i in range(30)]
    async with _client(emu, clock) as ais:
        moment = random.Random(seed).uniform(0.5, 5.0)
        await _crash_at(moment, clock, lambda: create_many(ais, specs, journal=journal))
    assert 0 < len(emu.create_attempts) < len(specs)  # the crash came mid-batch
    async with _client(emu, clock) as ais:
        results = await create_many(ais, specs, journal=journal)
    assert max(emu.create_attempts.values()) == 1  # no create sent twice
    for r in results:
        assert r.ok or isinstance(r.error, aep_ais.AnswerLostError)
    lost = [r for r in results if not r.ok]
    # Every lost one is reported, none silently resent; the rest all exist.
    assert len(emu.create_attempts) == len(specs) - sum(
        1 for r in lost if r.input.name not in emu.create_attempts
    )


async def test_a_journaled_create_lost_mid_request_is_reported(tmp_path: Path) -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=1.0)
    journal = tmp_path / "creates.jsonl"
    specs = [audience_spec(i, "lost") for i in range(2)]
    # The first run wrote intent for item 1 and died before the answer.
    book = aep_ais._journal.Journal.open(
        journal,
        kind="create_many",
        batch=aep_ais._journal.batch_digest(
            "create_many", {"wait": True}, [["s0", aep_ais.to_dict(s)] for s in specs]
        ),
        items=2,
    )
    book.write(1, "intent", at=clock.time())
    book.close()
    async with _client(emu, clock) as ais:
        results = await create_many(ais, specs, journal=journal)
    assert results[0].ok
    assert isinstance(results[1].error, aep_ais.AnswerLostError)
    assert results[1].error.index == 1
    assert list(emu.create_attempts) == ["lost-00000"]


README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


async def test_the_readme_example_runs_and_resumes(tmp_path: Path) -> None:
    readme = README
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    [example] = [b for b in blocks if "async def refresh_all(" in b]
    namespace: dict[str, Any] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=1.0, run_time=2.0)
    small = aep_ais.Guardrails(runs_per_sandbox_per_day=2, runs_per_audience_per_day=10)
    journal = str(tmp_path / "refresh.jsonl")
    async with _client(emu, clock, guardrails=small) as ais:
        a = await _audiences(ais, 3, "ra")
        b = await _audiences(ais.with_options(sandbox="s1"), 1, "rb")
        items = [("s0", x) for x in a] + [("s1", b[0])]
        tally = await namespace["refresh_all"](ais, items, SINCE, journal)
        assert tally == {"ok": 3, "over quota": 1, "failed": 0}
        mark = len(emu.request_log)
        # The rerun: finished items from the journal; the quota-skipped one is tried
        # again and refused by the ledger, still without a request.
        assert await namespace["refresh_all"](ais, items, SINCE, journal) == tally
        assert len(emu.request_log) == mark


def test_run_many_with_a_journal_under_trio(tmp_path: Path) -> None:
    async def main() -> tuple[int, int]:
        clock = FakeClock()
        emu = Emulator(clock=clock, operation_time=1.0, run_time=2.0)
        small = aep_ais.Guardrails(runs_per_sandbox_per_day=3, runs_per_audience_per_day=10)
        async with _client(emu, clock, guardrails=small) as ais:
            auds = await _audiences(ais, 4, "t")
            results = await run_many(ais, auds, journal=tmp_path / "j.jsonl")
        quota = sum(isinstance(r.error, aep_ais.QuotaExceededError) for r in results)
        return sum(r.ok for r in results), quota

    assert anyio.run(main, backend="trio") == (3, 1)
