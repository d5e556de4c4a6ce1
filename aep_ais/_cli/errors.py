"""Exit statuses and one-line error messages of the command line.

Each class of failure has its own exit status, so a script can tell "fix your input" from
"try again later" without reading the message.
"""

from __future__ import annotations

import re
from datetime import UTC

from aep_ais import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    JournalError,
    MalformedResponseError,
    NotFoundError,
    OperationFailedError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RunFailedError,
    RunInProgressError,
    ServerError,
    TokenError,
    UnprocessableEntityError,
    ValidationError,
    WaitTimeoutError,
)

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_QUOTA",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "CLIError",
    "describe",
    "epilog",
    "exit_code_for",
]

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_FAILED = 6
EXIT_TIMEOUT = 7
EXIT_UNAVAILABLE = 8
EXIT_SOME_FAILED = 9  # create-many / run-many: some items failed
EXIT_QUOTA = 10
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool cut off by `head`

# First match wins, so subclasses come before their bases.
_TABLE: tuple[tuple[type[BaseException], int], ...] = (
    (QuotaExceededError, EXIT_QUOTA),
    (ValidationError, EXIT_USAGE),
    (JournalError, EXIT_USAGE),
    (BadRequestError, EXIT_USAGE),
    (UnprocessableEntityError, EXIT_USAGE),
    (AuthenticationError, EXIT_AUTH),
    (PermissionDeniedError, EXIT_AUTH),
    (TokenError, EXIT_AUTH),
    (NotFoundError, EXIT_NOT_FOUND),
    (ConflictError, EXIT_CONFLICT),
    (RunInProgressError, EXIT_CONFLICT),
    (OperationFailedError, EXIT_FAILED),
    (RunFailedError, EXIT_FAILED),
    (WaitTimeoutError, EXIT_TIMEOUT),
    (RateLimitError, EXIT_UNAVAILABLE),
    (ServerError, EXIT_UNAVAILABLE),
    (MalformedResponseError, EXIT_UNAVAILABLE),
    (APIConnectionError, EXIT_UNAVAILABLE),
)

_MEANINGS = (
    (EXIT_OK, "success"),
    (EXIT_OTHER, "any other error"),
    (
        EXIT_USAGE,
        "bad usage, input or configuration: arguments, settings, spec file, "
        "rejected request (400, 422)",
    ),
    (EXIT_AUTH, "credentials missing or refused (401, 403, token endpoint)"),
    (EXIT_NOT_FOUND, "no such audience, operation or run (404)"),
    (EXIT_CONFLICT, "the audience exists (409) or a run is already in progress"),
    (EXIT_FAILED, "the operation or ingestion run shown or waited for is FAILED"),
    (EXIT_TIMEOUT, "a --wait ran past its --wait-timeout (resume it later)"),
    (EXIT_UNAVAILABLE, "platform unavailable: 5xx, rate limited, no connection, bad answer"),
    (EXIT_SOME_FAILED, "create-many / run-many: some items failed (each one's line says why)"),
    (EXIT_QUOTA, "a daily run quota is spent (the message says when it resets)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)


class CLIError(Exception):
    """A failure the command line found itself (bad file, missing credentials, ...)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        self.message = message
        self.exit_code = exit_code
        super().__init__(message)


def exit_code_for(exc: BaseException) -> int:
    """The exit status for an exception."""
    if isinstance(exc, CLIError):
        return exc.exit_code
    for cls, code in _TABLE:
        if isinstance(exc, cls):
            return code
    return EXIT_OTHER


def describe(exc: BaseException, *, host: str | None = None, prefix: str | None = "aep-ais") -> str:
    """One line saying what went wrong: class name and message, never a traceback.

    `host` is the API host the command talked to; a connection failure names it.
    `prefix` starts every command the line suggests (`aep-ais` with the global options
    in effect), `None` when no later command can pick anything up (`--emulator`).
    """
    if isinstance(exc, CLIError):
        text = exc.message
    elif isinstance(exc, WaitTimeoutError):
        text = f"{type(exc).__name__}: {_timeout_text(exc, prefix)}"
    elif isinstance(exc, RunInProgressError):
        # The SDK's advice names its Python argument; here the flag says the same.
        advice = _PYTHON_ADVICE.sub("use --if-active wait|attach", str(exc))
        text = f"{type(exc).__name__}: {advice}"
    elif isinstance(exc, QuotaExceededError):
        text = f"{type(exc).__name__}: {_quota_text(exc)}"
    elif isinstance(exc, RateLimitError):
        text = f"{type(exc).__name__}: " + str(exc).replace(RateLimitError.hint, _RETRIES_HINT)
    elif isinstance(exc, ConflictError):
        text = f"{type(exc).__name__}: {_conflict_text(exc)}"
    elif isinstance(exc, APIConnectionError) and host:
        text = f"{type(exc).__name__}: could not reach {host}: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


_PYTHON_ADVICE = re.compile(r"use if_active=.*$", re.DOTALL)
_RETRIES_HINT = "slow down, or give more attempts with --retries N"


def _quota_text(exc: QuotaExceededError) -> str:
    text = str(exc).split("; a run frees up at", 1)[0]
    if exc.resets_at is None:
        return f"{text}; resets_at unknown, try again later"
    when = exc.resets_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return f"{text}; resets_at {when}"


def _conflict_text(exc: ConflictError) -> str:
    text = str(exc)
    if exc.path is not None and exc.path.rstrip("/").endswith("/runs"):
        return (
            f"{text}; a run of this audience is in progress: `aep-ais runs AUDIENCE_ID "
            "--status PROCESSING` shows it, `run ... --wait --if-active wait|attach` waits for it"
        )
    if exc.method == "POST":
        return (
            f"{text}; an audience with this name exists: its id is in the operation of "
            "its create (`aep-ais status OPERATION_ID`) or in the Platform UI, or pick "
            "another name"
        )
    return text


def _timeout_text(exc: WaitTimeoutError, prefix: str | None) -> str:
    if exc.kind == "operation":
        what = f"operation {exc.operation_id}"
        resume = f"{prefix} status {exc.operation_id} --wait"
    else:
        what = f"run {exc.run_id} of audience {exc.audience_id}"
        resume = f"{prefix} run-status {exc.audience_id} {exc.run_id} --wait"
    after = f" after {exc.timeout:g}s" if exc.timeout is not None else ""
    text = f"{what} still {exc.last_status or 'unknown'}{after}"
    if prefix is None:
        return f"{text}; the in-process emulator is gone, nothing to resume"
    return f"{text}; resume with `{resume}`"


def epilog() -> str:
    """The exit-status table, for `--help`."""
    rows = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in _MEANINGS)
    return "exit status:\n" + rows
