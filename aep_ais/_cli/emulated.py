"""The command line on the emulator: an in-process client for `--emulator` and `demo`,
and the `emulator --port` server."""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TextIO
from urllib.parse import urlsplit

from aep_ais import (
    AISClient,
    Clock,
    OAuthServerToServer,
    PollPolicy,
)

from .errors import EXIT_OTHER, CLIError
from .trail import Trail

__all__ = ["EMULATOR_ORG_ID", "emulated_client", "serve"]

EMULATOR_ORG_ID = "EMULATOR0000000000000000@AdobeOrg"
# Short real delays: long enough to show a wait, short enough for trying things out.
FAST: dict[str, Any] = {"operation_time": 1.0, "run_time": 1.5}


@asynccontextmanager
async def emulated_client(
    clock: Clock,
    *,
    poll: PollPolicy | None = None,
    trail: Trail | None = None,
    **overrides: Any,
) -> AsyncIterator[AISClient]:
    """A client wired to a fresh in-process emulator that shares its clock.

    The emulator lives as long as the client, so nothing survives the command.
    """
    # Imported here: commands that talk to Adobe never load the emulator.
    from ..testing import Emulator

    emulator = Emulator(clock=clock, **FAST)
    auth = OAuthServerToServer(
        emulator.client_id, emulator.client_secret, token_url=emulator.token_url
    )
    kwargs: dict[str, Any] = {"org_id": EMULATOR_ORG_ID, "sandbox": "prod", **overrides}
    client = AISClient(auth=auth, transport=emulator.transport(), clock=clock, poll=poll, **kwargs)
    if trail is not None:
        trail.host = urlsplit(client.base_url).netloc
    async with client:
        yield client


def serve(ns: argparse.Namespace, stderr: TextIO) -> int:
    """Serve a fresh emulator over HTTP until interrupted (`aep-ais emulator --port N`).

    The socket is bound before anything is printed: a taken port is one line of error,
    and the exports name the port really bound (`--port 0` picks a free one).
    """
    try:
        import uvicorn  # noqa: F401 - only to give a clear message when it is missing
    except ImportError as exc:
        raise CLIError(
            "the emulator server needs uvicorn: pip install 'aep-ais[serve]'", EXIT_OTHER
        ) from exc
    from aep_ais.testing import Emulator, FaultPlan, bind_socket
    from aep_ais.testing import serve as serve_emulator

    shown = f"[{ns.host}]" if ":" in ns.host else ns.host
    try:
        sock = bind_socket(ns.host, ns.port)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CLIError(f"cannot listen on {shown}:{ns.port}: {reason}", EXIT_OTHER) from exc
    with sock:
        emulator = Emulator(
            operation_time=ns.operation_time,
            run_time=ns.run_time,
            guardrails=not ns.no_guardrails,
            strict_tokens=ns.strict_tokens,
            seed=ns.seed,
            faults=FaultPlan(ns.faults, seed=ns.seed or 0) if ns.faults else None,
            rate_limit=ns.rate_limit,
        )
        emulator.fail_runs_named(*ns.fail_runs)
        emulator.fail_operations_named(*ns.fail_operations)
        base = f"http://{shown}:{sock.getsockname()[1]}"
        exports = (
            f"export AEP_BASE_URL={base}\n"
            f"export AEP_TOKEN_URL={base}/ims/token/v3\n"
            f"export AEP_ORG_ID={EMULATOR_ORG_ID}\n"
            f"export AEP_CLIENT_ID={emulator.client_id}\n"
            f"export AEP_CLIENT_SECRET={emulator.client_secret}\n"
        )
        limits = "off" if ns.no_guardrails else "on (--no-guardrails lifts them)"
        extras = [
            *([", only tokens it issued are accepted"] if ns.strict_tokens else []),
            *([f", {ns.faults:g} of requests fault"] if ns.faults else []),
            *([f", runs of {', '.join(ns.fail_runs)} fail"] if ns.fail_runs else []),
            *([f", creates of {', '.join(ns.fail_operations)} fail"] if ns.fail_operations else []),
        ]
        head = f"emulator on {base} (Ctrl-C to stop), daily run limits {limits}{''.join(extras)}"
        if ns.env_file is not None:
            _write_private(ns.env_file, exports)
            print(f"{head}\nexports written to {ns.env_file}: source it", file=stderr, flush=True)
        else:
            indented = "".join(f"  {line}\n" for line in exports.splitlines())
            print(
                f"{head}\npoint aep-ais or the SDK at it with:\n{indented}",
                end="",
                file=stderr,
                flush=True,
            )
        serve_emulator(emulator, sock=sock)
    return 0


def _write_private(path: str, text: str) -> None:
    """Write `text` to `path`, readable by this user only (it holds the emulator's secret)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise CLIError(f"--env-file {path}: cannot write ({exc.strerror})", EXIT_OTHER) from exc
