"""The guardrails ledger (`_quota.py`): counts over a rolling day, by run id, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aep_ais import (
    ConflictError,
    Guardrails,
    IngestionRun,
    QuotaExceededError,
    RateLimitError,
    UnprocessableEntityError,
    ValidationError,
)
from aep_ais._quota import DAY, RunLedger, guardrail_scope
from aep_ais.testing import FakeClock


def _run(run_id: str, at: float) -> IngestionRun:
    return IngestionRun(run_id=run_id, created_at=datetime.fromtimestamp(at, tz=UTC))


def _ledger(sandbox: int = 3, audience: int = 2) -> tuple[RunLedger, FakeClock]:
    clock = FakeClock()
    limits = Guardrails(runs_per_sandbox_per_day=sandbox, runs_per_audience_per_day=audience)
    return RunLedger(limits, clock), clock


def test_defaults_are_the_platform_numbers() -> None:
    assert Guardrails() == Guardrails(runs_per_sandbox_per_day=100, runs_per_audience_per_day=10)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_guardrails_refuse_nonsense(bad: object) -> None:
    with pytest.raises(ValidationError, match="runs_per_audience_per_day"):
        Guardrails(runs_per_audience_per_day=bad)  # type: ignore[arg-type]


def test_audience_quota_then_sandbox_quota() -> None:
    ledger, clock = _ledger(sandbox=3, audience=2)
    for n in range(2):
        ledger.confirm(ledger.reserve("s", "a"), _run(f"r{n}", clock.time()))
    with pytest.raises(QuotaExceededError) as caught:
        ledger.reserve("s", "a")
    err = caught.value
    assert (err.scope, err.limit, err.sandbox, err.audience_id) == ("audience", 2, "s", "a")
    assert err.resets_at == datetime.fromtimestamp(clock.time() + DAY, tz=UTC)
    ledger.confirm(ledger.reserve("s", "b"), _run("r2", clock.time()))
    with pytest.raises(QuotaExceededError) as caught:
        ledger.reserve("s", "c")
    assert (caught.value.scope, caught.value.limit, caught.value.audience_id) == (
        "sandbox",
        3,
        None,
    )
    # Another sandbox has its own quota.
    ledger.reserve("other", "a")


def test_the_day_rolls() -> None:
    ledger, clock = _ledger(sandbox=1, audience=1)
    ledger.confirm(ledger.reserve("s", "a"), _run("r0", clock.time()))
    clock.advance(DAY - 1)
    assert ledger.exceeded("s", "a") is not None
    clock.advance(1)
    assert ledger.exceeded("s", "a") is None
    assert ledger.count("s") == 0


def test_in_flight_starts_count_and_a_sure_failure_gives_its_place_back() -> None:
    ledger, _ = _ledger(sandbox=2, audience=5)
    first = ledger.reserve("s", "a")
    ledger.reserve("s", "b")
    with pytest.raises(QuotaExceededError):
        ledger.reserve("s", "c")
    ledger.release(first)
    ledger.reserve("s", "c")


def test_listings_count_each_run_once_by_id() -> None:
    ledger, clock = _ledger(sandbox=10, audience=10)
    ledger.confirm(ledger.reserve("s", "a"), _run("mine", clock.time()))
    shown = [_run("mine", clock.time()), _run("theirs", clock.time() - 60)]
    ledger.observe("s", "a", shown)
    ledger.observe("s", "a", shown)
    assert ledger.count("s") == 2
    assert ledger.count("s", "a") == 2
    # A run older than a day does not count.
    ledger.observe("s", "a", [_run("old", clock.time() - DAY - 5)])
    assert ledger.count("s", "a") == 2


def test_a_lost_start_is_counted_once_its_run_shows_up() -> None:
    ledger, clock = _ledger()
    ledger.unsettled(ledger.reserve("s", "a"))
    assert ledger.count("s", "a") == 1
    ledger.observe("s", "a", [_run("found", clock.time())])
    assert ledger.count("s", "a") == 1


def test_a_server_refusal_holds_the_sandbox_spent() -> None:
    ledger, clock = _ledger(sandbox=100, audience=10)
    err = ledger.refused("sandbox", "s", "a")
    assert err.scope == "sandbox" and err.limit == 100
    assert err.resets_at == datetime.fromtimestamp(clock.time() + DAY, tz=UTC)
    assert ledger.exceeded("s", "zzz") is not None
    assert ledger.exceeded("t", "a") is None


def _refusal(cls: type, status: int, message: str) -> object:
    return cls(message, status_code=status, error_code=f"1009-{status}")


@pytest.mark.parametrize(
    ("error", "scope"),
    [
        # What the emulator sends.
        (
            _refusal(
                UnprocessableEntityError,
                422,
                "guardrail: at most 100 ingestion runs a day per sandbox (emulator: ...)",
            ),
            "sandbox",
        ),
        (
            _refusal(
                UnprocessableEntityError,
                422,
                "guardrail: at most 10 ingestion runs a day per audience (emulator: ...)",
            ),
            "audience",
        ),
        # The docs' own wording, under another status.
        (_refusal(ConflictError, 409, "limit of 10 ingestions per audience reached"), "audience"),
        (_refusal(ConflictError, 409, "daily quota exceeded"), "sandbox"),
        # An active run, or a rate limit: not a guardrail.
        (_refusal(ConflictError, 409, "an ingestion run is already in progress"), None),
        (_refusal(UnprocessableEntityError, 422, "Unprocessable entity"), None),
        (_refusal(RateLimitError, 429, "too many requests per day"), None),
    ],
)
def test_which_refusals_are_guardrails(error: UnprocessableEntityError, scope: str | None) -> None:
    assert guardrail_scope(error) == scope
