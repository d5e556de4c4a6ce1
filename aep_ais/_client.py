"""`AISClient`: configuration, lifecycle and one short method per endpoint."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx

from . import _bulk, _many, _runs, _waiting
from ._auth import TokenProvider, check_secure_url
from ._config import client_kwargs_from_env, client_kwargs_from_file
from ._convert import run_list_query, to_epoch
from ._errors import APIError, QuotaExceededError, ValidationError
from ._guard import RunGuard
from ._models import (
    UNSET,
    AudienceSpec,
    AudienceUpdate,
    ExternalAudience,
    IngestionRun,
    Operation,
    RunList,
    TTLExtension,
    _RunListing,
    _RunRequest,
)
from ._observe import NO_HOOKS, Hooks, traced
from ._policies import Clock, PollPolicy, RetryPolicy, SystemClock
from ._quota import Guardrails, RunLedger, guardrail_scope
from ._ratelimit import Limiter, RateLimit
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, Answer, Transport
from ._validation import (
    check_epoch,
    check_header_value,
    check_id,
    check_int_range,
    check_run_window,
    check_spec,
    check_update,
)

__all__ = ["DEFAULT_BASE_URL", "AISClient"]

DEFAULT_BASE_URL = "https://platform.adobe.io/data/core/ais"
# The spec spells this path two ways; the singular one is what its example and other
# clients use. It lives here alone.
OPERATIONS_PATH = "/external-audience/operations"
DEFAULT_TIMEOUT = 30.0
SORT_KEYS = frozenset({"name", "-name", "createdAt", "-createdAt"})
# The platform's documented daily run quotas.
PLATFORM_GUARDRAILS = Guardrails()

# A client's settings reach its transport (headers, retries, clock, token) when it is
# built: changing one afterwards would leave the two apart, so each is read-only and says
# how to get a client with another value.
_READ_ONLY = {
    "org_id": "make another client for another org",
    "base_url": "make another client for another base URL",
    "sandbox": "use ais.with_options(sandbox=...) for a view on another sandbox",
    "retry": "use ais.with_options(retry=...) for a view with another retry policy",
    "poll": "use ais.with_options(poll=...), or poll= on the call",
    "clock": "pass clock= when building the client",
    "guardrails": "pass guardrails= when building the client",
    "rate_limit": "pass rate_limit= when building the client",
    "auth": "pass auth= when building the client",
    "hooks": "pass hooks= when building the client",
}


class AISClient:
    """An async client for the External Audiences API of one org and sandbox.

    Use it as `async with AISClient(...) as ais:` or call `aclose()` when done. `auth` is a
    token provider (`OAuthServerToServer` or `StaticToken`); `api_key` defaults to the
    OAuth client id. `http_client` (never closed by the SDK) or `transport` replace the
    HTTP layer; `clock` replaces time, sleep and jitter (tests use a fake one).
    These settings are read-only once the client is built: `with_options` gives a view
    with another sandbox, retry or poll policy, or timeout.
    `timeout` (seconds, or an `httpx.Timeout`) bounds each request: 30 s by default, or the
    `http_client`'s own timeout when one is given.
    An answer bigger than `max_response_bytes` is refused (`ResponseTooLargeError`).
    `guardrails` (the platform's daily run quotas by default, `None` for no check) makes a
    start that would break a quota raise `QuotaExceededError` without sending it;
    `rate_limit` (off by default) paces every request of the client and its views.
    TLS verification is always on for the SDK's own connections; only a user's own
    `http_client` decides otherwise. `from_env()` and `from_config_file()` build a client
    from `AEP_*` variables or a JSON config file.
    """

    def __init__(
        self,
        *,
        org_id: str,
        auth: TokenProvider,
        sandbox: str = "prod",
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        operations_path: str = OPERATIONS_PATH,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        guardrails: Guardrails | None = PLATFORM_GUARDRAILS,
        rate_limit: RateLimit | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        if hooks is not None and not isinstance(hooks, Hooks):
            raise ValidationError("hooks", "must be an aep_ais.Hooks")
        self._hooks = hooks or NO_HOOKS
        self._org_id = check_header_value(org_id, "org_id")
        self._sandbox = check_header_value(sandbox, "sandbox")
        if api_key is None:
            api_key = getattr(auth, "client_id", None)
        if api_key is None:
            raise ValidationError("api_key", "is required when auth carries no client id")
        self._base_url = check_secure_url(base_url, "base_url").rstrip("/")
        if http_client is not None and transport is not None:
            raise ValidationError("transport", "give http_client or transport, not both")
        self._retry = retry or RetryPolicy()
        self._poll = poll or PollPolicy()
        self._clock: Clock = clock or SystemClock()
        self._auth = auth
        self._operations_path = _check_operations_path(operations_path)
        self._run_guard = RunGuard(self._sandbox)
        if guardrails is not None and not isinstance(guardrails, Guardrails):
            raise ValidationError("guardrails", "must be a Guardrails or None")
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise ValidationError("rate_limit", "must be a RateLimit or None")
        # Shared by every view: the quotas and the rate are the org's, not one sandbox's.
        self._ledger = None if guardrails is None else RunLedger(guardrails, self._clock)
        self._limiter = None if rate_limit is None else Limiter(rate_limit, self._clock)
        self._transport = Transport(
            base_url=self.base_url,
            headers={
                "x-api-key": check_header_value(api_key, "api_key"),
                "x-gw-ims-org-id": self.org_id,
                "x-sandbox-name": self.sandbox,
            },
            auth=auth,
            retry=self.retry,
            # A user's own client keeps its own timeouts unless the caller sets one here.
            timeout=(
                _check_timeout(timeout)
                if timeout is not None
                else http_client.timeout
                if http_client is not None
                else DEFAULT_TIMEOUT
            ),
            clock=self.clock,
            http_client=http_client,
            transport=transport,
            max_response_bytes=check_int_range(max_response_bytes, "max_response_bytes", 1, 2**40),
            limiter=self._limiter,
        )

    def __setattr__(self, name: str, value: Any) -> None:
        how = _READ_ONLY.get(name)
        if how is not None:
            raise AttributeError(f"AISClient.{name} is read-only: {how}")
        super().__setattr__(name, value)

    @property
    def org_id(self) -> str:
        """The IMS org this client works for (read-only)."""
        return self._org_id

    @property
    def sandbox(self) -> str:
        """The sandbox every request goes to (read-only; `with_options(sandbox=...)`)."""
        return self._sandbox

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash (read-only)."""
        return self._base_url

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of every request (read-only; `with_options(retry=...)`)."""
        return self._retry

    @property
    def poll(self) -> PollPolicy:
        """The default policy of every wait (read-only; `with_options(poll=...)`)."""
        return self._poll

    @property
    def clock(self) -> Clock:
        """Time, sleep and jitter of this client (read-only)."""
        return self._clock

    @property
    def hooks(self) -> Hooks:
        """The client-wide hooks, shared by every view of this client (read-only)."""
        return self._hooks

    @property
    def guardrails(self) -> Guardrails | None:
        """The daily run quotas checked before a start, or `None` (read-only)."""
        return None if self._ledger is None else self._ledger.guardrails

    @property
    def rate_limit(self) -> RateLimit | None:
        """The request rate shared by this client and its views, or `None` (read-only)."""
        return None if self._limiter is None else self._limiter.policy

    @property
    def auth(self) -> TokenProvider:
        """The token provider, shared by every view of this client (read-only)."""
        return self._auth

    def __repr__(self) -> str:
        return (
            f"AISClient(org_id={self.org_id!r}, sandbox={self.sandbox!r}, "
            f"base_url={self.base_url!r})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections the client opened (a user's `http_client` stays open)."""
        await self._transport.aclose()

    def with_options(
        self,
        *,
        sandbox: str | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> Self:
        """A view of this client with another sandbox or other policies.

        `ais.with_options(retry=RetryPolicy(max_attempts=1)).get_run(...)` changes only
        that use; `ais.with_options(sandbox="dev")` works on another sandbox of the same
        org. A view shares the parent's connections, token (one fetch serves every view)
        and run guard, whose locks are kept per sandbox and audience: the one-active-run
        rule holds across views of one sandbox, and the same audience id in two sandboxes
        is two audiences. A view owns nothing: closing it closes nothing. Closing the
        parent closes the connections its views use, so a view lives as long as its
        parent.
        """
        view = copy.copy(self)
        headers = None
        if sandbox is not None:
            view._sandbox = check_header_value(sandbox, "sandbox")
            view._run_guard = self._run_guard.for_sandbox(view._sandbox)
            headers = {"x-sandbox-name": view._sandbox}
        view._retry = retry or self._retry
        view._poll = poll or self._poll
        view._transport = self._transport.with_options(
            retry=retry,
            timeout=None if timeout is None else _check_timeout(timeout),
            headers=headers,
        )
        return view

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """A client configured from `AEP_*` environment variables.

        Reads `AEP_ORG_ID` (required), `AEP_SANDBOX`, `AEP_CLIENT_ID` with
        `AEP_CLIENT_SECRET` (and optionally `AEP_SCOPES`, `AEP_TOKEN_URL`) for OAuth, or
        `AEP_ACCESS_TOKEN` for a pre-issued token, `AEP_API_KEY` and `AEP_BASE_URL`.
        `environ` replaces `os.environ`; keyword `overrides` (`clock`, `retry`, `sandbox`,
        `auth`, ...) go to the constructor and win. Raises `ValidationError` for missing or
        contradictory settings, naming the variable but never showing a secret.
        """
        return cls(**client_kwargs_from_env(environ, overrides))

    @classmethod
    def from_config_file(cls, path: str | os.PathLike[str], **overrides: Any) -> Self:
        """A client configured from the JSON config file other AEP Python tools use.

        Understands `org_id`, `client_id`, `secret` (or `client_secret`), `scopes`,
        `sandbox-name`, and also `access_token`, `api_key`, `base_url`; keys are matched
        case-insensitively and unknown ones (`tech_id`, ...) are ignored. Keyword
        `overrides` go to the constructor and win. Raises `ValidationError` for an
        unreadable file or missing or contradictory settings.
        """
        return cls(**client_kwargs_from_file(path, overrides))

    # Endpoints -----------------------------------------------------------------------

    @traced()
    async def create_audience(self, spec: AudienceSpec) -> Operation:
        """Submit an audience for creation; returns the `Operation` to wait on.

        Raises `ValidationError` for a spec that breaks a documented rule (nothing is sent),
        `ConflictError` if the audience exists. A create is never sent twice unless the
        server surely did not act on the first; a failed one says so in
        `server_may_have_acted`.
        """
        check_spec(spec)
        path = "/external-audience/"
        answer = await self._transport.call("POST", path, into=Operation, body=spec)
        operation = answer.value
        _waiting.accepted_id(
            operation.operation_id,
            "operationId",
            status_code=answer.status_code,
            method="POST",
            path=path,
        )
        return operation

    @traced("operation_id")
    async def get_operation(self, operation_id: str) -> Operation:
        """Fetch the state of an audience-creation operation."""
        return (await self._get_operation_answer(operation_id)).value

    async def _get_operation_answer(
        self, operation_id: str, *, deadline: float | None = None
    ) -> Answer[Operation]:
        # Polls need the answer's Retry-After, and retries bounded by the wait's deadline.
        path = f"{self._operations_path}/{check_id(operation_id, 'operation_id')}"
        return await self._transport.call("GET", path, into=Operation, deadline=deadline)

    @traced("audience_id")
    async def update_audience(self, audience_id: str, update: AudienceUpdate) -> ExternalAudience:
        """Change an audience's description, labels, field labels or TTL; returns it."""
        check_update(update)
        path = f"/external-audience/{check_id(audience_id, 'audience_id')}"
        return await self._transport.request("PATCH", path, into=ExternalAudience, body=update)

    @traced("audience_id")
    async def delete_audience(self, audience_id: str) -> None:
        """Delete an audience; raises `NotFoundError` if there is none with that id.

        A 404 on a retry, after an attempt whose answer was lost, means that attempt
        deleted it: the call succeeds.
        """
        path = f"/external-audience/{check_id(audience_id, 'audience_id')}"
        await self._transport.call("DELETE", path, into=None, gone_is_done=True)

    @traced("audience_id")
    async def extend_ttl(self, audience_id: str) -> TTLExtension:
        """Extend an audience's data expiration by its original duration."""
        path = f"/external-audience/extend-ttl/{check_id(audience_id, 'audience_id')}"
        return await self._transport.request("POST", path, into=TTLExtension)

    @traced("audience_id")
    async def start_run(
        self,
        audience_id: str,
        *,
        data_filter_start_time: datetime | int,
        data_filter_end_time: datetime | int | None = None,
    ) -> IngestionRun:
        """Start an ingestion run over the files of the given time window.

        The platform refuses a run while another of the same audience is in progress;
        `run_and_wait` handles that for you. An answer whose `runId` is not a plain
        identifier raises `MalformedResponseError` (the server may have acted). With
        `guardrails`, a start that would break a daily quota raises `QuotaExceededError`
        and nothing is sent; a server refusal for a quota raises it too, with the
        `APIError` as its `__cause__`.
        """
        path = f"/external-audience/{check_id(audience_id, 'audience_id')}/runs"
        check_run_window(data_filter_start_time, data_filter_end_time)
        body = _RunRequest(
            data_filter_start_time=_as_datetime(data_filter_start_time),
            data_filter_end_time=(
                UNSET if data_filter_end_time is None else _as_datetime(data_filter_end_time)
            ),
        )
        ledger = self._ledger
        reservation = None if ledger is None else ledger.reserve(self.sandbox, audience_id)
        try:
            answer = await self._transport.call("POST", path, into=IngestionRun, body=body)
            run = answer.value
            _waiting.accepted_id(
                run.run_id, "runId", status_code=answer.status_code, method="POST", path=path
            )
        except BaseException as exc:
            if ledger is not None and reservation is not None:
                # A start that may have been carried out (a lost answer, a cancellation)
                # keeps counting until a listing shows its run; a sure refusal does not.
                if getattr(exc, "server_may_have_acted", True):
                    ledger.unsettled(reservation)
                else:
                    ledger.release(reservation)
            scope = guardrail_scope(exc) if isinstance(exc, APIError) else None
            if scope is None:
                raise
            if ledger is not None:
                raise ledger.refused(scope, self.sandbox, audience_id) from exc
            limits = PLATFORM_GUARDRAILS
            raise QuotaExceededError(
                scope,
                limit=limits.runs_per_sandbox_per_day
                if scope == "sandbox"
                else limits.runs_per_audience_per_day,
                sandbox=self.sandbox,
                audience_id=audience_id if scope == "audience" else None,
            ) from exc
        if ledger is not None and reservation is not None:
            ledger.confirm(reservation, run)
        return run

    @traced("audience_id", "run_id")
    async def get_run(self, audience_id: str, run_id: str) -> IngestionRun:
        """Fetch one ingestion run of an audience."""
        return (await self._get_run_answer(audience_id, run_id)).value

    async def _get_run_answer(
        self, audience_id: str, run_id: str, *, deadline: float | None = None
    ) -> Answer[IngestionRun]:
        path = (
            f"/external-audience/{check_id(audience_id, 'audience_id')}"
            f"/runs/{check_id(run_id, 'run_id')}"
        )
        return await self._transport.call("GET", path, into=IngestionRun, deadline=deadline)

    @traced("audience_id")
    async def list_runs(
        self,
        audience_id: str,
        *,
        limit: int | None = None,
        sort_by: str | None = None,
        status: str | None = None,
        name: str | None = None,
        created_after: datetime | int | None = None,
        created_before: datetime | int | None = None,
        properties: Sequence[str] = (),
    ) -> RunList:
        """List an audience's ingestion runs (newest first, the documented default order).

        The filters are not in the published docs; a server may ignore them (the SDK's
        own run guard never uses them). `limit` is 1-40. `sort_by` is `name` or
        `createdAt`, with a leading `-` for descending. `status` and `name` filter by
        equality, `created_after`/`created_before` bound `createdAt` (inclusive, epoch
        seconds), and `properties` passes raw filters such as `"status!=FAILED"`.
        The result is a list; its `page` holds the `_page` facts when the API sends them.
        """
        path = f"/external-audience/{check_id(audience_id, 'audience_id')}/runs"
        if limit is not None:
            check_int_range(limit, "limit", 1, 40)
        if sort_by is not None and sort_by not in SORT_KEYS:
            raise ValidationError("sort_by", f"must be one of {', '.join(sorted(SORT_KEYS))}")
        if isinstance(properties, str):
            # A lone string would be split into one-character filters.
            raise ValidationError("properties", "must be a list of filter strings, not a string")
        for i, raw in enumerate(properties):
            check_header_value(raw, f"properties[{i}]")
        query = run_list_query(
            limit=limit,
            sort_by=sort_by,
            status=None if status is None else check_header_value(status, "status"),
            name=None if name is None else check_header_value(name, "name"),
            created_after=None
            if created_after is None
            else check_epoch(created_after, "created_after"),
            created_before=None
            if created_before is None
            else check_epoch(created_before, "created_before"),
            properties=properties,
        )
        listing = await self._transport.request("GET", path, into=_RunListing, params=query or None)
        if self._ledger is not None:
            self._ledger.observe(self.sandbox, audience_id, listing.runs)
        return RunList(listing.runs, listing.page)

    # Waiting and bulk helpers (they live in _waiting.py and _bulk.py) ---------------

    @traced("operation_id")
    async def wait_for_operation(
        self,
        operation_id: str,
        *,
        poll: PollPolicy | None = None,
        on_status: _waiting.OnStatus[Operation] | None = None,
        deadline: datetime | None = None,
    ) -> Operation:
        """Wait for a creation operation to end; polls at once, then per `poll`.

        Returns the `SUCCESS` operation. Raises `OperationFailedError` (with the last
        state) if it failed and `WaitTimeoutError` (with the id) past `poll.timeout` or
        `deadline` (an aware `datetime`; the earlier wins; a naive one is a
        `ValidationError`). Transient errors while polling are retried; `on_status` sees
        every polled state.
        """
        return await _waiting.wait_operation(
            _Calls(self),
            operation_id,
            policy=poll or self.poll,
            deadline=deadline,
            on_status=on_status,
        )

    @traced("audience_id", "run_id")
    async def wait_for_run(
        self,
        audience_id: str,
        run_id: str,
        *,
        poll: PollPolicy | None = None,
        on_status: _waiting.OnStatus[IngestionRun] | None = None,
        deadline: datetime | None = None,
    ) -> IngestionRun:
        """Wait for an ingestion run to end; polls at once, then per `poll`.

        Returns the `SUCCESS` run. Raises `RunFailedError` (with the last state, stages
        included) if it failed and `WaitTimeoutError` (with the IDs) past `poll.timeout`
        or `deadline` (an aware `datetime`, the earlier wins): a wait resumed with the
        first wait's `deadline` ends when the first would have.
        """
        return await _waiting.wait_run(
            _Calls(self),
            audience_id,
            run_id,
            policy=poll or self.poll,
            deadline=deadline,
            on_status=on_status,
        )

    @traced()
    async def create_and_wait(
        self,
        spec: AudienceSpec,
        *,
        poll: PollPolicy | None = None,
        on_status: _waiting.OnStatus[Operation] | None = None,
        on_created: Callable[[Operation], object] | None = None,
        deadline: datetime | None = None,
    ) -> Operation:
        """Create an audience and wait for it; returns the `SUCCESS` operation.

        The new audience's id is `audience_id` of the result. `on_created(operation)`
        (sync or async) is called once, as soon as the create is accepted and before any
        waiting: store `operation.operation_id` there to resume with
        `wait_for_operation` after a crash. If it raises, the call raises that error and
        the creation goes on at the server. `deadline` (an aware `datetime`) ends the
        wait if it comes before `poll.timeout`. Raises as `create_audience` and
        `wait_for_operation` do.
        """
        return await _waiting.create_and_wait(
            _Calls(self),
            spec,
            policy=poll or self.poll,
            deadline=deadline,
            on_status=on_status,
            on_created=on_created,
        )

    @traced("audience_id")
    async def ensure_run(
        self,
        audience_id: str,
        *,
        data_filter_start_time: datetime | int,
        data_filter_end_time: datetime | int | None = None,
        if_active: _waiting.IfActive = "wait",
        reuse_since: datetime | None = None,
        deadline: datetime | None = None,
        poll: PollPolicy | None = None,
    ) -> IngestionRun:
        """Start an ingestion run, one active run per audience, and return once it exists.

        The start half of `run_and_wait`, with the same guarantees: within this client,
        calls for one audience take turns; a run already active on the server (or a
        start refused with 409/422 while one is) is handled per `if_active` (`"wait"`
        waits for it to end and then starts a new run, `"attach"` returns it, `"raise"`
        raises `RunInProgressError`); a start whose answer was lost is settled by
        finding the run it created in the listing, never by starting a second one.
        Returns the run, active or already ended; wait for it with `wait_for_run`.

        `reuse_since` (an aware `datetime`) makes a retried step idempotent: if the
        audience's listing shows a run created at or after that moment that asks for the
        same data window (the same start time, and the same end time when one is given),
        the newest such run is returned, active or ended, and nothing is started. It
        matches any such run, whoever started it (the SDK cannot tell a crashed earlier
        try of this step from another caller with the same window): pass the moment the
        step first began. Without it, a run that was not started by this call is never
        taken for its own.

        `deadline` (an aware `datetime`) bounds the waits (for another run with
        `"wait"`, for a listing that lags after a refused start, the retries of the
        looks) together with `poll.timeout`; the earlier wins. Time queued behind this
        client's other calls for the audience is not bounded.
        """
        step = _runs.RunStep(
            audience_id=audience_id,
            data_filter_start_time=data_filter_start_time,
            data_filter_end_time=data_filter_end_time,
            if_active=if_active,
            reuse_since=reuse_since,
            deadline=deadline,
            policy=poll or self.poll,
        )
        return await _runs.ensure_run(_Calls(self), self._run_guard, step)

    @traced("audience_id")
    async def run_and_wait(
        self,
        audience_id: str,
        *,
        data_filter_start_time: datetime | int,
        data_filter_end_time: datetime | int | None = None,
        poll: PollPolicy | None = None,
        if_active: _waiting.IfActive = "wait",
        on_status: _waiting.OnStatus[IngestionRun] | None = None,
        on_started: Callable[[IngestionRun], object] | None = None,
        reuse_since: datetime | None = None,
        deadline: datetime | None = None,
    ) -> IngestionRun:
        """Start an ingestion run and wait for it, one active run per audience at a time.

        `ensure_run` and then `wait_for_run`, under one hold of the audience's lock: the
        same `if_active`, `reuse_since` and `deadline`. Within this client, concurrent
        calls for one audience run one after the other. `on_started(run)` (sync or
        async) is called once, as soon as the run this call will wait for is known
        (started, found after a lost answer, attached to or reused), before any waiting
        for it; it is not called for another caller's run that `"wait"` waits out first.
        If it raises, the call raises that error and the run goes on at the server.
        Returns the `SUCCESS` run; raises `RunFailedError` or `WaitTimeoutError`.
        """
        step = _runs.RunStep(
            audience_id=audience_id,
            data_filter_start_time=data_filter_start_time,
            data_filter_end_time=data_filter_end_time,
            if_active=if_active,
            reuse_since=reuse_since,
            deadline=deadline,
            policy=poll or self.poll,
            on_status=on_status,
        )
        return await _runs.run_and_wait(_Calls(self), self._run_guard, step, on_started)

    @traced()
    async def create_many(
        self,
        specs: Iterable[AudienceSpec | tuple[str, AudienceSpec]],
        *,
        concurrency: int,
        wait: bool = True,
        poll: PollPolicy | None = None,
        on_progress: _bulk.OnProgress | None = None,
        journal: str | os.PathLike[str] | None = None,
        on_item: _bulk.OnItem | None = None,
    ) -> list[_bulk.BulkResult[AudienceSpec | tuple[str, AudienceSpec], Operation]]:
        """Create many audiences, at most `concurrency` at once; one `BulkResult` per spec.

        With `wait` each is waited for (`create_and_wait`). Results come in input order; a
        failure is that item's `error` and never stops the others. A `(sandbox, spec)`
        item is created in that sandbox (through a `with_options(sandbox=...)` view).
        `journal=<path>` keeps an append-only journal: a rerun with it returns finished
        items without a request, waits for started ones from their operation ids, sends
        only what was never sent, and reports a create whose answer was lost as
        `AnswerLostError` (never sent twice); an unusable journal raises `JournalError`
        before anything is sent. `on_progress(done, total)` is called after each item and
        `on_item(index, result)` when each item ends, with its `BulkResult` (either may be
        async); an exception either raises is logged as a warning on the `aep_ais` logger.
        """
        return await _many.create_many(
            self,
            specs,
            concurrency=concurrency,
            wait=wait,
            poll=poll,
            on_progress=on_progress,
            journal=journal,
            on_item=on_item,
        )

    @traced()
    async def run_many(
        self,
        audience_ids: Iterable[str | tuple[str, str]],
        *,
        data_filter_start_time: datetime | int,
        data_filter_end_time: datetime | int | None = None,
        concurrency: int,
        if_active: _waiting.IfActive = "wait",
        poll: PollPolicy | None = None,
        on_progress: _bulk.OnProgress | None = None,
        journal: str | os.PathLike[str] | None = None,
        on_item: _bulk.OnItem | None = None,
    ) -> list[_bulk.BulkResult[str | tuple[str, str], IngestionRun]]:
        """`run_and_wait` for many audiences, at most `concurrency` at once, in input order.

        One `BulkResult` per item; a failure is that item's `error` and never stops the
        others. A `(sandbox, audience_id)` item is run in that sandbox (through a
        `with_options(sandbox=...)` view). With `guardrails`, once a sandbox's daily quota
        is spent (by the ledger, or by a server refusal) the rest of its items end with
        `QuotaExceededError` and nothing is sent for them; other sandboxes go on.
        `journal=<path>` keeps an append-only journal: a rerun with it returns finished
        items without a request, resumes started runs from their ids (or finds a run
        whose start answer was lost), and starts only what was never started.
        `on_progress(done, total)` is called after each item and `on_item(index, result)`
        when each item ends, with its `BulkResult` (either may be async; an exception
        either raises is logged as a warning and does not stop the batch).
        """
        return await _many.run_many(
            self,
            audience_ids,
            data_filter_start_time=data_filter_start_time,
            data_filter_end_time=data_filter_end_time,
            concurrency=concurrency,
            if_active=if_active,
            poll=poll,
            on_progress=on_progress,
            journal=journal,
            ledger=self._ledger,
            on_item=on_item,
        )


class _Calls:
    """A client seen through the protocols of the waits and the run guard.

    It forwards to the client's own methods (a subclass's overrides included) and gives
    the two answer-level reads the waits need; nothing below the client sees the client.
    """

    __slots__ = ("_client",)

    def __init__(self, client: AISClient) -> None:
        self._client = client

    @property
    def clock(self) -> Clock:
        return self._client.clock

    @property
    def max_retry_after(self) -> float:
        return self._client.retry.max_retry_after

    async def create_audience(self, spec: AudienceSpec) -> Operation:
        return await self._client.create_audience(spec)

    async def operation_answer(
        self, operation_id: str, *, deadline: float | None
    ) -> Answer[Operation]:
        return await self._client._get_operation_answer(operation_id, deadline=deadline)

    async def run_answer(
        self, audience_id: str, run_id: str, *, deadline: float | None
    ) -> Answer[IngestionRun]:
        return await self._client._get_run_answer(audience_id, run_id, deadline=deadline)

    async def list_runs(self, audience_id: str) -> RunList:
        return await self._client.list_runs(audience_id)

    async def start_run(
        self,
        audience_id: str,
        *,
        data_filter_start_time: datetime | int,
        data_filter_end_time: datetime | int | None = None,
    ) -> IngestionRun:
        return await self._client.start_run(
            audience_id,
            data_filter_start_time=data_filter_start_time,
            data_filter_end_time=data_filter_end_time,
        )


def _check_timeout(timeout: object) -> float | httpx.Timeout:
    """`timeout` if it is an `httpx.Timeout` or a finite number of seconds above 0."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout < float("inf")
    ):
        raise ValidationError(
            "timeout", f"must be a number of seconds above 0 or an httpx.Timeout, got {timeout!r}"
        )
    return float(timeout)


_PATH_SEGMENT = re.compile(r"[A-Za-z0-9_~-]+(\.[A-Za-z0-9_~-]+)*")


def _check_operations_path(path: object) -> str:
    """`path` without a trailing `/` if it is an absolute path of plain segments.

    No `.` or `..` segment, no query, nothing to escape: the ids are appended to it, and
    the bearer token goes wherever it points on the host.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValidationError("operations_path", "must be a path starting with '/'")
    segments = path.strip("/").split("/")
    if not all(_PATH_SEGMENT.fullmatch(segment) for segment in segments):
        raise ValidationError(
            "operations_path", f"{path[:100]!r} must be plain path segments (no '.', '..', '?')"
        )
    return "/" + "/".join(segments)


def _as_datetime(value: datetime | int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(to_epoch(value), tz=UTC)


AISClient.__module__ = "aep_ais"
