"""The one request pipeline: the only code in the SDK that touches httpx.

Every endpoint goes through `Transport.call`: URL, the platform headers, the auth step
(bearer token, the 401 refresh-and-resend: `BearerAuth`), per-request timeouts, retries
(decided by `retry_reason`) with backoff and `Retry-After`, error mapping and decoding into
a model.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel
import attrs
import httpx

from . import _observe
from ._answers import decode_answer, error_from_answer, read_limited, request_id
from ._auth import AuthContext, BearerAuth, FormResponse, TokenProvider, check_secure_url
from ._convert import unstructure
from ._errors import (
    AISError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    MalformedResponseError,
    ResponseTooLargeError,
    ValidationError,
)
from ._policies import Clock, RetryPolicy, parse_retry_after
from ._ratelimit import Limiter
from ._version import __version__

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "Answer", "Transport", "retry_reason"]

T = TypeVar("T")

logger = logging.getLogger("aep_ais")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_USER_AGENT = f"aep-ais/{__version__} httpx/{httpx.__version__}"
# No AIS answer comes near this; a bigger one is a fault or an attack, not data to buffer.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@attrs.frozen
class Answer(Generic[T]):
    """A decoded answer with what the caller may want from its headers."""

    value: T
    status_code: int
    retry_after: float | None


class _NoAnswer(Exception):
    """An attempt that got no HTTP answer (internal; becomes an `APIConnectionError`)."""

    def __init__(self, error: APIConnectionError) -> None:
        self.error = error


def _under_asyncio() -> bool:
    try:
        asyncio.current_task()
    except RuntimeError:  # no asyncio loop runs this thread: trio
        return False
    return True


async def _contained(work: Callable[[], Awaitable[T]], bound: float | None) -> T:
    """`await work()` within `bound` seconds (`TimeoutError` past it), shielded from a
    native asyncio cancellation cutting a connection's release short.

    Works around httpcore 1.0.x (seen with 1.0.9) leaking pool entries on a native
    `Task.cancel()` (`asyncio.wait_for` too): it releases a connection under an anyio shield
    (`AsyncShieldCancellation`), which a native cancel goes through, so the release stops
    halfway and the pool keeps the request and its connection as active for good. See
    encode/httpx#1461, encode/httpcore#658 and encode/httpcore#1093 (open; its fix,
    encode/httpcore#1099, is unreleased). Here `work` runs in a task of its own, inside a
    cancel scope: a cancel of the caller becomes a cancel of that scope, which the shield
    does hold back, and the caller gets its `CancelledError` once `work` has finished.
    Remove this (keep the test) once an httpcore release passes
    `tests/test_transport_cancel.py` without it. trio has no native cancel: run inline.
    """
    if not _under_asyncio():
        if bound is None:
            return await work()
        with anyio.fail_after(bound):
            return await work()
    scope = anyio.CancelScope()

    async def child() -> T:
        with scope:
            if bound is not None:
                scope.deadline = anyio.current_time() + bound
            return await work()
        raise TimeoutError  # the bound's cancel (a caller's cancel is raised below instead)

    task = asyncio.ensure_future(child())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        scope.cancel()
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                continue  # cancelled again (or an anyio scope re-delivering): keep waiting
            except Exception:  # noqa: BLE001 - the caller's cancel wins; seen below
                break
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not warn of a lost exception
        raise


def _scrub_requests(exc: BaseException) -> None:
    """Blank the Authorization header of every httpx request an error chain reaches.

    An httpx error (the `__cause__` of an `APIConnectionError`, say) holds the request it
    was sending, bearer token included; the request is spent, so its header can go.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        request = getattr(current, "_request", None)  # httpx.RequestError's, unset or not
        if isinstance(request, httpx.Request) and "authorization" in request.headers:
            request.headers["Authorization"] = "***"
        todo += (current.__cause__, current.__context__)
        if isinstance(current, BaseExceptionGroup):
            todo += current.exceptions


def _pools_with_httpcore(client: httpx.AsyncClient) -> bool:
    """Whether `client` sends through httpcore's connection pool (httpx's own transport).

    Only there is `_contained` needed; an in-process transport (an emulator, a mock) has
    no pool to leak, and skipping the extra task keeps its calls as cheap as before.
    """
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    return any(isinstance(t, httpx.AsyncHTTPTransport) for t in transports)


