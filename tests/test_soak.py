"""The fault soak, small: 100 audiences on a virtual clock against the in-process emulator.

The engine is the one `benchmarks/soak.py` runs at full size (`benchmarks/_lifecycle.py`
drives, `benchmarks/_counts.py` counts from the emulator's state). Here the counts are
asserted: 20% of answers spoiled (429, 500, 502, 503, dropped connections and slow
answers, before and after the server acted), strict short-lived tokens with one revoked
mid-run, 5% of the waits cancelled and resumed from their IDs. Two deliberately careless
clients show that the counts catch what they must.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import attrs
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock, FaultPlan
from benchmarks._counts import SoakReport, build_report
from benchmarks._lifecycle import (
    SOAK_FAULT_KINDS,
    TOKEN_OUTAGE,
    audience_spec,
    cancelled_at,
    soak,
)

ORG = "0123456789ABCDEF01234567@AdobeOrg"
LIFETIME = 60.0
LABELS = {"429"} | {
    f"{k}-{w}" for k in ("500", "502", "503", "drop", "slow") for w in ("before", "after")
}


async def run_soak(
    seed: int,
    client_cls: type[aep_ais.AISClient] = aep_ais.AISClient,
    audiences: int = 100,
    victims: float = 0.2,
) -> SoakReport:
    clock = FakeClock(seed=seed)
    emu = Emulator(
        clock=clock,
        operation_time=2.0,
        run_time=2.0,
        guardrails=False,
        strict_tokens=True,
        token_lifetime=LIFETIME,
        seed=seed,
        faults=FaultPlan(0.2, SOAK_FAULT_KINDS, seed=seed, retry_after=1.0, slow_seconds=5.0),
    )
    auth = aep_ais.OAuthServerToServer(
        emu.client_id, emu.client_secret, token_url=emu.token_url, refresh_margin=0
    )
    async with client_cls(
        org_id=ORG,
        sandbox="soak",
        auth=auth,
        clock=clock,
        transport=emu.transport(),
        guardrails=None,  # the emulator's are off too: more runs than a day allows
    ) as ais:
        run = await soak(
            ais,
            emu,
            audiences=audiences,
            concurrency=16,
            seed=seed,
            cancel_within=3.0,
            settle=6.0,
            deadline=30.0,
            revoke_after=2.0,
            victim_share=victims,
        )
        return build_report(run, emu, ais, token_lifetime=LIFETIME)


def assert_sound(r: SoakReport) -> None:
    """Everything the soak must show, as exact counts where they are known."""
    # The soak really met trouble: every kind of fault, failed creates, cancelled waits.
    assert set(r.faults) == LABELS
    assert r.failed_creates > 0 and r.cancelled > 0 and r.failed_runs_resolved > 0

    # None lost, none hung: each audience ran, or ended with a typed error.
    assert not r.hung and r.lost == 0 and r.untyped_errors == 0
    assert r.ran + sum(r.typed_errors.values()) == r.audiences == 100
    # The only typed ends: audiences created by a lost answer (their id is unknown).
    assert sum(r.typed_errors.values()) == r.orphans + r.resend_failed

    # No audience created twice, and the SDK never sent one create twice.
    assert r.created_on_server == 100
    assert r.max_operations_per_name == 1
    assert r.max_sdk_creates_per_name == 1

    # Every failed create carries the flag, and the flag never says "did not act" wrongly.
    assert r.missing_flag == 0 and r.flag_false_acted == 0
    assert r.flag_true_acted + r.flag_true_not_acted + r.flag_false_not_acted == r.failed_creates
    # Resending resolves each one (within four tries, for these seeds), consistently with
    # the server's state.
    assert r.resend_failed == 0
    assert r.resend_created + r.resend_conflict + r.resend_failed == r.failed_creates
    assert r.resend_contradictions == 0
    # A 409 on resending means the audience exists with an id the client never learned:
    # the first send acted, or a resend whose own answer was lost did.
    assert r.resend_conflict == r.orphans
    after_lost_resend = sum(tr.resend == "conflict" and tr.resend_ambiguous for tr in r.traces)
    assert r.resend_conflict - after_lost_resend <= r.flag_true_acted <= r.resend_conflict

    # One run per audience that ran, never two at once, nothing held by the run guard.
    assert r.runs_on_server == r.ran and r.max_runs_per_audience == 1
    assert r.overlapping_runs == 0 and r.start_refused_active == 0
    assert r.run_results_not_on_server == 0 and r.guard_entries_left == 0

    # The token expired mid-run (more than once) and was replaced once per expiry.
    assert r.token_expiries >= 2 and r.revoked == 1
    assert 3 <= r.tokens_issued <= r.max_tokens
    assert r.early_refreshes == 0

    # Issue 9: the token endpoint failed while waits polled, waits were cancelled the
    # asyncio way too, some hit their deadline; nothing adopted, no flag hiding an
    # accepted start, nothing sent after a deadline.
    assert r.token_outages == 1 and r.token_faults == len(TOKEN_OUTAGE)
    assert r.deadlines_hit > 0
    assert r.adopted_runs == 0 and r.run_flag_false_acted == 0
    assert r.requests_after_deadline == 0
    assert r.pool_entries_left is None  # in-process: no httpcore pool to leak into
    assert all(met for _, _, met in r.checks())


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_soak_loses_nothing_and_duplicates_nothing(seed: int) -> None:
    report = await run_soak(seed)
    assert_sound(report)
    # Under asyncio, waits were also cancelled by task.cancel() and asyncio.wait_for.
    assert {"task.cancel", "wait_for"} <= set(report.cancelled_by)


def test_the_soak_under_trio() -> None:
    assert_sound(anyio.run(run_soak, 4, backend="trio"))


class ResendingClient(aep_ais.AISClient):
    """A careless client: it sends a failed create again, whatever the failure."""

    async def create_audience(self, spec: aep_ais.AudienceSpec) -> aep_ais.Operation:
        try:
            return await super().create_audience(spec)
        except aep_ais.APIError:
            return await super().create_audience(spec)


class DoubleStartingClient(aep_ais.AISClient):
    """A careless client: it starts every run twice."""

    async def start_run(self, audience_id: str, **window: Any) -> aep_ais.IngestionRun:
        run = await super().start_run(audience_id, **window)
        with contextlib.suppress(aep_ais.AISError):
            await super().start_run(audience_id, **window)
        return run


class AdoptingClient(aep_ais.AISClient):
    """A careless client: every fifth run_and_wait reports the run the one before got."""

    calls = 0
    last: aep_ais.IngestionRun | None = None

    async def run_and_wait(self, audience_id: str, **kwargs: Any) -> aep_ais.IngestionRun:
        AdoptingClient.calls += 1
        if AdoptingClient.calls % 5 == 0 and AdoptingClient.last is not None:
            return AdoptingClient.last
        AdoptingClient.last = await super().run_and_wait(audience_id, **kwargs)
        return AdoptingClient.last


def _missed(report: SoakReport) -> list[str]:
    return [name for name, _, met in report.checks() if not met]


async def test_the_counts_catch_a_create_sent_twice() -> None:
    report = await run_soak(1, ResendingClient)
    assert report.max_sdk_creates_per_name == 2
    # The second send met the first one's audience: a 409 that says "did not act".
    assert report.flag_false_acted > 0
    assert _missed(report) == [
        "no audience created twice",
        "failed creates say whether the server may have acted",
    ]


async def test_the_counts_catch_a_second_start_while_a_run_is_active() -> None:
    report = await run_soak(1, DoubleStartingClient)
    assert report.start_refused_active > 0
    assert report.overlapping_runs == 0  # the emulator refused them all
    assert _missed(report) == ["never two active runs of one audience"]


async def test_the_counts_catch_an_adopted_run() -> None:
    report = await run_soak(1, AdoptingClient)
    assert report.adopted_runs > 0
    assert "no run adopted, no error hides that the server acted" in _missed(report)


async def test_cancelled_at_cancels_on_the_clock_or_lets_the_work_finish() -> None:
    clock = FakeClock()

    async def polling(seconds: float) -> str:
        # A virtual sleep ends at its first checkpoint: wait in steps, as polls do.
        for _ in range(int(seconds / 0.5)):
            await clock.sleep(0.5)
        return "done"

    cancelled, value = await cancelled_at(clock, 1.0, lambda: polling(5.0))
    assert (cancelled, value) == (True, None)
    assert clock.now() == pytest.approx(1.25, abs=0.25)
    start = clock.now()
    cancelled, value = await cancelled_at(clock, 10.0, lambda: polling(2.0))
    assert (cancelled, value) == (False, "done")
    assert clock.now() - start == pytest.approx(2.0)


async def test_a_create_that_was_never_sent_says_the_server_did_not_act() -> None:
    # Found by the soak: a create that failed for want of a token carried no flag at all.
    clock = FakeClock()
    emu = Emulator(clock=clock, strict_tokens=True)
    auth = aep_ais.OAuthServerToServer(emu.client_id, "not-the-secret", token_url=emu.token_url)
    async with aep_ais.AISClient(
        org_id=ORG, auth=auth, clock=clock, transport=emu.transport()
    ) as ais:
        with pytest.raises(aep_ais.TokenError) as no_token:
            await ais.create_audience(audience_spec(1))
        with pytest.raises(aep_ais.ValidationError) as invalid:
            await ais.create_audience(attrs.evolve(audience_spec(2), name=""))
    assert no_token.value.server_may_have_acted is False
    assert invalid.value.server_may_have_acted is False
    assert emu.create_attempts == {} and emu.tokens_issued == 0
    assert [path for _, path, _ in emu.request_log] == ["/ims/token/v3"]
