"""Seeing what the SDK does: OpenTelemetry spans, log fields and client-wide hooks (a leaf).

`opentelemetry` is imported on the first traced call, and only when it is installed:
without it every helper here is a cheap no-op. Each public client call runs in a `Call`
(a context variable): its hooks, the ids it works on and its span. The transport and the
polling engine report to the current `Call` without being handed anything.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
import inspect
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import attrs

from ._version import __version__

__all__ = [
    "Call",
    "Hooks",
    "PollEvent",
    "RequestEvent",
    "RetryEvent",
    "WaitEndEvent",
    "Watch",
    "current",
    "http_span",
    "log_extra",
    "run_call",
    "traced",
    "tracer",
]

logger = logging.getLogger("aep_ais")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
A = TypeVar("A")
R = TypeVar("R")

# Log record `extra` fields: prefixed so none clashes with a `LogRecord` attribute.
_ID_FIELDS = ("audience_id", "operation_id", "run_id")


@attrs.frozen(kw_only=True)
class RequestEvent:
    """One HTTP attempt ended: its answer's status, or the error of no answer."""

    method: str
    path: str
    attempt: int
    """1 for the first try; a resend after a token refresh keeps its attempt's number."""
    status_code: int | None
    """`None` when no answer came (see `error`)."""
    error: str | None
    """The SDK error's class name when no answer came."""
    elapsed: float
    """Seconds the attempt took, by the client's clock."""
    request_id: str | None
    """The platform's request id, when the answer carried one."""


@attrs.frozen(kw_only=True)
class RetryEvent:
    """A failed attempt is retried after `wait` seconds."""

    method: str
    path: str
    attempt: int
    """The attempt that failed (1 for the first try)."""
    reason: str
    """`"status 503"`, `"status 429"`, `"timeout"` or `"connection"`."""
    wait: float
    request_id: str | None


@attrs.frozen(kw_only=True)
class PollEvent:
    """A wait polled its operation or run and saw `status`."""

    kind: str
    """`"operation"` or `"run"`."""
    operation_id: str | None
    audience_id: str | None
    run_id: str | None
    status: str | None
    """`None` when the poll failed with a transient error (it is polled again)."""
    polls: int
    """Polls of this wait so far, this one included."""
    wait: float
    """Seconds since the previous poll of this wait answered (or since it began)."""


@attrs.frozen(kw_only=True)
class WaitEndEvent:
    """A wait ended: its outcome, how many polls it took and how long."""

    kind: str
    operation_id: str | None
    audience_id: str | None
    run_id: str | None
    status: str | None
    """The last status seen (`None` if no poll answered)."""
    outcome: str
    """`"done"`, `"timeout"`, `"error"` or `"cancelled"`."""
    polls: int
    elapsed: float
    """Seconds by the client's clock."""


Hook = Callable[[Any], object]


@attrs.frozen(kw_only=True)
class Hooks:
    """Client-wide callbacks for metrics, without OpenTelemetry: `AISClient(hooks=...)`.

    Each is called with one event (`RequestEvent`, `RetryEvent`, `PollEvent`,
    `WaitEndEvent`) and may be a plain function or a coroutine function (awaited in
    place: keep it quick). A hook that raises is logged on the `aep_ais` logger and never
    breaks the call. Views of a client (`with_options`) share its hooks.
    """

    on_request: Callable[[RequestEvent], object] | None = None
    on_retry: Callable[[RetryEvent], object] | None = None
    on_poll: Callable[[PollEvent], object] | None = None
    on_wait_end: Callable[[WaitEndEvent], object] | None = None


NO_HOOKS = Hooks()