def _total_bound(timeout: httpx.Timeout) -> float | None:
    """The longest one request may take in all: the largest of its timeouts."""
    values = [v for v in (timeout.connect, timeout.read, timeout.write, timeout.pool) if v]
    return max(values) if values else None


def retry_reason(error: AISError, method: str, attempt: int, max_attempts: int) -> str | None:
    """Why attempt `attempt` of a `method` call that failed with `error` is worth another
    (a short reason for logs and traces), or `None`: a pure decision.

    No answer is retried when the method is idempotent or the connection was never made;
    an answer is retried when its status is transient (`RETRY_STATUSES`) and the method
    idempotent, a 429 for any method (the server refused before acting). Never past
    `max_attempts` (which counts the first).
    """
    if attempt >= max_attempts:
        return None
    idempotent = method in IDEMPOTENT_METHODS
    if isinstance(error, APIConnectionError):
        if idempotent or not error.server_may_have_acted:
            return "timeout" if isinstance(error, APITimeoutError) else "connection"
        return None
    status = getattr(error, "status_code", None)
    if status in RETRY_STATUSES and (idempotent or status == 429):
        return f"status {status}"
    return None


async def _retrying(
    call: _observe.Call | None,
    method: str,
    path: str,
    attempt: int,
    reason: str,
    delay: float,
    error: APIError | APIConnectionError,
) -> None:
    """Report a retry: one WARNING, a span event and the `on_retry` hook."""
    rid = getattr(error, "request_id", None)
    logger.warning(
        "%s %s: retrying in %.2fs (%s, attempt %d failed): %s",
        method,
        path,
        delay,
        reason,
        attempt,
        error,
        extra=_observe.log_extra(
            call,
            method=method,
            path=path,
            attempt=attempt,
            retry_reason=reason,
            retry_wait=round(delay, 3),
            request_id=rid,
        ),
    )
    if call is not None:
        call.event(
            "aep.retry",
            {"aep.retry.reason": reason, "aep.retry.wait": delay, "aep.retry.attempt": attempt},
        )
        hook = call.hooks.on_retry
        if hook is not None:
            event = _observe.RetryEvent(
                method=method, path=path, attempt=attempt, reason=reason, wait=delay, request_id=rid
            )
            await call.emit(hook, event)


