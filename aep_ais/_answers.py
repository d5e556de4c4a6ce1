"""Reading answers: bounded bodies, models from JSON, and errors from error answers.

The transport sends; this module turns what came back into a model or into the right
`APIError`, so that no raw `json`, `httpx` or cattrs exception ever reaches a caller.
"""

from __future__ import annotations

import json
import time
from typing import Any, TypeVar

import httpx

from ._convert import structure
from ._errors import AISError, APIError, MalformedResponseError, error_for_status, parse_error_body
from ._policies import parse_retry_after

__all__ = ["decode_answer", "decode_body", "error_from_answer", "read_limited", "request_id"]

T = TypeVar("T")

_REQUEST_ID_HEADERS = ("x-request-id", "x-adobe-request-id", "request-id", "x-correlation-id")


def request_id(headers: httpx.Headers) -> str | None:
    """The first request-id header of an answer, shortened, or `None`."""
    for name in _REQUEST_ID_HEADERS:
        value: str | None = headers.get(name)
        if value:
            return value[:128]
    return None


def _sent_token(response: httpx.Response) -> bytes | None:
    """The bearer token the answered request carried, if any."""
    try:
        sent = response.request.headers.get("authorization")
    except RuntimeError:  # a response built by hand has no request
        return None
    if not sent:
        return None
    token = sent.partition(" ")[2].strip() if " " in sent else sent
    return token.encode("latin-1") if token else None


def decode_body(response: httpx.Response) -> Any:
    """The JSON body, or the (shortened) text when it is not JSON.

    A server or proxy that echoes the request's Authorization header would put the bearer
    token in an error's text: every whole occurrence of it becomes `***` before anything
    is decoded or shortened (so no fragment of it can survive a cut either).
    """
    content = response.content
    if not content:
        return None
    token = _sent_token(response)
    if token is not None and token in content:
        content = content.replace(token, b"***")
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return content.decode(response.encoding or "utf-8", errors="replace")[:2000]


async def read_limited(
    response: httpx.Response, limit: int, give_up_at: float | None = None
) -> bytes | None:
    """Read a streamed body (decoded), or `None` as soon as it passes `limit` bytes.

    Past `give_up_at` (a `time.monotonic()` reading) it raises `TimeoutError`: a server
    that trickles its answer cannot hold the read beyond it (by more than one read's wait).
    """
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        if give_up_at is not None and time.monotonic() > give_up_at:
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)


def decode_answer(response: httpx.Response, into: type[T], method: str, path: str) -> T:
    """The answer's JSON body as an `into`, or `MalformedResponseError` (never a raw error)."""
    try:
        return structure(json.loads(response.content), into)
    except AISError:
        raise
    except Exception as exc:  # json, cattrs and the hooks' own errors alike
        # A bad value inside good JSON (a date string, say) raises ValueError too.
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
            problem = f"is not JSON (expected {into.__name__})"
        else:
            problem = f"does not fit {into.__name__}"
        # Named by its first public class: the hooks' `_WrongValueError` is a `TypeError`.
        # (Not by its message, which shows part of a value the server sent.)
        kind = next(c for c in type(exc).__mro__ if not c.__name__.startswith("_")).__name__
        raise MalformedResponseError(
            f"the answer {problem} ({kind})",
            status_code=response.status_code,
            request_id=request_id(response.headers),
            body=decode_body(response),
            method=method,
            path=path,
            server_may_have_acted=True,
        ) from exc


def error_from_answer(
    response: httpx.Response, method: str, path: str, now_epoch: float
) -> APIError:
    """The `APIError` subclass for an error answer, filled from any platform body shape."""
    status = response.status_code
    body = decode_body(response)
    code, message, detail = parse_error_body(body)
    cls = error_for_status(status)
    kwargs: dict[str, Any] = {
        "status_code": status,
        "error_code": code,
        "detail": detail,
        "request_id": request_id(response.headers),
        "body": body,
        "method": method,
        "path": path,
        "server_may_have_acted": status >= 500,
    }
    text = message or response.reason_phrase or f"HTTP {status}"
    # Read on every error: a wait honours it on a 503 as much as on a 429.
    kwargs["retry_after"] = parse_retry_after(response.headers.get("retry-after"), now_epoch)
    return cls(text, **kwargs)
