"""The emulator's in-memory state and the rules that change it.

`Store` holds audiences, operations and runs of every scope (org and sandbox) and carries
out each endpoint on already-validated input. It raises `Problem` for refusals (unknown
ids, duplicates, an active run, guardrails) and returns wire JSON otherwise.
"""

from __future__ import annotations

import copy
import itertools
import random
import uuid
from collections import Counter, deque
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from aep_ais._policies import Clock

from ._records import DAY, AudienceRecord, OperationRecord, RunRecord, Scope
from ._rules import RunFilter
from ._wire import DUPLICATE, NOT_FOUND, UNPROCESSABLE, Problem

__all__ = ["Store"]

SANDBOX_RUNS_PER_DAY = 100
AUDIENCE_RUNS_PER_DAY = 10


def _guardrail(limit: int, per: str) -> str:
    """The refusal past a run limit; being an emulator, it says how to lift it."""
    return (
        f"guardrail: at most {limit} ingestion runs {per} "
        "(emulator: Emulator(guardrails=False) or `aep-ais emulator --no-guardrails` lifts this)"
    )


class Store:
    """Audiences, operations and runs, with the platform's rules."""

    # Options for what the docs leave open (the emulator sets them).
    listing_lag: float = 0.0  # an active run is listed only this long after it started
    lifetime_audience_limit: bool = False  # the per-audience run limit counts every run
    guardrail_code: str = UNPROCESSABLE

    def __init__(
        self,
        *,
        clock: Clock,
        rng: random.Random,
        operation_time: float,
        run_time: float,
        known_paths: Collection[str] | None,
        guardrails: bool,
        failing_runs: set[str],
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.operation_time = operation_time
        self.run_time = run_time
        self.known_paths = known_paths
        self.guardrails = guardrails
        self.failing_runs = failing_runs
        self.audiences: dict[str, AudienceRecord] = {}
        self.operations: dict[str, OperationRecord] = {}
        self.runs: dict[str, RunRecord] = {}
        self.create_attempts: Counter[str] = Counter()
        self.start_attempts: Counter[str] = Counter()
        # Indexes, so a soak of thousands of audiences stays linear.
        self._unsettled: list[OperationRecord] = []
        self._claims: dict[tuple[Scope, str], str] = {}  # name or custom id -> operation
        # An audience's runs in start order, which is also (createdAt, seq) order: a start
        # is refused while a run is active, so only the newest run can be active, and the
        # older ones have all ended. Starts and unfiltered listings look at no other run.
        self._runs_of: dict[str, list[RunRecord]] = {}
        self._day_starts_of: dict[str, deque[float]] = {}  # start times in the last day
        self._ran_well: set[str] = set()  # audiences with a run that did not fail
        # Run start times per scope, kept when an audience is deleted: they still count.
        self._run_starts: dict[Scope, deque[float]] = {}
        self._seq = 0

    def new_id(self) -> str:
        """A random (seeded) UUID, so a seeded emulator hands out the same ids each time."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _epoch(self) -> int:
        return int(self.clock.time())

    def settle(self) -> None:
        """Turn operations that have succeeded into audiences."""
        now = self.clock.now()
        still = []
        for op in self._unsettled:
            if op.status(now) == "PROCESSING":
                still.append(op)
                continue
            op.settled = True
            if op.status(now) == "FAILED":
                self._release(op.scope, op.details)
            else:
                done = int(op.created_at + self.operation_time)
                self.audiences[op.audience_id] = AudienceRecord(
                    audience_id=op.audience_id,
                    scope=op.scope,
                    # The audience changes under PATCH; the operation keeps what was asked.
                    details=copy.deepcopy(op.details),
                    created_at=done,
                    created_by=op.created_by,
                    updated_at=done,
                    updated_by=op.created_by,
                    expires_at=done + op.details["ttlInDays"] * DAY,
                )
        self._unsettled = still

    @staticmethod
    def _claim_keys(details: dict[str, Any]) -> list[tuple[str, str]]:
        keys = [("name", f"name:{details['name']}")]
        if "customAudienceId" in details:
            keys.append(("customAudienceId", f"id:{details['customAudienceId']}"))
        return keys

    def _release(self, scope: Scope, details: dict[str, Any]) -> None:
        for _, key in self._claim_keys(details):
            self._claims.pop((scope, key), None)

    def _path_known(self, source: dict[str, Any]) -> bool:
        if self.known_paths is None:
            return True
        path = str(source["path"])
        if path in self.known_paths:
            return True
        prefix = path.rstrip("/") + "/"
        return source["type"] == "folder" and any(p.startswith(prefix) for p in self.known_paths)

    def _audience(self, scope: Scope, audience_id: str) -> AudienceRecord:
        audience = self.audiences.get(audience_id)
        if audience is None or audience.scope != scope:
            raise Problem(NOT_FOUND, f"audience {audience_id} not found in this sandbox")
        return audience

    # Endpoints ---------------------------------------------------------------------

    def create(self, scope: Scope, details: dict[str, Any], user: str) -> dict[str, Any]:
        """Accept a create request; 409 for a name or custom id taken in the scope."""
        self.create_attempts[details["name"]] += 1
        now = self.clock.now()
        # A name (or custom id) is taken by a live audience or one still being created.
        for what, key in self._claim_keys(details):
            if (scope, key) in self._claims:
                value = key.partition(":")[2]
                raise Problem(DUPLICATE, f"an audience with {what} {value!r} exists already")
        op = OperationRecord(
            operation_id=self.new_id(),
            scope=scope,
            details=details,
            audience_id=self.new_id(),
            created_at=self._epoch(),
            created_by=user,
            done_at=now + self.operation_time,
            ends_failed=not self._path_known(details["sourceSpec"]["params"]),
        )
        self.operations[op.operation_id] = op
        self._unsettled.append(op)
        for _, key in self._claim_keys(details):
            self._claims[(scope, key)] = op.operation_id
        return {"operationId": op.operation_id, "operationDetails": op.details}

    def get_operation(self, scope: Scope, operation_id: str) -> dict[str, Any]:
        op = self.operations.get(operation_id)
        if op is None or op.scope != scope:
            raise Problem(NOT_FOUND, f"operation {operation_id} not found in this sandbox")
        return op.wire(self.clock.now(), self.operation_time)

    def update(
        self, scope: Scope, audience_id: str, patch: dict[str, Any], user: str
    ) -> dict[str, Any]:
        """Apply a PATCH; each property sent replaces the old one, and expiry restarts."""
        audience = self._audience(scope, audience_id)
        details = audience.details
        if "fields" in patch:
            by_name = {f["name"]: f for f in details["fields"]}
            for change in patch["fields"]:
                current = by_name.get(change["name"])
                if current is None:
                    raise Problem(UNPROCESSABLE, f"the audience has no field {change['name']!r}")
                for key in ("type", "identityNs"):
                    if key in change and change[key] != current.get(key):
                        raise Problem(
                            UNPROCESSABLE, f"only the labels of a field can change: {key}"
                        )
            for change in patch["fields"]:
                current = by_name[change["name"]]
                current.pop("labels", None)
                if "labels" in change:
                    current["labels"] = change["labels"]
        if "description" in patch:
            if patch["description"] is None:
                details.pop("description", None)
            else:
                details["description"] = patch["description"]
        if "labels" in patch:
            details["labels"] = patch["labels"]
        if "ttlInDays" in patch:
            details["ttlInDays"] = patch["ttlInDays"]
        audience.updated_at = self._epoch()
        audience.updated_by = user
        audience.expires_at = self.clock.time() + audience.ttl_in_days * DAY
        return audience.wire()

    def delete(self, scope: Scope, audience_id: str) -> None:
        audience = self._audience(scope, audience_id)
        del self.audiences[audience_id]
        self._release(scope, audience.details)

    def extend_ttl(self, scope: Scope, audience_id: str) -> dict[str, Any]:
        """Push expiry back by the audience's own TTL."""
        audience = self._audience(scope, audience_id)
        base = max(audience.expires_at, self.clock.time())
        audience.expires_at = base + audience.ttl_in_days * DAY
        return {"audienceId": audience.audience_id, "name": audience.name}

    def start_run(
        self, scope: Scope, audience_id: str, window: tuple[int, int | None], user: str
    ) -> dict[str, Any]:
        """Start a run: refused (409) while one is active, (422) past a guardrail."""
        audience = self._audience(scope, audience_id)
        self.start_attempts[audience_id] += 1
        now = self.clock.now()
        mine = self._runs_of.setdefault(audience_id, [])
        newest = mine[-1] if mine else None
        if newest is not None and newest.active(now):
            raise Problem(
                DUPLICATE,
                f"an ingestion run ({newest.run_id}) is already in progress for audience "
                f"{audience_id}; start a new one when it has finished",
            )
        starts = self._run_starts.setdefault(scope, deque())
        while starts and starts[0] <= now - DAY:
            starts.popleft()
        mine_today = self._day_starts_of.setdefault(audience_id, deque())
        while mine_today and mine_today[0] <= now - DAY:
            mine_today.popleft()
        if self.guardrails:
            if len(starts) >= SANDBOX_RUNS_PER_DAY:
                raise Problem(
                    self.guardrail_code, _guardrail(SANDBOX_RUNS_PER_DAY, "a day per sandbox")
                )
            lifetime = self.lifetime_audience_limit
            if len(mine if lifetime else mine_today) >= AUDIENCE_RUNS_PER_DAY:
                per = "per audience" if lifetime else "a day per audience"
                raise Problem(self.guardrail_code, _guardrail(AUDIENCE_RUNS_PER_DAY, per))
        starts.append(now)
        mine_today.append(now)
        # Never before the previous run: the listing's order stays the start order.
        created = max(self._epoch(), newest.created_at if newest is not None else 0)
        self._seq += 1
        run = RunRecord(
            run_id=self.new_id(),
            audience_id=audience_id,
            scope=scope,
            audience_name=audience.name,
            source_path=audience.source_path,
            data_filter_start_time=window[0],
            data_filter_end_time=window[1] if window[1] is not None else created,
            # Every earlier run has ended: one that did not fail succeeded.
            differential=audience_id in self._ran_well,
            created_at=created,
            created_by=user,
            started=now,
            run_time=self.run_time,
            fails=bool({audience_id, audience.source_path} & self.failing_runs),
            flow_run_ids=(self.new_id(), self.new_id()),
            seq=self._seq,
        )
        self.runs[run.run_id] = run
        mine.append(run)
        if not run.fails:
            self._ran_well.add(audience_id)
        # The documented start answer carries neither status nor stages.
        return run.wire(now, status=False, details=False)

    def get_run(self, scope: Scope, audience_id: str, run_id: str) -> dict[str, Any]:
        self._audience(scope, audience_id)
        run = self.runs.get(run_id)
        if run is None or run.audience_id != audience_id:
            raise Problem(NOT_FOUND, f"run {run_id} of audience {audience_id} not found")
        return run.wire(self.clock.now())

    def list_runs(
        self, scope: Scope, audience_id: str, limit: int, sort_by: str, filters: Sequence[RunFilter]
    ) -> dict[str, Any]:
        """A page of runs as `{"runs": [...], "_page": {...}}`."""
        audience = self._audience(scope, audience_id)
        now = self.clock.now()
        runs = self._runs_of.get(audience_id, [])
        # Start order is (createdAt, seq) order, and (name, seq) order too: every run of
        # an audience has its name. So no sort; without filters, only the page is read.
        ordered: Iterator[RunRecord] = reversed(runs) if sort_by.startswith("-") else iter(runs)
        if self.listing_lag:
            # Only the newest run can be active, so this hides at most that one.
            ordered = (
                r for r in ordered if not (r.active(now) and now - r.started < self.listing_lag)
            )
        if filters:
            shown = []
            for r in ordered:
                r.audience_name = audience.name
                wire = r.wire(now, details=False)
                if all(f.matches(wire) for f in filters):
                    shown.append(wire)
            total, page = len(shown), shown[:limit]
        else:
            hidden = int(
                bool(runs)
                and bool(self.listing_lag)
                and runs[-1].active(now)
                and now - runs[-1].started < self.listing_lag
            )
            total, page = len(runs) - hidden, []
            for r in itertools.islice(ordered, limit):
                r.audience_name = audience.name
                page.append(r.wire(now, details=False))
        return {
            "runs": page,
            "_page": {"limit": limit, "count": len(page), "totalCount": total},
        }