class Transport:
    """Sends requests to the AIS base URL and turns answers into models or errors."""

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        auth: TokenProvider,
        retry: RetryPolicy,
        timeout: float | httpx.Timeout,
        clock: Clock,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        limiter: Limiter | None = None,
    ) -> None:
        # The bearer token goes to this URL on every request.
        self.limiter = limiter  # shared with every sibling (`with_options`)
        self.base_url = check_secure_url(base_url, "base_url").rstrip("/")
        self.max_response_bytes = max_response_bytes
        self.retry = retry
        self.clock = clock
        self._auth = auth
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._bound = _total_bound(self._timeout)
        # Normalised once: each request copies this instead of re-checking every header.
        self._headers = httpx.Headers(
            {
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
                **headers,
            }
        )
        self._owns_client = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport, timeout=self._timeout, follow_redirects=False
        )
        self._auth_ctx = AuthContext(clock=clock, post_form=self._post_form)
        self._contain = _pools_with_httpcore(self._http)
        self._virtual = bool(getattr(clock, "virtual", False))
        # The event loop the pool's connections belong to (shared with the views).
        self._loop: list[object] = []

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    def with_options(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Transport:
        """A sibling with other policies that shares this one's connections and token.

        `headers` replace some of the platform headers (a view's `x-sandbox-name`). The
        sibling never closes the HTTP client: its lifetime is its parent's.
        """
        twin = copy.copy(self)
        twin._owns_client = False
        if headers:
            twin._headers = self._headers.copy()
            twin._headers.update(headers)
        if retry is not None:
            twin.retry = retry
        if timeout is not None:
            twin._timeout = (
                timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
            )
            twin._bound = _total_bound(twin._timeout)
        return twin

    async def request(
        self,
        method: str,
        path: str,
        *,
        into: type[T],
        body: Any = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        deadline: float | None = None,
    ) -> T:
        """Send a request and decode the answer into `into`."""
        answer = await self.call(
            method, path, into=into, body=body, params=params, deadline=deadline
        )
        return answer.value

    async def call(
        self,
        method: str,
        path: str,
        *,
        into: type[T] | None,
        body: Any = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        deadline: float | None = None,
        gone_is_done: bool = False,
    ) -> Answer[T]:
        """Send a request, retrying per policy, and decode the answer into `into`.

        A POST (which makes something) is retried only when the server surely did not act
        (no connection was made, 429, or 401 before a token refresh): `retry_reason`.
        `deadline` (a `clock.now()` reading) bounds retries: no retry waits past it.
        `gone_is_done` (a delete) takes a 404 on a retry, after an attempt the server may
        have carried out, as that attempt's success. `into=None` expects no body.
        """
        response = await self._send(method, path, body, params, deadline, gone_is_done=gone_is_done)
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.time())
        if into is None:
            return Answer(None, response.status_code, retry_after)  # type: ignore[arg-type]
        return Answer(
            decode_answer(response, into, method, path), response.status_code, retry_after
        )

    async def _send(
        self,
        method: str,
        path: str,
        body: Any,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        deadline: float | None,
        *,
        gone_is_done: bool = False,
    ) -> httpx.Response:
        if self._http.is_closed:
            raise ValidationError(
                "client", "is closed (aclose() was called): make a new client to send more"
            )
        if self._contain:
            # Pooled connections belong to one event loop; another loop would hang or crash.
            loop = anyio.lowlevel.current_token()
            if not self._loop:
                self._loop.append(loop)
            elif self._loop[0] != loop:
                raise ValidationError(
                    "client", "is used from a second event loop: make one client per loop"
                )
        if deadline is None:
            return await self._send_loop(
                method, path, body, params, None, gone_is_done, self._auth_ctx
            )
        # A hard bound: the token fetch (and its retries), every attempt and every backoff
        # run inside it. The clock's seconds are real ones, unless the clock says it is
        # `virtual` (a FakeClock): its time stands still during I/O, so no request can
        # outlast its deadline and a real timer would only cut answers short at random.
        left = deadline - self.clock.now()
        if left > 0:
            ctx = AuthContext(
                clock=self.clock,
                post_form=functools.partial(self._post_form, deadline=deadline),
                deadline=deadline,
            )
            with anyio.move_on_after(math.inf if self._virtual else left):
                return await self._send_loop(
                    method, path, body, params, deadline, gone_is_done, ctx
                )
        raise APITimeoutError(
            "no answer before the deadline",
            method=method,
            path=path,
            server_may_have_acted=left > 0,
        )

    async def _send_loop(
        self,
        method: str,
        path: str,
        body: Any,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        deadline: float | None,
        gone_is_done: bool,
        auth_ctx: AuthContext,
    ) -> httpx.Response:
        content = None
        headers = self._headers.copy()
        if body is not None:
            content = json.dumps(unstructure(body), separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        try:
            policy = self.retry
            auth = BearerAuth(self._auth, auth_ctx)
            call = _observe.current()
            sends = [0]  # HTTP requests sent for this call (resends included)
            attempt = 0
            maybe_done = False  # an earlier attempt may have been carried out
            while True:
                attempt += 1
                outcome = await self._authed_attempt(
                    auth,
                    method,
                    url,
                    path,
                    content,
                    headers,
                    params,
                    deadline,
                    attempt,
                    sends,
                    call,
                )
                if isinstance(outcome, httpx.Response):
                    status = outcome.status_code
                    if 200 <= status < 300:
                        return outcome
                    if status == 404 and gone_is_done and maybe_done:
                        # The earlier attempt whose answer was lost did the work.
                        logger.debug(
                            "%s %s: gone on retry; the earlier attempt did it", method, path
                        )
                        return outcome
                    answered = error_from_answer(outcome, method, path, self.clock.time())
                    error: APIError | APIConnectionError = answered
                    retry_after = answered.retry_after
                    if status == 429 and self.limiter is not None:
                        self.limiter.on_throttled(retry_after)
                else:
                    error, retry_after = outcome, None
                reason = retry_reason(error, method, attempt, policy.max_attempts)
                if reason is None:
                    raise error
                maybe_done = maybe_done or error.server_may_have_acted
                delay = policy.delay(attempt, self.clock.random(), retry_after)
                if deadline is not None and self.clock.now() + delay >= deadline:
                    raise error
                await _retrying(call, method, path, attempt, reason, delay, error)
                await self.clock.sleep(delay)
        except BaseException as exc:
            # A traceback keeps the frames' locals alive: leave no bearer token in them.
            # (Only here: on success the frame simply ends, and the pop costs ~7 us.)
            headers.pop("Authorization", None)
            _scrub_requests(exc)
            raise

    async def _authed_attempt(
        self,
        auth: BearerAuth,
        method: str,
        url: str,
        path: str,
        content: bytes | None,
        headers: httpx.Headers,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        deadline: float | None,
        attempt: int,
        sends: list[int],
        call: _observe.Call | None,
    ) -> httpx.Response | APIConnectionError:
        """One attempt through the auth step: its answer, or the error of no answer.

        A 401 the auth step refreshes for is sent again within the attempt. Each send is
        reported: a span (when tracing), a DEBUG log line and the `on_request` hook.
        """
        # An HTTP span only under a recording call span (a no-op provider costs nothing).
        otel = None if call is None or call.span is None else _observe.tracer()
        report = (call is not None and call.hooks.on_request is not None) or logger.isEnabledFor(
            logging.DEBUG
        )
        await auth.sign(headers)
        while True:
            if self.limiter is not None:
                await self.limiter.acquire()
            started = self.clock.now()
            sends[0] += 1
            try:
                if otel is None:
                    response = await self._attempt(
                        method, url, path, content, headers, params, deadline
                    )
                else:
                    response = await self._traced_attempt(
                        otel, sends[0] - 1, method, url, path, content, headers, params, deadline
                    )
            except _NoAnswer as no_answer:
                error = no_answer.error
                # Keep the httpx exception as the cause the user sees.
                error.__cause__ = no_answer.__cause__
                if report:
                    await self._answered(call, method, path, attempt, started, None, error)
                return error
            if report:
                await self._answered(call, method, path, attempt, started, response, None)
            if not await auth.resend(headers, response.status_code):
                return response
            # Refused (401): the auth step signed the headers again; resend.

    async def _answered(
        self,
        call: _observe.Call | None,
        method: str,
        path: str,
        attempt: int,
        started: float,
        response: httpx.Response | None,
        error: APIConnectionError | None,
    ) -> None:
        """Log one send at DEBUG (ids in `extra`) and call the `on_request` hook."""
        hook = None if call is None else call.hooks.on_request
        elapsed = self.clock.now() - started
        status = None if response is None else response.status_code
        rid = None if response is None else request_id(response.headers)
        if logger.isEnabledFor(logging.DEBUG):
            outcome = f"no answer: {type(error).__name__}" if response is None else str(status)
            logger.debug(
                "%s %s -> %s (attempt %d, %.1f ms)",
                method,
                path,
                outcome,
                attempt,
                elapsed * 1000,
                extra=_observe.log_extra(
                    call,
                    method=method,
                    path=path,
                    status_code=status,
                    attempt=attempt,
                    request_id=rid,
                ),
            )
        if call is not None and hook is not None:
            event = _observe.RequestEvent(
                method=method,
                path=path,
                attempt=attempt,
                status_code=status,
                error=None if error is None else type(error).__name__,
                elapsed=elapsed,
                request_id=rid,
            )
            await call.emit(hook, event)

    async def _traced_attempt(
        self,
        otel: Any,
        resend_count: int,
        method: str,
        url: str,
        path: str,
        content: bytes | None,
        headers: httpx.Headers,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        deadline: float | None,
    ) -> httpx.Response:
        """`_attempt` in a CLIENT span of its own (OpenTelemetry's HTTP conventions)."""
        if params:
            url = str(httpx.URL(url, params=params))
        with _observe.http_span(otel, method, url, resend_count) as span:
            try:
                response = await self._attempt(method, url, path, content, headers, None, deadline)
            except _NoAnswer as no_answer:
                span.failed(no_answer.error)
                raise
            except BaseException as exc:
                span.failed(exc)
                raise
            span.answered(response.status_code, request_id(response.headers))
            return response

    async def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        content: bytes | None,
        headers: httpx.Headers,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        deadline: float | None,
    ) -> httpx.Response:
        timeout = self._timeout
        if deadline is not None:
            # `_send` bounds the whole call by the deadline; this is for each read.
            left = max(0.001, deadline - self.clock.now())
            if timeout.read is None or timeout.read > left:
                timeout = httpx.Timeout(left)
        # httpx times each read: a server that trickles bytes would hold a request forever.
        give_up_at = None if self._bound is None else time.monotonic() + self._bound
        request = self._http.build_request(
            method, url, content=content, headers=headers, params=params, timeout=timeout
        )

        async def exchange() -> tuple[httpx.Response, bytes | None]:
            # Streamed, so an oversized body is refused without being held in memory.
            response = await self._http.send(request, stream=True)
            try:
                body = await read_limited(response, self.max_response_bytes, give_up_at)
                return response, body
            except httpx.DecodingError as exc:
                raise MalformedResponseError(
                    f"the answer's body cannot be decoded ({type(exc).__name__})",
                    status_code=response.status_code,
                    request_id=request_id(response.headers),
                    method=method,
                    path=path,
                    server_may_have_acted=True,
                ) from exc
            finally:
                await response.aclose()

        try:
            if self._contain:
                response, body = await _contained(exchange, None)  # sent, read and closed
            else:
                response, body = await exchange()
            if body is None:
                status = response.status_code
                raise ResponseTooLargeError(
                    f"the answer is larger than {self.max_response_bytes} bytes; not read",
                    limit=self.max_response_bytes,
                    status_code=status,
                    request_id=request_id(response.headers),
                    method=method,
                    path=path,
                    server_may_have_acted=status < 400 or status >= 500,
                )
            response._content = body
            return response
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never reached the server.
            cls = APIConnectionError if isinstance(exc, httpx.ConnectError) else APITimeoutError
            raise _NoAnswer(
                cls(
                    f"could not connect ({type(exc).__name__})",
                    method=method,
                    path=path,
                    server_may_have_acted=False,
                )
            ) from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise _NoAnswer(
                APITimeoutError(
                    f"no answer in time ({type(exc).__name__})",
                    method=method,
                    path=path,
                    server_may_have_acted=True,
                )
            ) from exc
        except httpx.TransportError as exc:
            raise _NoAnswer(
                APIConnectionError(
                    f"connection lost ({type(exc).__name__})",
                    method=method,
                    path=path,
                    server_may_have_acted=True,
                )
            ) from exc

    async def _post_form(
        self, url: str, form: Mapping[str, str], *, deadline: float | None = None
    ) -> FormResponse:
        """Post a form (for token providers); raises `APIConnectionError` on no answer.

        The form may hold a secret: the URL must be https (or loopback), redirects are
        never followed, and nothing of the form is logged. The whole exchange is bounded
        (by the client's timeout, 30 s when it sets none, and by `deadline`); nothing is
        sent once `deadline` (a `clock.now()` reading) has passed.
        """
        check_secure_url(url, "token_url")
        bound = self._bound or 30.0
        if deadline is not None:
            left = deadline - self.clock.now()
            if left <= 0:
                del form
                raise APITimeoutError("the deadline passed before the token request was sent")
            if not self._virtual:
                bound = min(bound, left)
        failure: APIConnectionError | None = None
        try:
            request = self._http.build_request("POST", url, data=dict(form), timeout=self._timeout)
        finally:
            del form

        async def exchange(request: httpx.Request) -> tuple[httpx.Response, bytes | None]:
            response = await self._http.send(request, stream=True, follow_redirects=False)
            try:
                return response, await read_limited(response, self.max_response_bytes)
            finally:
                await response.aclose()

        try:
            if self._contain:
                response, body = await _contained(functools.partial(exchange, request), bound)
            else:
                with anyio.fail_after(bound):
                    response, body = await exchange(request)
        except (httpx.TimeoutException, TimeoutError) as exc:
            failure = APITimeoutError(f"no answer in time ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            failure = APIConnectionError(f"connection failed ({type(exc).__name__})")
        if failure is not None:
            # Raised here, outside the handler, so it carries no httpx exception whose
            # frames hold the request and its form, client secret included.
            del request
            raise failure
        status = response.status_code
        del request, response
        if body is None:
            raise APIConnectionError(
                f"the answer is larger than {self.max_response_bytes} bytes; not read"
            )
        return FormResponse(status, body)
