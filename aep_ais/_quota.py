"""Guardrails: the platform's daily run quotas, known before a start is sent.

The platform allows a number of ingestion runs per sandbox and per audience over a day.
`RunLedger` counts, over a rolling day on the client's clock, the runs this client (and
its views) started, the starts it has in flight, and the runs its listings showed: every
run is counted once, by run id. A start that would break a guardrail is refused here,
before anything is sent.

A server refusal of a start for a guardrail is recognised by `guardrail_scope`; the
signals it uses are written there.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from attrs import field, frozen

from ._errors import APIError, QuotaExceededError, ValidationError
from ._models import IngestionRun
from ._policies import Clock

__all__ = ["DAY", "Guardrails", "Reservation", "RunLedger", "guardrail_scope"]

DAY = 86400.0

Scope = Literal["sandbox", "audience"]


def _positive_whole(instance: object, attribute: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        name = getattr(attribute, "name", "value")
        raise ValidationError(name, f"must be a whole number of at least 1, got {value!r}")


@frozen(kw_only=True)
class Guardrails:
    """The platform's daily quotas on ingestion runs, checked before a start is sent.

    `runs_per_sandbox_per_day` and `runs_per_audience_per_day` are counted over a rolling
    day (24 hours back from now on the client's clock). The defaults are the platform's
    documented numbers; `AISClient(guardrails=None)` turns the check off.
    """

    runs_per_sandbox_per_day: int = field(default=100, validator=_positive_whole)
    runs_per_audience_per_day: int = field(default=10, validator=_positive_whole)


Guardrails.__module__ = "aep_ais"


# A server refusal of a start is taken for a guardrail refusal when BOTH hold:
# - its status is a 4xx other than 401, 404 and 429 (a refusal that says "no" to this
#   request; 401 is the token, 404 the audience, 429 a rate limit, 5xx a failure; the
#   guardrail refusal's status is not documented, so 400, 403, 409, 422 and others count);
# - its message or detail names a daily quota: "guardrail", "quota", or "<n> ingestion(s)
#   / runs a day / per day" (the emulator sends 422 `100960-422` "guardrail: at most 100
#   ingestion runs a day per sandbox ..."; the docs' guardrails table reads "100 ingestion
#   runs a day per sandbox" and "10 ingestions per audience").
# A 409/422 without those words stays what it was: maybe a run in progress, which the run
# guard looks into. The scope is "audience" when the text says "per audience" (or names an
# audience and not a sandbox), else "sandbox".
_REFUSAL_STATUSES = frozenset(range(400, 500)) - {401, 404, 429}
_QUOTA_WORDS = re.compile(
    r"guardrail|quota|(?:ingestions?|runs?)\b[^.;]*\b(?:a|per)\s+day|"
    r"\d+\s+ingestions?\s+per\s+(?:audience|sandbox)",
    re.IGNORECASE,
)
_PER_AUDIENCE = re.compile(r"per\s+audience", re.IGNORECASE)
_PER_SANDBOX = re.compile(r"per\s+sandbox", re.IGNORECASE)


def guardrail_scope(error: APIError) -> Scope | None:
    """The guardrail a refused start names (`"sandbox"` or `"audience"`), or `None`."""
    if error.status_code not in _REFUSAL_STATUSES:
        return None
    text = " ".join(str(part) for part in (error.message, error.detail) if part)
    if not _QUOTA_WORDS.search(text):
        return None
    if _PER_AUDIENCE.search(text):
        return "audience"
    if _PER_SANDBOX.search(text):
        return "sandbox"
    return "audience" if "audience" in text.lower() and "sandbox" not in text.lower() else "sandbox"


@frozen
class Reservation:
    """A start in flight, counted against the quotas until it is settled."""

    key: str
    sandbox: str
    audience_id: str


class RunLedger:
    """Runs per sandbox and per audience over a rolling day; shared by a client's views.

    Entries are keyed by run id (a start in flight by a reservation key), stamped with
    `clock.time()` for the client's own starts and with `created_at` for listed runs.
    """

    def __init__(self, guardrails: Guardrails, clock: Clock) -> None:
        self.guardrails = guardrails
        self.clock = clock
        self._sandbox: dict[str, dict[str, float]] = {}
        self._audience: dict[tuple[str, str], dict[str, float]] = {}
        # Starts whose answer was lost: counted, and replaced by the first unknown run a
        # listing of that audience shows (it is most likely that start's run).
        self._unsettled: dict[tuple[str, str], list[str]] = {}
        # The server said a quota is spent; until when (epoch seconds).
        self._refused: dict[tuple[str, str], float] = {}
        self._keys = itertools.count()

    # Reading -------------------------------------------------------------------------

    def _live(self, table: dict[str, float], now: float) -> dict[str, float]:
        for key in [k for k, at in table.items() if at <= now - DAY]:
            del table[key]
        return table

    def count(self, sandbox: str, audience_id: str | None = None) -> int:
        """Runs counted in the rolling day for a sandbox, or for one of its audiences."""
        now = self.clock.time()
        if audience_id is None:
            return len(self._live(self._sandbox.get(sandbox, {}), now))
        return len(self._live(self._audience.get((sandbox, audience_id), {}), now))

    def exceeded(self, sandbox: str, audience_id: str | None = None) -> QuotaExceededError | None:
        """The error a start would meet now (sandbox first, then audience), or `None`.

        With `audience_id=None` only the sandbox's quota is looked at.
        """
        now = self.clock.time()
        limits = self.guardrails
        table = self._live(self._sandbox.get(sandbox, {}), now)
        until = self._refused.get((sandbox, ""), 0.0)
        if len(table) >= limits.runs_per_sandbox_per_day or until > now:
            return self._error("sandbox", sandbox, None, table, until, now)
        if audience_id is None:
            return None
        table = self._live(self._audience.get((sandbox, audience_id), {}), now)
        until = self._refused.get((sandbox, audience_id), 0.0)
        if len(table) >= limits.runs_per_audience_per_day or until > now:
            return self._error("audience", sandbox, audience_id, table, until, now)
        return None

    def _error(
        self,
        scope: Scope,
        sandbox: str,
        audience_id: str | None,
        table: dict[str, float],
        until: float,
        now: float,
    ) -> QuotaExceededError:
        limits = self.guardrails
        limit = (
            limits.runs_per_sandbox_per_day
            if scope == "sandbox"
            else limits.runs_per_audience_per_day
        )
        # The oldest counted run leaves the rolling day first; a server refusal holds
        # until the moment noted for it.
        frees = min(table.values()) + DAY if len(table) >= limit else now
        frees = max(frees, until)
        return QuotaExceededError(
            scope,
            limit=limit,
            sandbox=sandbox,
            audience_id=audience_id,
            resets_at=datetime.fromtimestamp(frees, tz=UTC),
        )

    # Starts --------------------------------------------------------------------------

    def reserve(self, sandbox: str, audience_id: str) -> Reservation:
        """Count a start about to be sent; raises `QuotaExceededError` if it may not be."""
        error = self.exceeded(sandbox, audience_id)
        if error is not None:
            raise error
        key = f"\0start-{next(self._keys)}"
        self._add(sandbox, audience_id, key, self.clock.time())
        return Reservation(key, sandbox, audience_id)

    def confirm(self, reservation: Reservation, run: IngestionRun) -> None:
        """The start created `run`: count it by its id from now on."""
        at = self._drop(reservation)
        if at is None:
            at = self.clock.time()
        self._add(reservation.sandbox, reservation.audience_id, run.run_id, at)

    def release(self, reservation: Reservation) -> None:
        """The start surely created nothing: stop counting it."""
        self._drop(reservation)

    def unsettled(self, reservation: Reservation) -> None:
        """The start may have created a run (its answer was lost): keep counting it."""
        self._unsettled.setdefault((reservation.sandbox, reservation.audience_id), []).append(
            reservation.key
        )

    def refused(self, scope: Scope, sandbox: str, audience_id: str) -> QuotaExceededError:
        """The server refused a start for a guardrail: hold that quota spent for a day.

        The server knows of runs this client does not (other clients, other processes),
        so its word wins until the rolling day could have freed a run.
        """
        now = self.clock.time()
        self._refused[(sandbox, audience_id if scope == "audience" else "")] = now + DAY
        error = self.exceeded(sandbox, audience_id)
        assert error is not None
        return error

    def _add(self, sandbox: str, audience_id: str, key: str, at: float) -> None:
        self._sandbox.setdefault(sandbox, {})[key] = at
        self._audience.setdefault((sandbox, audience_id), {})[key] = at

    def _drop(self, reservation: Reservation) -> float | None:
        at = self._sandbox.get(reservation.sandbox, {}).pop(reservation.key, None)
        per_audience = self._audience.get((reservation.sandbox, reservation.audience_id))
        if per_audience is not None:
            per_audience.pop(reservation.key, None)
            if not per_audience:
                del self._audience[(reservation.sandbox, reservation.audience_id)]
        return at

    # Listings ------------------------------------------------------------------------

    def observe(self, sandbox: str, audience_id: str, runs: Iterable[IngestionRun]) -> None:
        """Count the runs a listing of an audience shows, each once (by run id)."""
        now = self.clock.time()
        known = self._audience.get((sandbox, audience_id), {})
        for run in runs:
            if run.run_id in known or run.created_at is None:
                continue
            at = run.created_at.timestamp()
            if at <= now - DAY:
                continue
            pending = self._unsettled.get((sandbox, audience_id))
            if pending:
                key = pending.pop(0)
                self._drop(Reservation(key, sandbox, audience_id))
            self._add(sandbox, audience_id, run.run_id, at)
            known = self._audience[(sandbox, audience_id)]