class Call:
    """The public call being served: its hooks, ids, span and poll count.

    (A plain slotted class: made on every call, and an attrs class costs at import.)
    """

    __slots__ = (
        "audience_id",
        "hooks",
        "operation_id",
        "parent",
        "polls",
        "run_id",
        "sandbox",
        "span",
    )

    def __init__(self, hooks: Hooks, sandbox: str, parent: Call | None = None) -> None:
        self.hooks = hooks
        self.sandbox = sandbox
        self.parent = parent
        self.polls = 0
        self.span: Any = None
        if parent is None:
            self.audience_id: str | None = None
            self.operation_id: str | None = None
            self.run_id: str | None = None
        else:
            self.audience_id = parent.audience_id
            self.operation_id = parent.operation_id
            self.run_id = parent.run_id

    def polled(self) -> int:
        """Count a poll, here and in the calls this one runs in; this call's count."""
        call: Call | None = self
        while call is not None:
            call.polls += 1
            call = call.parent
        return self.polls

    def note(self, **ids: str | None) -> None:
        """Record ids learned on the way (the span gets them too)."""
        for key, value in ids.items():
            if value is not None:
                setattr(self, key, value)
                if self.span is not None:
                    self.span.set_attribute(f"aep.{key}", value)

    def event(self, name: str, attributes: dict[str, Any]) -> None:
        if self.span is not None:
            self.span.add_event(name, attributes)

    async def emit(self, hook: Callable[[Any], object] | None, event: object) -> None:
        """Call `hook(event)` (awaited if it returns an awaitable); log what it raises."""
        if hook is None:
            return
        try:
            result = hook(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # noqa: BLE001 - a user's hook never breaks the call
            logger.warning(
                "hook %s raised %s: %s",
                getattr(hook, "__qualname__", repr(hook)),
                type(exc).__name__,
                exc,
                extra=log_extra(self),
            )


_CURRENT: contextvars.ContextVar[Call | None] = contextvars.ContextVar("aep_ais_call", default=None)


def current() -> Call | None:
    """The public call this code runs in, if any."""
    return _CURRENT.get()


def log_extra(call: Call | None, **fields: Any) -> dict[str, Any]:
    """A log record's `extra`: the call's ids and `fields`, each prefixed `aep_`."""
    extra = {f"aep_{key}": value for key, value in fields.items() if value is not None}
    if call is not None:
        extra["aep_sandbox"] = call.sandbox
        for key in _ID_FIELDS:
            value = getattr(call, key)
            if value is not None:
                extra[f"aep_{key}"] = value
    return extra


class Watch:
    """Reports one wait: each poll (DEBUG log, span event, `on_poll`) and its end
    (`aep.polls` on the span, `on_wait_end`). Wrap the engine's fetch with `fetch`, and
    run the wait inside `async with watch:`.
    """

    __slots__ = ("_call", "_ids", "_kind", "_last", "_now", "_polls", "_started", "_status")

    def __init__(self, kind: str, ids: dict[str, str], now: Callable[[], float]) -> None:
        self._call = current()
        self._kind = kind
        self._ids = ids
        self._now = now
        self._polls = 0
        self._status: str | None = None
        self._started = self._last = 0.0

    def _event_ids(self) -> dict[str, str | None]:
        ids = self._ids
        return {key: ids.get(key) for key in _ID_FIELDS}

    def fetch(self, fetch: Callable[[Any], Awaitable[A]]) -> Callable[[Any], Awaitable[A]]:
        """`fetch`, reporting each poll it makes."""
        call = self._call
        if call is None:
            return fetch

        async def polled(*args: Any) -> A:
            wait = self._now() - self._last
            try:
                answer = await fetch(*args)
            except Exception:
                await self._report(call, None, wait, ok=False)
                raise
            raw = getattr(getattr(answer, "value", answer), "status", None)
            await self._report(call, None if raw is None else str(raw), wait, ok=True)
            return answer

        return polled

    async def _report(self, call: Call, status: str | None, wait: float, *, ok: bool) -> None:
        self._last = self._now()
        self._polls = polls = call.polled()
        if ok:
            self._status = status
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s poll %d after %.2fs: %s",
                self._kind,
                polls,
                wait,
                status if ok else "failed",
                extra=log_extra(call, poll=polls, poll_wait=round(wait, 3), status=status),
            )
        call.event(
            "aep.poll",
            {"aep.poll.number": polls, "aep.poll.wait": wait, "aep.status": status or ""},
        )
        if call.hooks.on_poll is not None:
            event = PollEvent(
                kind=self._kind, status=status, polls=polls, wait=wait, **self._event_ids()
            )
            await call.emit(call.hooks.on_poll, event)

    async def __aenter__(self) -> Watch:
        self._started = self._last = self._now()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        call = self._call
        if call is None:
            return
        if call.span is not None and call.polls:
            call.span.set_attribute("aep.polls", call.polls)
        hook = call.hooks.on_wait_end
        if hook is None:
            return
        if exc_type is None:
            outcome = "done"
        elif issubclass(exc_type, TimeoutError) or exc_type.__name__ == "WaitTimeoutError":
            outcome = "timeout"
        elif issubclass(exc_type, Exception):
            outcome = "error"
        else:
            outcome = "cancelled"
        event = WaitEndEvent(
            kind=self._kind,
            status=self._status,
            outcome=outcome,
            polls=self._polls,
            elapsed=self._now() - self._started,
            **self._event_ids(),
        )
        with anyio.CancelScope(shield=True):  # reported even when the wait is cancelled
            await call.emit(hook, event)


# OpenTelemetry, imported lazily --------------------------------------------------------

_tracer: list[Any] = []  # [] before the first look; [None] without opentelemetry


def tracer() -> Any:
    """The SDK's tracer (following the global provider), or `None` without opentelemetry."""
    if _tracer:
        return _tracer[0]
    found: Any = None
    try:
        if importlib.util.find_spec("opentelemetry.trace") is not None:
            from opentelemetry import trace

            found = trace.get_tracer("aep_ais", __version__)
    except (ImportError, ValueError):  # blocked (`sys.modules[name] = None`) or broken
        found = None
    _tracer.append(found)
    return found


