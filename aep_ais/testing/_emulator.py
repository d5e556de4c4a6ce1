"""`Emulator`: a stateful fake of the whole External Audiences API and its token endpoint.

It speaks the real wire format (raw JSON, camelCase, epoch seconds) and never uses the
SDK's converter, so a wire bug in the SDK shows up as a refusal here. Requests reach it
through `transport()` (in-process, for httpx), `app` (ASGI) or `serve()` (a real socket).
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter, deque
from collections.abc import Collection, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

import httpx

from aep_ais._policies import Clock, SystemClock

from ._faults import Fault, FaultPlan
from ._records import AudienceRecord, OperationRecord, RunRecord
from ._routes import Route, match, strip_prefix
from ._rules import check_create, check_list_query, check_patch, check_run_body
from ._state import Store
from ._tokens import INVALID_TOKEN, TokenIssuer, TokenRecord
from ._wire import (
    BAD_REQUEST,
    DUPLICATE,
    NOT_FOUND,
    UNPROCESSABLE,
    Problem,
    Reply,
    ais_error,
    gateway_error,
    guardrail_code,
    json_reply,
)

__all__ = ["Emulator"]

REQUIRED_HEADERS = ("authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name")


def _json_body(body: bytes, headers: Mapping[str, str]) -> Any:
    content_type = headers.get("content-type", "")
    if not content_type.split(";")[0].strip().lower().endswith(("/json", "+json")):
        raise Problem(BAD_REQUEST, f"Content-Type must be application/json, got {content_type!r}")
    try:
        return json.loads(body)
    except ValueError:
        raise Problem(BAD_REQUEST, "the request body is not valid JSON") from None


_HTML_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
_API_KEY_INVALID = ("403003", "Api Key is invalid")
# Injected AIS refusals: the emulator's own error codes, a detail that owns up to the fault.
_AIS_REFUSALS = {
    "404": (NOT_FOUND, "not found in this sandbox (an injected fault)"),
    "409": (DUPLICATE, "conflicts with the current state (an injected fault)"),
    "422": (UNPROCESSABLE, "cannot be processed (an injected fault)"),
}


def _fault_reply(fault: Fault, plan: FaultPlan, request_id: str, handled: Reply | None) -> Reply:
    if fault.kind == "truncated" and handled is not None:
        return Reply(handled.status, handled.body[: len(handled.body) // 2], handled.headers)
    if fault.kind == "html":
        return Reply(502, _HTML_PAGE, [("content-type", "text/html")])
    if fault.kind == "401":
        return gateway_error(401, *INVALID_TOKEN)
    if fault.kind == "403":
        return gateway_error(403, *_API_KEY_INVALID)
    if fault.kind in _AIS_REFUSALS:
        return ais_error(*_AIS_REFUSALS[fault.kind], request_id)
    if fault.kind == "429":
        retry = plan.retry_after
        text = str(int(retry)) if float(retry).is_integer() else str(retry)
        reply = gateway_error(429, "429050", "Too many requests")
        reply.headers.append(("retry-after", text))
        return reply
    if fault.kind == "500":
        return ais_error("100970-500", "the emulator failed on purpose", request_id)
    if fault.kind == "502":
        return ais_error("100970-502", "a downstream dependency failed", request_id)
    if fault.kind == "503":
        return json_reply(503, {"errorMessage": "Service temporarily unavailable"})
    return json_reply(504, {"errorCode": "504001", "message": "Gateway timeout"})


class Emulator:
    """A stateful, in-memory External Audiences API with an IMS token endpoint.

    Operations stay `PROCESSING` for `operation_time` seconds, then end `SUCCESS` (or
    `FAILED` when `known_paths` is a set without their source path). Runs take `run_time`
    seconds, stage by stage; a run of an audience whose id or source path is in
    `failing_runs` ends `FAILED`. Everything runs on `clock` (real time when `None`).
    `guardrails` switches the run limits (100 a day per sandbox, 10 per audience: a day
    with `runs_per_audience_window="day"`, ever with `"lifetime"`, since the docs give
    no time unit); a start past one is refused with `guardrail_status` (422 by default,
    the docs leave it open). `strict_tokens` accepts only unexpired tokens this
    emulator's token endpoint issued; otherwise any bearer token is accepted, except
    issued ones that expired or were revoked. `faults` injects errors.

    What the docs leave open can be made stricter: `list_query="refuse"` answers 400 to a
    run listing with any query parameter (`limit`, `sortBy`, `property` appear only in
    commented-out text of the docs; `"documented"` honours them), and `listing_lag`
    seconds pass after a run starts before the listing shows it while it is active.

    Ids and tokens are random UUIDs, fresh for every emulator; `seed` makes them the
    same from run to run. `request_log` lists each request's method, path and status,
    `request_times` when each arrived (`clock.now()`).

    `rate_limit` (requests a second on `clock`, `None` for none) answers the API's
    requests beyond it, over any one-second window, with 429 and a `Retry-After` in whole
    seconds (the token endpoint is not limited); `throttled` counts those 429s.
    """

    token_url = "https://ims-na1.adobelogin.com/ims/token/v3"
    base_url = "https://platform.adobe.io/data/core/ais"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        operation_time: float = 2.0,
        run_time: float = 3.0,
        known_paths: Collection[str] | None = None,
        guardrails: bool = True,
        faults: FaultPlan | None = None,
        token_lifetime: float = 86399.0,
        strict_tokens: bool = False,
        seed: int | None = None,
        failing_runs: Iterable[str] = (),
        list_query: Literal["documented", "refuse"] = "documented",
        listing_lag: float = 0.0,
        runs_per_audience_window: Literal["day", "lifetime"] = "day",
        guardrail_status: int = 422,
        rate_limit: float | None = None,
    ) -> None:
        if list_query not in ("documented", "refuse"):
            raise ValueError(f"list_query must be 'documented' or 'refuse', got {list_query!r}")
        if runs_per_audience_window not in ("day", "lifetime"):
            raise ValueError(
                "runs_per_audience_window must be 'day' or 'lifetime', "
                f"got {runs_per_audience_window!r}"
            )
        if isinstance(listing_lag, bool) or not listing_lag >= 0:
            raise ValueError(f"listing_lag must be seconds >= 0, got {listing_lag!r}")
        if isinstance(guardrail_status, bool) or guardrail_status not in range(400, 500):
            raise ValueError(f"guardrail_status must be a 4xx status, got {guardrail_status!r}")
        self.list_query = list_query
        self.clock: Clock = clock if clock is not None else SystemClock(seed)
        if rate_limit is not None and not rate_limit > 0:
            raise ValueError(
                f"rate_limit must be a positive number of requests a second, got {rate_limit!r}"
            )
        self.rate_limit = rate_limit
        self.throttled = 0
        self._recent: deque[float] = deque()
        self.faults = faults if faults is not None else FaultPlan()
        self.strict_tokens = strict_tokens
        rng = random.Random(seed)
        self.failing_runs: set[str] = set(failing_runs)
        self._store = Store(
            clock=self.clock,
            rng=rng,
            operation_time=operation_time,
            run_time=run_time,
            known_paths=None if known_paths is None else frozenset(known_paths),
            guardrails=guardrails,
            failing_runs=self.failing_runs,
        )
        self._store.listing_lag = float(listing_lag)
        self._store.lifetime_audience_limit = runs_per_audience_window == "lifetime"
        self._store.guardrail_code = guardrail_code(guardrail_status)
        self._tokens = TokenIssuer(clock=self.clock, rng=rng, lifetime=token_lifetime)
        self.client_id = "emulator-client"
        self.client_secret = "emulator-secret"
        self.add_credential(self.client_id, self.client_secret)
        self.request_log: list[tuple[str, str, int]] = []
        # When each request arrived (`clock.now()`), in the order of arrival.
        self.request_times: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()
        self._count = 0
        from ._asgi import EmulatorApp

        self.app = EmulatorApp(self)

    def __repr__(self) -> str:
        return f"Emulator(audiences={len(self._store.audiences)}, requests={self._count})"

    # Set-up -------------------------------------------------------------------------

    def add_credential(self, client_id: str, client_secret: str) -> None:
        """Register an OAuth client the token endpoint will issue tokens to."""
        self._tokens.credentials[client_id] = client_secret

    def revoke(self, token: str) -> None:
        """Refuse `token` from now on: requests bearing it get 401 (`401013`)."""
        with self._lock:
            self._tokens.revoke(token)

    @property
    def guardrails(self) -> bool:
        """Whether the daily run limits are enforced (settable)."""
        return self._store.guardrails

    @guardrails.setter
    def guardrails(self, value: bool) -> None:
        self._store.guardrails = value

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that answers every request in-process, for any host."""
        from ._inprocess import EmulatorTransport

        return EmulatorTransport(self)

    def serve(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        """Serve the emulator over HTTP until interrupted (needs the `serve` extra)."""
        from ._server import serve

        serve(self, host=host, port=port)

    # Views for tests ----------------------------------------------------------------

    def _view(self, table: Mapping[str, Any]) -> Mapping[str, Any]:
        with self._lock:
            self._store.settle()
        return MappingProxyType(table)

    @property
    def audiences(self) -> Mapping[str, AudienceRecord]:
        """Live audiences of every sandbox, by id (read-only)."""
        return self._view(self._store.audiences)

    @property
    def operations(self) -> Mapping[str, OperationRecord]:
        """Every create operation ever accepted, by id (read-only)."""
        return self._view(self._store.operations)

    @property
    def runs(self) -> Mapping[str, RunRecord]:
        """Every ingestion run ever started (deleted audiences' too), by id (read-only)."""
        return self._view(self._store.runs)

    @property
    def create_attempts(self) -> Counter[str]:
        """Create requests that reached the rules, by audience name (refused ones too).

        A fault `before` handling never counts; `after` does. A name counted twice means
        a client sent the same create twice.
        """
        return self._store.create_attempts

    @property
    def start_attempts(self) -> Counter[str]:
        """Start-run requests that reached a live audience, by audience id."""
        return self._store.start_attempts

    @property
    def faults_injected(self) -> Counter[str]:
        """Faults dealt so far, by label (`"429"`, `"500-before"`, `"drop-after"`, ...)."""
        return self.faults.injected

    @property
    def tokens(self) -> Mapping[str, TokenRecord]:
        """Tokens issued (and revoked), by token, in issue order (read-only)."""
        return MappingProxyType(self._tokens.tokens)

    @property
    def tokens_issued(self) -> int:
        """How many tokens the token endpoint has issued."""
        return self._tokens.issued

    # Request handling ---------------------------------------------------------------

    async def handle(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        """Answer one request (`headers` with lower-case names); used by every adapter."""
        method = method.upper()
        route, params, exists = match(method, path)
        with self._lock:
            self._count += 1
            request_id = f"emu-{self._count:06d}"
            self.request_times.append((self.clock.now(), method, strip_prefix(path)))
            fault = None
            if route is not None:
                fault = self.faults.next_fault(route.key, token_endpoint=route.name == "token")
        reply: Reply | None = None
        if route is not None and route.name != "token":
            with self._lock:
                reply = self._throttle()
        if reply is not None:
            pass
        elif route is None:
            status = 405 if exists else 404
            reply = gateway_error(status, f"{status}050", "no such endpoint or method")
        elif fault is not None and fault.when == "before" and fault.kind != "slow":
            reply = self._drop(fault) or _fault_reply(fault, self.faults, request_id, None)
        else:
            if fault is not None and fault.when == "before":
                await self.clock.sleep(self.faults.slow_seconds)
            with self._lock:
                reply = self._answer(route, params, query, headers, body, request_id)
            if fault is not None and fault.when == "after":
                if fault.kind == "slow":
                    await self.clock.sleep(self.faults.slow_seconds)
                else:
                    reply = self._drop(fault) or _fault_reply(fault, self.faults, request_id, reply)
        reply.headers.append(("x-request-id", request_id))
        with self._lock:
            self.request_log.append((method, strip_prefix(path), 0 if reply.drop else reply.status))
        return reply

    def _throttle(self) -> Reply | None:
        """A 429 if this request would pass `rate_limit` over the last second, else `None`."""
        if self.rate_limit is None:
            return None
        now = self.clock.now()
        recent = self._recent
        # (1e-9: float sums of intervals land a hair short of a whole second.)
        while recent and recent[0] <= now - 1.0 + 1e-9:
            recent.popleft()
        if len(recent) < self.rate_limit:
            recent.append(now)
            return None
        self.throttled += 1
        # Whole seconds, as gateways send them.
        wait = max(1, math.ceil(recent[0] + 1.0 - now))
        reply = gateway_error(429, "429050", "Too many requests")
        reply.headers.append(("retry-after", str(wait)))
        return reply

    @staticmethod
    def _drop(fault: Fault) -> Reply | None:
        return Reply(0, drop=fault.when) if fault.kind == "drop" else None

    def _refusal(self, headers: Mapping[str, str], request_id: str) -> Reply | None:
        """The gateway's answer to a request whose headers it would not let through."""
        for name in REQUIRED_HEADERS:
            if not headers.get(name, "").strip():
                return ais_error("100920-401", f"the {name} header is missing", request_id)
        scheme, _, token = headers["authorization"].strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return ais_error(
                "100911-400", "the Authorization header must be 'Bearer <token>'", request_id
            )
        refusal = self._tokens.refusal(token.strip(), strict=self.strict_tokens)
        if refusal is not None:
            return refusal
        if self.strict_tokens and headers["x-api-key"] not in self._tokens.credentials:
            return gateway_error(403, *_API_KEY_INVALID)
        if not headers["x-gw-ims-org-id"].endswith("@AdobeOrg"):
            return ais_error("100921-401", "the org id must end with @AdobeOrg", request_id)
        return None

    def _answer(
        self,
        route: Route,
        params: dict[str, str],
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
    ) -> Reply:
        if route.name == "token":
            return self._tokens.issue(body, query)
        refusal = self._refusal(headers, request_id)
        if refusal is not None:
            return refusal
        scope = (headers["x-gw-ims-org-id"], headers["x-sandbox-name"])
        user = f"{headers['x-api-key']}@techacct.adobe.com"
        store = self._store
        store.settle()
        audience_id = params.get("audience_id", "")
        try:
            if route.name == "create":
                details = check_create(_json_body(body, headers))
                return json_reply(202, store.create(scope, details, user))
            if route.name == "get_operation":
                return json_reply(200, store.get_operation(scope, params["operation_id"]))
            if route.name == "update":
                patch = check_patch(_json_body(body, headers))
                return json_reply(200, store.update(scope, audience_id, patch, user))
            if route.name == "delete":
                store.delete(scope, audience_id)
                return Reply(204)
            if route.name == "extend_ttl":
                return json_reply(200, store.extend_ttl(scope, audience_id))
            if route.name == "start_run":
                window = check_run_body(_json_body(body, headers))
                return json_reply(200, store.start_run(scope, audience_id, window, user))
            if route.name == "get_run":
                return json_reply(200, store.get_run(scope, audience_id, params["run_id"]))
            if query and self.list_query == "refuse":
                raise Problem(
                    BAD_REQUEST,
                    f"unknown query parameter {query[0][0]!r}: the run listing takes none "
                    "(emulator: list_query='refuse')",
                )
            limit, sort_by, filters = check_list_query(query)
            return json_reply(200, store.list_runs(scope, audience_id, limit, sort_by, filters))
        except Problem as problem:
            return ais_error(problem.code, problem.detail, request_id)


Emulator.__module__ = "aep_ais.testing"
