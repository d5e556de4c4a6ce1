"""Exit statuses and one-line error messages of the command line.

Each class of failure has its own exit status, so a script can tell "fix your input" from
"try again later" without reading the message.
"""

from __future__ import annotations

import re

from .. import _errors as e

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
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
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool cut off by `head`

# First match wins, so subclasses come before their bases.
_TABLE: tuple[tuple[type[BaseException], int], ...] = (
    (e.ValidationError, EXIT_USAGE),
    (e.JournalError, EXIT_USAGE),
    (e.BadRequestError, EXIT_USAGE),
    (e.UnprocessableEntityError, EXIT_USAGE),
    (e.AuthenticationError, EXIT_AUTH),
    (e.PermissionDeniedError, EXIT_AUTH),
    (e.TokenError, EXIT_AUTH),
    (e.NotFoundError, EXIT_NOT_FOUND),
    (e.ConflictError, EXIT_CONFLICT),
    (e.RunInProgressError, EXIT_CONFLICT),
    (e.OperationFailedError, EXIT_FAILED),
    (e.RunFailedError, EXIT_FAILED),
    (e.WaitTimeoutError, EXIT_TIMEOUT),
    (e.RateLimitError, EXIT_UNAVAILABLE),
    (e.ServerError, EXIT_UNAVAILABLE),
    (e.MalformedResponseError, EXIT_UNAVAILABLE),
    (e.APIConnectionError, EXIT_UNAVAILABLE),
)

_MEANINGS = (
    (EXIT_OK, "success"),
    (EXIT_OTHER, "any other error"),
    (EXIT_USAGE, "bad usage or input: arguments, spec file, rejected request (400, 422)"),
    (EXIT_AUTH, "credentials missing or refused (401, 403, token endpoint)"),
    (EXIT_NOT_FOUND, "no such audience, operation or run (404)"),
    (EXIT_CONFLICT, "the audience exists (409) or a run is already in progress"),
    (EXIT_FAILED, "the operation or ingestion run ended FAILED"),
    (EXIT_TIMEOUT, "a --wait ran past its --wait-timeout (resume it later)"),
    (EXIT_UNAVAILABLE, "platform unavailable: 5xx, rate limited, no connection, bad answer"),
    (EXIT_SOME_FAILED, "create-many / run-many: some items failed (each one's line says why)"),
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


def describe(exc: BaseException, *, host: str | None = None) -> str:
    """One line saying what went wrong: class name and message, never a traceback.

    `host` is the API host the command talked to; a connection failure names it.
    """
    if isinstance(exc, CLIError):
        text = exc.message
    elif isinstance(exc, e.WaitTimeoutError):
        text = f"{type(exc).__name__}: {_timeout_text(exc)}"
    elif isinstance(exc, e.RunInProgressError):
        # The SDK's advice names its Python argument; here the flag says the same.
        advice = _PYTHON_ADVICE.sub("use --if-active wait|attach", str(exc))
        text = f"{type(exc).__name__}: {advice}"
    elif isinstance(exc, e.APIConnectionError) and host:
        text = f"{type(exc).__name__}: could not reach {host}: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


_PYTHON_ADVICE = re.compile(r"use if_active=.*$", re.DOTALL)


def _timeout_text(exc: e.WaitTimeoutError) -> str:
    if exc.kind == "operation":
        what = f"operation {exc.operation_id}"
        resume = f"aep-ais status {exc.operation_id} --wait"
    else:
        what = f"run {exc.run_id} of audience {exc.audience_id}"
        resume = f"aep-ais run-status {exc.audience_id} {exc.run_id} --wait"
    after = f" after {exc.timeout:g}s" if exc.timeout is not None else ""
    return f"{what} still {exc.last_status or 'unknown'}{after}; resume with `{resume}`"


def epilog() -> str:
    """The exit-status table, for `--help`."""
    rows = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in _MEANINGS)
    return "exit status:\n" + rows
