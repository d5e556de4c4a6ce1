"""What the emulator answers: replies, the platform's error bodies and its error codes.

Error bodies deliberately come in the several shapes the platform uses, so a client is
exercised on all of them: AIS errors use the `{"type", "title", "status", "detail",
"report"}` shape (the code ends `type`), gateway errors `{"error_code", "message"}`, and
injected faults a mix of `{"errorCode", "message"}` and `{"errorMessage"}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = [
    "AIS_ERRORS",
    "Problem",
    "Reply",
    "ais_error",
    "gateway_error",
    "guardrail_code",
    "json_reply",
]

# Platform error code -> (HTTP status, title), from the API's error appendix.
AIS_ERRORS: dict[str, tuple[int, str]] = {
    "100910-400": (400, "BAD_REQUEST"),
    "100911-400": (400, "BAD_REQUEST"),
    "100920-401": (401, "UNAUTHORIZED"),
    "100921-401": (401, "UNAUTHORIZED"),
    "100922-401": (401, "UNAUTHORIZED"),
    "100940-404": (404, "NOT_FOUND"),
    "100950-409": (409, "DUPLICATE_RESOURCE"),
    "100960-422": (422, "UNPROCESSABLE_ENTITY"),
    "100970-500": (500, "INTERNAL_SERVER_ERROR"),
    "100970-502": (502, "BAD_GATEWAY"),
}

# A refusal past a run limit: its status and code are not documented, so the status is
# an emulator option and the code is the emulator's own.
_GUARDRAIL = "100965"

BAD_REQUEST = "100910-400"
NOT_FOUND = "100940-404"
DUPLICATE = "100950-409"
UNPROCESSABLE = "100960-422"


@dataclass
class Reply:
    """One HTTP answer, or a dropped connection (`drop` is `"before"` or `"after"`)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: str | None = None


class Problem(Exception):
    """Raised by the emulator's rules; becomes an AIS error answer."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


def json_reply(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    """A JSON answer with the given status."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, [("content-type", "application/json"), *(headers or [])])


def ais_error(code: str, detail: str, request_id: str) -> Reply:
    """An AIS error answer for a documented platform error code."""
    if code in AIS_ERRORS:
        status, title = AIS_ERRORS[code]
    else:
        status = int(code.rpartition("-")[2])
        title = HTTPStatus(status).phrase.upper().replace(" ", "_")
    return json_reply(
        status,
        {
            "type": f"http://ns.adobe.com/aep/errors/{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "report": {"requestId": request_id},
        },
    )


def gateway_error(status: int, code: str, message: str) -> Reply:
    """An API-gateway error answer (token, API key and routing problems)."""
    return json_reply(status, {"error_code": code, "message": message})


def guardrail_code(status: int) -> str:
    """The error code of a guardrail refusal answered with `status` (the 422 is AIS's own)."""
    return UNPROCESSABLE if status == 422 else f"{_GUARDRAIL}-{status}"
