"""The exception hierarchy of `aep_ais`.

```
AISError
├── APIError                 status_code, error_code, message, detail, request_id, body
│   ├── BadRequestError            400
│   ├── AuthenticationError        401
│   ├── PermissionDeniedError      403
│   ├── NotFoundError              404
│   ├── ConflictError              409
│   ├── UnprocessableEntityError   422
│   ├── RateLimitError             429  (retry_after)
│   ├── ServerError                5xx
│   │   ├── InternalServerError        500
│   │   ├── BadGatewayError            502
│   │   ├── ServiceUnavailableError    503
│   │   └── GatewayTimeoutError        504
│   ├── MalformedResponseError     a 2xx answer that is not what the API promises
│   └── ResponseTooLargeError      an answer bigger than `max_response_bytes`, not read
├── APIConnectionError       the request got no HTTP answer
│   └── APITimeoutError
├── ValidationError          bad input caught before anything is sent (also a ValueError)
├── TokenError               the token endpoint refused or failed
├── OperationFailedError     .operation: the create operation ended FAILED
├── RunFailedError           .run: the ingestion run ended FAILED
├── RunInProgressError       another run of that audience is active
├── QuotaExceededError       a guardrail (runs per day, per sandbox or per audience) would be
│                            or was broken: scope, limit, sandbox, audience_id, resets_at
├── JournalError             a bulk call's journal cannot be used (nothing was sent)
├── AnswerLostError          a journaled create was sent before and its answer was lost
├── EarlierFailureError      a journaled item failed for good in an earlier run
└── WaitTimeoutError         a wait ran past its deadline; carries the IDs to resume with
```

Every error says in `retryable` whether the same call may succeed if tried again later:
`True` for connection trouble and timeouts, 429, 5xx, a wait that timed out, a quota that
resets, and a token endpoint that failed (5xx, 429 or unreachable); `False` for bad input,
any other 4xx, a refused credential, a `FAILED` ending, a run in progress under
`if_active="raise"` and an answer the SDK cannot read.

Errors that come from a request carry `server_may_have_acted`: `False` when the server
surely did nothing (a 4xx, or no connection was made), `True` when it may have (a 5xx or a
lost answer), which is what a caller needs to know after a failed create. A
`ValidationError` or `TokenError` means the request was never sent: always `False`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._models import IngestionRun, Operation

__all__ = [
    "AISError",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AnswerLostError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "ConflictError",
    "EarlierFailureError",
    "GatewayTimeoutError",
    "InternalServerError",
    "JournalError",
    "MalformedResponseError",
    "NotFoundError",
    "OperationFailedError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseTooLargeError",
    "RunFailedError",
    "RunInProgressError",
    "ServerError",
    "ServiceUnavailableError",
    "TokenError",
    "UnprocessableEntityError",
    "ValidationError",
    "WaitTimeoutError",
    "error_for_status",
    "parse_error_body",
]


_MAY_HAVE_ACTED = "the platform may have carried it out: check before sending it again"


class AISError(Exception):
    """Base class of every error raised by `aep_ais`.

    `retryable` tells whether the same call may succeed if tried again later (a workflow
    engine's retry decision); each class sets it, and `TokenError` per instance.
    """

    retryable: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        # Process pools and workflow engines pickle exceptions. The default would call
        # `__init__` with the rendered message alone, which no subclass here accepts.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[AISError], args: tuple[Any, ...], state: dict[str, Any]) -> AISError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class APIError(AISError):
    """The API answered with an error status (or with something unreadable).

    `error_code` is the platform code (such as `"100940-404"`) when the body carried one;
    `message` and `detail` are the platform's own words; `body` is the decoded body (or
    the text, for a body that is not JSON); `request_id` is taken from any request-id
    response header; `retry_after` is the server's `Retry-After` hint in seconds, if any.
    """

    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
        server_may_have_acted: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.retry_after = retry_after
        self.status_code = status_code
        self.error_code = error_code
        self.detail = detail
        self.request_id = request_id
        self.body = body
        self.method = method
        self.path = path
        self.server_may_have_acted = server_may_have_acted
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        text = f"{where}{self.message}"
        if self.detail and self.detail != self.message:
            text += f": {self.detail}"
        text += f" (HTTP {self.status_code}"
        if self.error_code:
            text += f", {self.error_code}"
        text += ")"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        acted_on_post = self.server_may_have_acted and self.method == "POST"
        # "Try again later" is bad advice when a retry may create a second audience or run.
        if self.hint and not (acted_on_post and isinstance(self, ServerError)):
            text += f"; {self.hint}"
        if acted_on_post:
            text += f"; {_MAY_HAVE_ACTED}"
        return text


class BadRequestError(APIError):
    """400: the platform rejected the request as invalid."""

    hint = "check the request against the API's rules"


class AuthenticationError(APIError):
    """401: a header is missing or the token, org or credential is not accepted."""

    hint = "check the access token, API key, org id and the credential's product profile"


class PermissionDeniedError(APIError):
    """403: the credential may not do this."""

    hint = "check the credential's permissions and the sandbox name"


class NotFoundError(APIError):
    """404: no such audience, operation or run (in this sandbox)."""

    hint = "check the id, the sandbox, or whether it was deleted"


class ConflictError(APIError):
    """409: the request conflicts with what exists (`DUPLICATE_RESOURCE`, a run in progress)."""


class UnprocessableEntityError(APIError):
    """422: the request is well formed but cannot be carried out."""


class RateLimitError(APIError):
    """429: too many requests; `retry_after` is the server's hint in seconds, if any."""

    hint = "slow down, or raise RetryPolicy.max_attempts"
    retryable = True


