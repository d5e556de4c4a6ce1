"""Serve an emulator on 127.0.0.1 in a process of its own, for `bulk.py`.

Prints `PORT <n>` once it listens. On SIGINT or SIGTERM it stops and prints
`SUMMARY <json>`: how many requests it answered, by kind and status, and how many
audiences and runs it holds. The daily run guardrails are off: a bulk run of 1,000
audiences would pass the 100 runs a day of a sandbox.

    python benchmarks/_emulator_process.py --operation-time 2 --run-time 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
from collections import Counter

import uvicorn
from _counts import route_kind

from aep_ais.testing import Emulator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--operation-time", type=float, required=True)
    parser.add_argument("--run-time", type=float, required=True)
    args = parser.parse_args()
    emu = Emulator(operation_time=args.operation_time, run_time=args.run_time, guardrails=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before uvicorn starts: a client that connects early waits in the backlog.
    sock.listen(2048)
    config = uvicorn.Config(
        emu.app,
        lifespan="on",
        ws="none",
        http="h11",
        interface="asgi3",
        log_level="warning",
        access_log=False,
        backlog=2048,
    )
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    # uvicorn raises the signal it stopped on again once it has shut down.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    kinds = Counter(f"{route_kind(m, p)} {status}" for m, p, status in emu.request_log)
    creates = emu.create_attempts
    per_audience = Counter(run.audience_id for run in emu.runs.values())
    summary = {
        "requests": len(emu.request_log),
        "most_creates_of_one_name": max(creates.values(), default=0),
        "most_runs_of_one_audience": max(per_audience.values(), default=0),
        "by_kind": dict(sorted(kinds.items())),
        "audiences": len(emu.audiences),
        "runs": len(emu.runs),
    }
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
