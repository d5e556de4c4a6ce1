"""`--debug`: the SDK's own log (logger `aep_ais`) as a redacted trace on stderr.

The transport logs each request (method, URL, status, time taken, request id) and each
retry decision; the token provider logs its token requests. No second HTTP layer: the
trace is what the SDK does. Bodies (logger `aep_ais.bodies`) only with `--debug-bodies`;
anything shaped like a bearer token or a secret is masked whatever the message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["debug_trace"]

_SECRETS = re.compile(
    r"(?i)(bearer\s+|\"?(?:access_token|client_secret|secret|token)\"?\s*[:=]\s*\"?)[^\s\",&]+"
)


class _Redact(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return _SECRETS.sub(r"\1***", text)


@contextmanager
def debug_trace(stream: TextIO, *, on: bool, bodies: bool = False) -> Iterator[None]:
    """While inside, the SDK's debug log goes to `stream` (when `on`), redacted."""
    if not on:
        yield
        return
    logger = logging.getLogger("aep_ais")
    body_logger = logging.getLogger("aep_ais.bodies")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Redact("aep-ais debug: %(message)s"))
    saved = (logger.level, logger.propagate, body_logger.level)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    body_logger.setLevel(logging.DEBUG if bodies else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        body_logger.setLevel(saved[2])