def _use_span(span: Any) -> Any:
    """`span` as the current one until the block ends, then ended."""
    from opentelemetry.trace import use_span

    return use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False)


def _set_error(span: Any, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    span.set_attribute("error.type", type(exc).__qualname__)
    # The SDK's own errors carry no secret (the transport scrubs requests on the way).
    span.record_exception(exc)


def _learn(call: Call, result: Any) -> None:
    """Take the ids a result names into `call` and the calls it runs in; its status too."""
    if result is None:
        return
    for key in _ID_FIELDS:
        value = getattr(result, key, None)
        if isinstance(value, str):
            target: Call | None = call
            while target is not None and getattr(target, key) is None:
                target.note(**{key: value})
                target = target.parent
    if call.span is not None:
        status = getattr(result, "status", None)
        if status is not None:
            call.span.set_attribute("aep.status", str(status))
        if call.polls:
            call.span.set_attribute("aep.polls", call.polls)


async def run_call(
    name: str,
    hooks: Hooks,
    sandbox: str,
    ids: dict[str, str],
    work: Callable[[], Awaitable[R]],
) -> R:
    """`await work()` as a `Call` named `name` (a span when tracing), inside the current one."""
    parent = _CURRENT.get()
    call = Call(hooks, sandbox, parent)
    for key, value in ids.items():
        setattr(call, key, value)
    token = _CURRENT.set(call)
    try:
        otel = _tracer[0] if _tracer else tracer()
        if otel is None:
            result = await work()
            _learn(call, result)
            return result
        span = otel.start_span(name)
        if not span.is_recording():
            # A no-op provider or a sampled-out trace: nothing to attach or annotate.
            result = await work()
            _learn(call, result)
            return result
        call.span = span
        span.set_attribute("aep.sandbox", call.sandbox)
        for key in _ID_FIELDS:
            value = getattr(call, key)
            if value is not None:
                span.set_attribute(f"aep.{key}", value)
        with _use_span(span):
            try:
                result = await work()
            except BaseException as exc:
                if call.polls:
                    span.set_attribute("aep.polls", call.polls)
                _set_error(span, exc)
                raise
            _learn(call, result)
            return result
    finally:
        _CURRENT.reset(token)


def traced(*arg_ids: str) -> Callable[[F], F]:
    """Run a public client method as a `Call`, in a span `aep_ais.<name>` when tracing.

    `arg_ids` name the ids the method's first positional arguments are (`"audience_id"`,
    ...), read from the arguments whether passed by position or keyword.
    """

    def decorate(method: F) -> F:
        name = f"aep_ais.{method.__name__}"

        @functools.wraps(method)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            ids = {}
            for key, value in zip(arg_ids, args, strict=False):
                if isinstance(value, str):
                    ids[key] = value
            for key in arg_ids:
                value = kwargs.get(key)
                if isinstance(value, str):
                    ids[key] = value
            return await run_call(
                name, self._hooks, self._sandbox, ids, lambda: method(self, *args, **kwargs)
            )

        return wrapper  # type: ignore[return-value]

    return decorate


_SENSITIVE_QUERY_KEYS = frozenset(
    {"awsaccesskeyid", "signature", "sig", "x-goog-signature", "token", "access_token", "key"}
)


def _safe_url(url: str) -> str:
    """`url` with the values of credential-like query keys replaced by `REDACTED`."""
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return url
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = urllib.parse.urlencode(
        [(k, "REDACTED" if k.lower() in _SENSITIVE_QUERY_KEYS else v) for k, v in pairs]
    )
    return urllib.parse.urlunsplit(parts._replace(query=query))


class http_span:
    """A CLIENT span for one HTTP attempt, per OpenTelemetry's HTTP client conventions."""

    __slots__ = ("_cm", "span")

    def __init__(self, otel: Any, method: str, url: str, resend_count: int) -> None:
        from opentelemetry.trace import SpanKind

        parts = urllib.parse.urlsplit(url)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.full": _safe_url(url),
            "server.address": parts.hostname or "",
            "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        }
        if resend_count:
            attributes["http.request.resend_count"] = resend_count
        self._cm = otel.start_as_current_span(
            method,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        self.span: Any = None

    def __enter__(self) -> http_span:
        self.span = self._cm.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._cm.__exit__(*exc_info)

    def answered(self, status: int, request_id: str | None) -> None:
        span = self.span
        span.set_attribute("http.response.status_code", status)
        if request_id is not None:
            span.set_attribute("aep.request_id", request_id)
        if status >= 400:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))

    def failed(self, exc: BaseException) -> None:
        _set_error(self.span, exc)


for _cls in (Hooks, RequestEvent, RetryEvent, PollEvent, WaitEndEvent):
    _cls.__module__ = "aep_ais"
