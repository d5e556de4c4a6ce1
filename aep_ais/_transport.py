"""The one request pipeline: the only code in the SDK that touches httpx.

Every endpoint goes through `Transport.call`: URL, the platform headers, the bearer token,
per-request timeouts, retries with backoff and `Retry-After`, the 401 refresh-and-retry,
error mapping and decoding into a model.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import attrs
import httpx

from ._answers import decode_answer, error_from_answer, read_limited, request_id
from ._auth import AuthContext, FormResponse, TokenProvider, check_secure_url
from ._convert import unstructure
from ._errors import (
    AISError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    MalformedResponseError,
    ResponseTooLargeError,
)
from ._policies import Clock, RetryPolicy, parse_retry_after
from ._version import __version__

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "Answer", "Transport"]

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


def _past(deadline: float | None, clock: Clock) -> bool:
    return deadline is not None and clock.now() >= deadline


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
    ) -> None:
        # The bearer token goes to this URL on every request.
        self.base_url = check_secure_url(base_url, "base_url").rstrip("/")
        self.max_response_bytes = max_response_bytes
        self.retry = retry
        self.clock = clock
        self._auth = auth
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
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
        return twin

    async def request(
        self,
        method: str,
        path: str,
        *,
        into: type[T],
        body: Any = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        creates: bool = False,
        deadline: float | None = None,
    ) -> T:
        """Send a request and decode the answer into `into`."""
        answer = await self.call(
            method, path, into=into, body=body, params=params, creates=creates, deadline=deadline
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
        creates: bool = False,
        deadline: float | None = None,
        gone_is_done: bool = False,
    ) -> Answer[T]:
        """Send a request, retrying per policy, and decode the answer into `into`.

        `creates` marks a POST that makes something: it is retried only when the server
        surely did not act (no connection was made, 429, or 401 before a token refresh).
        `deadline` (a `clock.now()` reading) bounds retries: no retry waits past it.
        `gone_is_done` (a delete) takes a 404 on a retry, after an attempt the server may
        have carried out, as that attempt's success. `into=None` expects no body.
        """
        response = await self._send(
            method, path, body, params, creates, deadline, gone_is_done=gone_is_done
        )
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
        creates: bool,
        deadline: float | None,
        *,
        gone_is_done: bool = False,
    ) -> httpx.Response:
        idempotent = method in IDEMPOTENT_METHODS and not creates
        content = None
        headers = self._headers.copy()
        if body is not None:
            content = json.dumps(unstructure(body), separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        try:
            policy = self.retry
            attempt = 0
            refreshed = False
            maybe_done = False  # an earlier attempt may have been carried out
            refused: tuple[int, APIError] | None = None  # (hash of the refused header, its 401)
            while True:
                attempt += 1
                token = await self._auth.get_token(self._auth_ctx)
                headers["Authorization"] = f"Bearer {token}"
                del token  # kept in `headers` only, scrubbed below if an exception leaves
                if refused is not None and hash(headers["Authorization"]) == refused[0]:
                    # The provider could not refresh (a static token): the same token would
                    # only be refused again.
                    raise refused[1]
                started = self.clock.now()
                error: AISError
                retry_after: float | None = None
                try:
                    response = await self._attempt(
                        method, url, path, content, headers, params, deadline
                    )
                except _NoAnswer as no_answer:
                    error = no_answer.error
                    # Keep the httpx exception as the cause the user sees.
                    error.__cause__ = no_answer.__cause__
                    retriable = idempotent or not error.server_may_have_acted
                    if logger.isEnabledFor(logging.DEBUG):
                        logger.debug(
                            "%s %s -> no answer: %s (attempt %d, %.1f ms)",
                            method,
                            path,
                            type(error).__name__,
                            attempt,
                            (self.clock.now() - started) * 1000,
                        )
                else:
                    status = response.status_code
                    if logger.isEnabledFor(logging.DEBUG):
                        logger.debug(
                            "%s %s -> %d (attempt %d, %.1f ms)",
                            method,
                            path,
                            status,
                            attempt,
                            (self.clock.now() - started) * 1000,
                        )
                    if 200 <= status < 300:
                        return response
                    if status == 404 and gone_is_done and maybe_done:
                        # The earlier attempt whose answer was lost did the work.
                        logger.debug(
                            "%s %s: gone on retry; the earlier attempt did it", method, path
                        )
                        return response
                    if status == 401 and not refreshed and not _past(deadline, self.clock):
                        # The server did not act on a request it refused: refresh and retry once.
                        refreshed = True
                        self._auth.invalidate(headers["Authorization"].removeprefix("Bearer "))
                        refused = (
                            hash(headers["Authorization"]),
                            error_from_answer(response, method, path, self.clock.time()),
                        )
                        attempt -= 1
                        continue
                    error = error_from_answer(response, method, path, self.clock.time())
                    retriable = status in RETRY_STATUSES and (idempotent or status == 429)
                    retry_after = error.retry_after
                if not retriable or attempt >= policy.max_attempts:
                    raise error
                maybe_done = maybe_done or error.server_may_have_acted
                delay = policy.delay(attempt, self.clock.random(), retry_after)
                if deadline is not None and self.clock.now() + delay >= deadline:
                    raise error
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("%s %s: retrying in %.2fs after %s", method, path, delay, error)
                await self.clock.sleep(delay)
        except BaseException:
            # A traceback keeps the frames' locals alive: leave no bearer token in them.
            # (Only here: on success the frame simply ends, and the pop costs ~7 us.)
            headers.pop("Authorization", None)
            raise

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
            left = max(0.001, deadline - self.clock.now())
            if timeout.read is None or timeout.read > left:
                timeout = httpx.Timeout(left)
        try:
            request = self._http.build_request(
                method, url, content=content, headers=headers, params=params, timeout=timeout
            )
            # Streamed, so an oversized body is refused without being held in memory.
            response = await self._http.send(request, stream=True)
            try:
                body = await read_limited(response, self.max_response_bytes)
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
        except httpx.TimeoutException as exc:
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

    async def _post_form(self, url: str, form: Mapping[str, str]) -> FormResponse:
        """Post a form (for token providers); raises `APIConnectionError` on no answer.

        The form may hold a secret: the URL must be https (or loopback), redirects are
        never followed, and nothing of the form is logged.
        """
        check_secure_url(url, "token_url")
        failure: APIConnectionError | None = None
        try:
            request = self._http.build_request("POST", url, data=dict(form), timeout=self._timeout)
        finally:
            del form
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
            try:
                body = await read_limited(response, self.max_response_bytes)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
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