class ServerError(APIError):
    """5xx: the platform failed; the request may or may not have been carried out."""

    hint = "the platform failed; try again later"
    retryable = True


class InternalServerError(ServerError):
    """500."""


class BadGatewayError(ServerError):
    """502."""


class ServiceUnavailableError(ServerError):
    """503."""


class GatewayTimeoutError(ServerError):
    """504."""


class MalformedResponseError(APIError):
    """The answer's status was fine but its body is not what the API promises."""

    hint = "the platform sent an unexpected answer; report it with the request id"


class ResponseTooLargeError(APIError):
    """The answer's body was bigger than the client's `max_response_bytes`; it was not read.

    `limit` is the bound in bytes. The request itself may have been carried out.
    """

    hint = "raise max_response_bytes on the client if such answers are expected"

    def __init__(self, message: str, *, limit: int, **kw: Any) -> None:
        self.limit = limit
        super().__init__(message, **kw)


class APIConnectionError(AISError):
    """The request got no HTTP answer: the connection failed or was lost.

    `server_may_have_acted` is `False` when the connection was never made, `True` when
    the request may have reached the server before the answer was lost.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        server_may_have_acted: bool = True,
    ) -> None:
        self.method = method
        self.path = path
        self.server_may_have_acted = server_may_have_acted
        where = f"{method} {path}: " if method and path else ""
        warning = f"; {_MAY_HAVE_ACTED}" if server_may_have_acted and method == "POST" else ""
        super().__init__(f"{where}{message}{warning}")


class APITimeoutError(APIConnectionError):
    """The request timed out before an answer came."""


class ValidationError(AISError, ValueError):
    """Bad input, caught before any request was sent; `field` names the culprit.

    `extra_key` is set by `from_dict(..., strict=True)` when the problem is a key that
    does not belong where it stands (unknown there, or moved by a newer API revision): that
    key, whole (as text), while `field` ends with it cut short (past 40 characters, to its
    first 40 and `...`). It is `None` for every other problem, such as a missing key or a
    value of the wrong type.
    """

    # Nothing was sent, so a failed create can be sent again once the input is fixed.
    server_may_have_acted = False

    def __init__(
        self,
        field: str,
        problem: str,
        *,
        wire_name: str | None = None,
        extra_key: str | None = None,
    ) -> None:
        self.field = field
        self.problem = problem
        self.extra_key = extra_key
        # The field as the request body (and a CLI spec file) spells it, e.g. `ttlInDays`.
        self.wire_name = wire_name if wire_name is not None else field
        named = field if self.wire_name == field else f"{field} ({self.wire_name})"
        super().__init__(f"{named}: {problem}")


class TokenError(AISError):
    """The token endpoint refused to issue a token, or could not be reached.

    `server_may_have_acted` is `False`: the API request that needed the token was not
    sent (a create is retried only after attempts the server surely did not act on).
    `retryable` is `True` when the endpoint failed (5xx, 429) or could not be reached
    (`status_code` is `None`), `False` when it refused the credential or answered nonsense.
    """

    server_may_have_acted = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.retryable = status_code is None or status_code == 429 or status_code >= 500
        text = message
        if status_code is not None:
            text += f" (HTTP {status_code}"
            text += f", {error_code})" if error_code else ")"
        super().__init__(text)


class OperationFailedError(AISError):
    """The audience-creation operation ended `FAILED`; `operation` is its last state."""

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.operation_id = operation.operation_id
        super().__init__(
            f"operation {operation.operation_id} failed"
            + (f" for audience {operation.audience_name!r}" if operation.audience_name else "")
        )


class RunFailedError(AISError):
    """The ingestion run ended `FAILED`; `run` is its last state, stages included."""

    def __init__(self, run: IngestionRun) -> None:
        self.run = run
        self.audience_id = run.audience_id
        self.run_id = run.run_id
        stages = ", ".join(f"{s.stage}={s.status}" for s in run.details)
        super().__init__(
            f"run {run.run_id} of audience {run.audience_id} failed"
            + (f" ({stages})" if stages else "")
        )


class RunInProgressError(AISError):
    """Another ingestion run of the audience is active; `run_id` names it when known."""

    def __init__(self, audience_id: str, run_id: str | None = None, *, detail: str = "") -> None:
        self.audience_id = audience_id
        self.run_id = run_id
        text = f"audience {audience_id} has an ingestion run in progress"
        if run_id:
            text += f" ({run_id})"
        if detail:
            text += f": {detail}"
        super().__init__(text + "; wait for it, or use if_active='wait' or 'attach'")


class QuotaExceededError(AISError):
    """A guardrail on ingestion runs would be broken (nothing was sent) or the server said so.

    `scope` is `"sandbox"` (runs per sandbox per day) or `"audience"` (runs per audience
    per day); `limit` is that number; `sandbox` and `audience_id` say where; `resets_at`
    (an aware `datetime`, when known) is when the rolling day frees a run again. The quota
    resets, so the error is `retryable`.
    """

    retryable = True

    def __init__(
        self,
        scope: Literal["sandbox", "audience"],
        *,
        limit: int,
        sandbox: str,
        audience_id: str | None = None,
        resets_at: datetime | None = None,
    ) -> None:
        self.scope = scope
        self.limit = limit
        self.sandbox = sandbox
        self.audience_id = audience_id
        self.resets_at = resets_at
        if scope == "audience":
            what = f"audience {audience_id} in sandbox {sandbox!r}"
        else:
            what = f"sandbox {sandbox!r}"
        text = f"{what} reached its quota of {limit} ingestion runs a day"
        if resets_at is not None:
            text += f"; a run frees up at {resets_at.isoformat()}"
        super().__init__(text)


class JournalError(AISError):
    """A bulk call's journal cannot be used; nothing of the batch was sent.

    The file cannot be written (a read-only path), another process holds it, it was
    written by another batch (other inputs or settings), or a line in its middle is not
    a journal record. `path` names the file.
    """

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class AnswerLostError(AISError):
    """An earlier run of a journaled batch sent this item's create and lost the answer.

    The server may have created the audience; the SDK does not send the create again on
    its own (that could make a second one). `operation_id` is `None`: the answer that
    would have named it never came. Look the audience up (by name) before trying again.
    """

    server_may_have_acted = True

    def __init__(self, what: str, *, index: int, path: str) -> None:
        self.index = index
        self.path = path
        super().__init__(
            f"item {index} of journal {path}: {what} was sent and its answer was lost; "
            "not sent again. It may have been carried out: check before sending it again"
        )


class EarlierFailureError(AISError):
    """An item of a journaled batch failed for good in an earlier run of that batch.

    `error_type` and `error_message` are the original error's class name and message, as
    the journal recorded them; the item is not tried again.
    """

    def __init__(self, *, index: int, error_type: str, error_message: str) -> None:
        self.index = index
        self.error_type = error_type
        self.error_message = error_message
        super().__init__(f"item {index} failed in an earlier run: {error_type}: {error_message}")


class WaitTimeoutError(AISError):
    """A wait ran past its deadline. The IDs let a later call resume the wait.

    `kind` is `"operation"` or `"run"`; `last_status` is the last status seen, if any.
    `timeout` is the poll policy's timeout and `deadline` the absolute `deadline=` the
    call was given (either may be `None`); the earlier of the two ended the wait. Pass the
    same `deadline` to the resumed wait to keep the first one.
    It is `retryable`: a later wait, from the same IDs, may see the end.
    """

    retryable = True

    def __init__(
        self,
        kind: str,
        *,
        timeout: float | None,
        operation_id: str | None = None,
        audience_id: str | None = None,
        run_id: str | None = None,
        last_status: str | None = None,
        deadline: datetime | None = None,
    ) -> None:
        self.kind = kind
        self.timeout = timeout
        self.deadline = deadline
        self.operation_id = operation_id
        self.audience_id = audience_id
        self.run_id = run_id
        self.last_status = last_status
        if kind == "operation":
            what = f"operation {operation_id}"
            resume = f"wait_for_operation({operation_id!r})"
        else:
            what = f"run {run_id} of audience {audience_id}"
            resume = f"wait_for_run({audience_id!r}, {run_id!r})"
        ends = []
        if timeout is not None:
            ends.append(f"after {timeout:g}s")
        if deadline is not None:
            ends.append(f"at the deadline {deadline.isoformat()}")
        end = f" {' or '.join(ends)}" if ends else ""
        super().__init__(f"{what} still {last_status or 'unknown'}{end}; resume with {resume}")


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def error_for_status(status_code: int) -> type[APIError]:
    """The exception class for an HTTP error status."""
    cls = _STATUS_CLASSES.get(status_code)
    if cls is not None:
        return cls
    if status_code >= 500:
        return ServerError
    return APIError


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    return json.dumps(value, sort_keys=True, default=str)[:500]


def parse_error_body(body: Any) -> tuple[str | None, str | None, str | None]:
    """Read `(error_code, message, detail)` from any of the platform's error body shapes.

    Shapes: `{"error_code", "message"}`, `{"errorCode", "message"}`,
    `{"type", "title", "status", "detail", "report"}` (the code ends `type`) and
    `{"errorMessage"}`; anything else gives `(None, None, None)`.
    """
    if not isinstance(body, dict):
        return None, None, None
    code = _text(body.get("error_code")) or _text(body.get("errorCode"))
    message = _text(body.get("message")) or _text(body.get("errorMessage"))
    detail = _text(body.get("detail"))
    error_type = body.get("type")
    if isinstance(error_type, str) and error_type:
        if code is None:
            code = error_type.rstrip("/").rsplit("/", 1)[-1] or None
        message = message or _text(body.get("title"))
    if message is None and detail is not None:
        message, detail = detail, None
    return code, message, detail


for _cls in (
    AISError,
    APIError,
    BadRequestError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    ConflictError,
    UnprocessableEntityError,
    RateLimitError,
    ServerError,
    InternalServerError,
    BadGatewayError,
    ServiceUnavailableError,
    GatewayTimeoutError,
    MalformedResponseError,
    ResponseTooLargeError,
    APIConnectionError,
    APITimeoutError,
    ValidationError,
    TokenError,
    OperationFailedError,
    RunFailedError,
    RunInProgressError,
    QuotaExceededError,
    JournalError,
    AnswerLostError,
    EarlierFailureError,
    WaitTimeoutError,
):
    _cls.__module__ = "aep_ais"
