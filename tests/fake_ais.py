"""A small stateful fake of the AIS API on respx, for the waiting, run-guard and bulk tests.

Operations and runs end after a set span of virtual time (the `FakeClock` the client
uses). The fake refuses a run start while a run of that audience is active, as the
platform does, and records what the tests assert on: every request with its virtual time,
the most runs ever active at once per audience, refused starts, and how many operations
or runs a client had in flight (from create/start until a poll reported the end).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio.lowlevel
import attrs
import httpx
import respx

from aep_ais.testing import FakeClock

_OP = re.compile(r"/external-audience/operations/(?P<op>[^/]+)$")
_RUN = re.compile(r"/external-audience/(?P<aud>[^/]+)/runs/(?P<run>[^/]+)$")
_RUNS = re.compile(r"/external-audience/(?P<aud>[^/]+)/runs$")


@attrs.define
class FakeRun:
    run_id: str
    audience_id: str
    started: float
    ends: float
    outcome: str = "SUCCESS"
    observed_end: bool = False

    def status(self, now: float) -> str:
        return self.outcome if now >= self.ends else "PROCESSING"

    def wire(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        return {
            "runId": self.run_id,
            "audienceId": self.audience_id,
            "status": status,
            "createdAt": int(1_750_000_000 + self.started),
            "details": [
                {"stage": "DATASET_INGEST", "status": status, "flowRunId": "f1"},
                {"stage": "PROFILE_STORE_INGEST", "status": status, "flowRunId": "f2"},
            ],
        }


@attrs.define
class FakeOperation:
    operation_id: str
    name: str
    ends: float
    outcome: str = "SUCCESS"
    observed_end: bool = False


class FakeAIS:
    """The fake server; `router` is a `respx.MockRouter` on the AIS base URL."""

    def __init__(
        self,
        router: respx.MockRouter,
        clock: FakeClock,
        *,
        op_seconds: float = 3.0,
        run_seconds: float = 5.0,
        refuse_status: int = 409,
    ) -> None:
        self.clock = clock
        self.op_seconds = op_seconds
        self.run_seconds = run_seconds
        self.refuse_status = refuse_status
        self.operations: dict[str, FakeOperation] = {}
        self.runs: dict[str, list[FakeRun]] = {}
        self.log: list[tuple[float, str, str]] = []
        self.refused = 0
        self.max_active: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        # Hooks a test sets: per-name/audience outcomes and spans, start errors to inject,
        # runs a listing leaves out until a start has been refused, and runs it shows as
        # still going after they ended (a lagging index).
        self.op_outcome: dict[str, str] = {}
        self.op_span: dict[str, float] = {}
        self.create_error: dict[str, int] = {}
        self.run_outcome: dict[str, str] = {}
        self.start_error: dict[str, int] = {}
        self.hidden_until_refused: set[str] = set()
        # An active run shows in the listing only this long after it started; a hook run
        # right after a start is refused (to end the active run then, say); the query
        # string of every listing.
        self.listing_lag = 0.0
        self.on_refusal: Callable[[], None] | None = None
        self.list_queries: list[str] = []
        self.stale_in_listing: set[str] = set()
        self._ids = itertools.count(1)
        router.route(name="create", method="POST", path="/external-audience/").mock(
            side_effect=self._create
        )
        router.route(name="operation", method="GET", path__regex=_OP.pattern).mock(
            side_effect=self._operation
        )
        router.route(name="start", method="POST", path__regex=_RUNS.pattern).mock(
            side_effect=self._start
        )
        router.route(name="list", method="GET", path__regex=_RUNS.pattern).mock(
            side_effect=self._list
        )
        router.route(name="run", method="GET", path__regex=_RUN.pattern).mock(side_effect=self._run)

    # What tests set up and read -------------------------------------------------------

    def seed_run(self, audience_id: str, *, seconds: float, outcome: str = "SUCCESS") -> str:
        """A run started by someone else (another process), active for `seconds`."""
        run = self._new_run(audience_id, seconds, outcome)
        run.observed_end = True  # not ours: never counted as in flight
        self.in_flight -= 1
        return run.run_id

    def active(self, audience_id: str) -> list[FakeRun]:
        now = self.clock.now()
        return [r for r in self.runs.get(audience_id, []) if now < r.ends]

    def requests(self, method: str | None = None, kind: str | None = None) -> list[str]:
        return [
            path
            for _, m, path in self.log
            if (method is None or m == method) and (kind is None or _kind(path) == kind)
        ]

    # Handlers ---------------------------------------------------------------------------

    def _enter(self, request: httpx.Request) -> None:
        self.log.append((self.clock.now(), request.method, request.url.path))

    def _flight(self, delta: int) -> None:
        self.in_flight += delta
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    async def _create(self, request: httpx.Request) -> httpx.Response:
        self._enter(request)
        await anyio.lowlevel.checkpoint()
        body = json.loads(request.content)
        name = body["name"]
        if name in self.create_error:
            return _error(self.create_error[name])
        op = FakeOperation(
            operation_id=f"op-{next(self._ids)}",
            name=name,
            ends=self.clock.now() + self.op_span.get(name, self.op_seconds),
            outcome=self.op_outcome.get(name, "SUCCESS"),
        )
        self.operations[op.operation_id] = op
        self._flight(+1)
        return httpx.Response(202, json={"operationId": op.operation_id})

    async def _operation(self, request: httpx.Request, op: str) -> httpx.Response:
        self._enter(request)
        await anyio.lowlevel.checkpoint()
        operation = self.operations[op]
        done = self.clock.now() >= operation.ends
        body: dict[str, Any] = {
            "operationId": operation.operation_id,
            "status": operation.outcome if done else "PROCESSING",
            "audienceName": operation.name,
        }
        if done and operation.outcome == "SUCCESS":
            body["audienceId"] = f"aud-{operation.operation_id}"
        if done and not operation.observed_end:
            operation.observed_end = True
            self._flight(-1)
        return httpx.Response(200, json=body)

    def _new_run(self, audience_id: str, seconds: float, outcome: str) -> FakeRun:
        now = self.clock.now()
        run = FakeRun(
            run_id=f"run-{next(self._ids)}",
            audience_id=audience_id,
            started=now,
            ends=now + seconds,
            outcome=outcome,
        )
        self.runs.setdefault(audience_id, []).append(run)
        self.max_active[audience_id] = max(
            self.max_active[audience_id], len(self.active(audience_id))
        )
        self._flight(+1)
        return run

    async def _start(self, request: httpx.Request, aud: str) -> httpx.Response:
        self._enter(request)
        await anyio.lowlevel.checkpoint()
        audience_id = aud
        if audience_id in self.start_error:
            self.refused += 1
            return _error(self.start_error[audience_id])
        if self.active(audience_id):
            self.refused += 1
            if self.on_refusal is not None:
                self.on_refusal()
            return _error(self.refuse_status)
        run = self._new_run(
            audience_id, self.run_seconds, self.run_outcome.get(audience_id, "SUCCESS")
        )
        body = run.wire(self.clock.now())
        del body["status"], body["details"]  # a start answer carries neither
        return httpx.Response(200, json=body)

    async def _run(self, request: httpx.Request, aud: str, run: str) -> httpx.Response:
        self._enter(request)
        await anyio.lowlevel.checkpoint()
        state = next(r for r in self.runs[aud] if r.run_id == run)
        now = self.clock.now()
        if now >= state.ends and not state.observed_end:
            state.observed_end = True
            self._flight(-1)
        return httpx.Response(200, json=state.wire(now))

    async def _list(self, request: httpx.Request, aud: str) -> httpx.Response:
        self._enter(request)
        await anyio.lowlevel.checkpoint()
        audience_id = aud
        self.list_queries.append(request.url.query.decode())
        now = self.clock.now()
        runs = [
            r.wire(r.started if r.run_id in self.stale_in_listing else now)
            for r in reversed(self.runs.get(audience_id, []))
            if not (self.refused == 0 and r.run_id in self.hidden_until_refused)
            and not (now < r.started + self.listing_lag and now < r.ends)
        ]
        return httpx.Response(200, json={"runs": runs})


def _kind(path: str) -> str:
    if _OP.search(path):
        return "operation"
    if _RUN.search(path):
        return "run"
    if _RUNS.search(path):
        return "runs"
    return "create"


_CODES = {400: "100910-400", 409: "100950-409", 422: "100960-422", 500: "100970-500"}


def _error(status: int) -> httpx.Response:
    return httpx.Response(
        status, json={"error_code": _CODES.get(status, str(status)), "message": f"HTTP {status}"}
    )
