"""The command line on the emulator: an in-process client for `--emulator` and `demo`,
and the `emulator --port` server."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TextIO

from .._auth import OAuthServerToServer
from .._client import AISClient
from .._policies import Clock, PollPolicy
from .errors import EXIT_OTHER, CLIError
from .trail import Trail, TrailClient

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
    client = TrailClient(
        auth=auth, transport=emulator.transport(), clock=clock, poll=poll, **kwargs
    )
    async with client.with_trail(trail if trail is not None else Trail()):
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
    from ..testing import Emulator
    from ..testing import serve as serve_emulator
    from ..testing._server import bind_socket

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
            rate_limit=ns.rate_limit,
        )
        base = f"http://{shown}:{sock.getsockname()[1]}"
        limits = "off" if ns.no_guardrails else "on (--no-guardrails lifts them)"
        tokens = ", only tokens it issued are accepted" if ns.strict_tokens else ""
        print(
            f"emulator on {base} (Ctrl-C to stop), daily run limits {limits}{tokens}\n"
            "point aep-ais or the SDK at it with:\n"
            f"  export AEP_BASE_URL={base}\n"
            f"  export AEP_TOKEN_URL={base}/ims/token/v3\n"
            f"  export AEP_ORG_ID={EMULATOR_ORG_ID}\n"
            f"  export AEP_CLIENT_ID={emulator.client_id}\n"
            f"  export AEP_CLIENT_SECRET={emulator.client_secret}",
            file=stderr,
            flush=True,
        )
        serve_emulator(emulator, sock=sock)
    return 0
