"""Fault injection: a seeded plan of error answers, dropped connections and slow answers.

A fault hits either `before` the request is handled (the server did nothing) or `after`
(the server acted, then its answer was replaced or lost). The difference is real: the
emulator's state changes for an `after` fault and not for a `before` one.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._routes import canonical_key

__all__ = ["DEFAULT_KINDS", "Fault", "FaultPlan"]

# A 4xx promises the server did not act (clients rely on that), so it only hits before.
_REFUSALS = ("401", "403", "404", "409", "422", "429")
_STATUSES = (*_REFUSALS, "500", "502", "503", "504")
_KINDS = frozenset({*_STATUSES, "drop", "slow", "html", "truncated"})
DEFAULT_KINDS: tuple[int | str, ...] = (429, 500, 502, 503, "drop")


@dataclass(frozen=True)
class Fault:
    """One fault: `kind` is a status (`"500"`), `"drop"`, `"slow"`, `"html"` or
    `"truncated"`; `when` is `"before"` or `"after"` the request is handled."""

    kind: str
    when: str

    @property
    def label(self) -> str:
        """How the fault is counted in `FaultPlan.injected`, e.g. `"500-after"`."""
        return self.kind if self.kind in _REFUSALS else f"{self.kind}-{self.when}"

    @classmethod
    def parse(cls, spec: int | str) -> Fault:
        """Read `429`, `"500"`, `"500-after"`, `"drop-before"`, `"slow"` and so on.

        The statuses are 401, 403, 404, 409, 422, 429, 500, 502, 503 and 504. A bare kind
        hits before the request is handled; a 4xx always does: it promises the server did
        not act, which clients rely on (to retry a 429 safely, say). Each answer has the
        body the emulator itself sends for that status: 401 is the gateway's invalid-token
        refusal (as for a revoked token), 403 its invalid-API-key refusal, 404, 409 and
        422 are AIS errors. `"html"` is a proxy's HTML 502 page; `"truncated"` is the real
        answer with its body cut in half, so it always comes after the server acted.
        Raises `ValueError` for anything else.
        """
        text = str(spec).strip().lower()
        kind, _, when = text.partition("-")
        when = when or ("after" if kind == "truncated" else "before")
        if kind not in _KINDS or when not in ("before", "after"):
            raise ValueError(
                f"unknown fault {spec!r}: a status ({', '.join(_STATUSES)}), drop, slow, "
                "html or truncated, optionally followed by -before or -after"
            )
        if kind in _REFUSALS and when == "after":
            raise ValueError(
                f"a {kind} means the server did not act: '{kind}-after' is not a fault"
            )
        if kind == "truncated" and when == "before":
            raise ValueError("a truncated answer needs an answer: use 'truncated' (after)")
        return cls(kind, when)


class FaultPlan:
    """Which requests fail, and how.

    Each request draws from a generator seeded with `seed`: with probability `rate` it
    meets one of `kinds` (picked at random). `script(route, faults)` queues faults for
    the next requests of a route, taking precedence over the rate: the way to answer one
    request with a 401, 403, 404, 409 or 422 for a test of how your code handles it.
    `retry_after` is the `Retry-After` (seconds) sent with a 429, `slow_seconds` the
    delay of a slow answer (slept on the emulator's clock). The token endpoint is spared
    rate faults unless `token_endpoint` is true. `injected` counts the faults dealt, by
    label.
    """

    def __init__(
        self,
        rate: float = 0.0,
        kinds: Sequence[int | str] = DEFAULT_KINDS,
        *,
        seed: int = 0,
        retry_after: float = 1.0,
        slow_seconds: float = 5.0,
        token_endpoint: bool = False,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be from 0 to 1, got {rate!r}")
        self.rate = rate
        self.kinds = tuple(Fault.parse(k) for k in kinds)
        if rate and not self.kinds:
            raise ValueError("a fault rate needs at least one kind")
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.token_endpoint = token_endpoint
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._scripts: dict[str, list[Fault | None]] = {}

    def script(self, route: str, faults: Iterable[int | str | None]) -> FaultPlan:
        """Queue faults for the next requests of `route` (`"POST /external-audience/"`).

        `route` names an endpoint (a template or a concrete path: the fault applies to
        every id). Each request of that route takes the next entry; `None` or `"ok"`
        lets one through untouched. Returns the plan, for chaining.
        """
        key = canonical_key(route)
        queue = self._scripts.setdefault(key, [])
        for spec in faults:
            queue.append(None if spec is None or spec == "ok" else Fault.parse(spec))
        return self

    def pending(self, route: str) -> int:
        """How many scripted entries of `route` have not been used yet."""
        return len(self._scripts.get(canonical_key(route), []))

    def next_fault(self, route_key: str, *, token_endpoint: bool = False) -> Fault | None:
        """The fault for the next request of `route_key`, if any (and count it)."""
        queue = self._scripts.get(route_key)
        if queue:
            fault = queue.pop(0)
        else:
            roll = self._random.random()
            if roll >= self.rate or (token_endpoint and not self.token_endpoint):
                return None
            fault = self.kinds[self._random.randrange(len(self.kinds))]
        if fault is not None:
            self.injected[fault.label] += 1
        return fault

    def __repr__(self) -> str:
        kinds = ", ".join(f.label for f in self.kinds)
        return f"FaultPlan(rate={self.rate:g}, kinds=({kinds}))"


for _cls in (Fault, FaultPlan):
    _cls.__module__ = "aep_ais.testing"
