"""Fault soak: the bulk life cycle under 20% faults, an expiring token and cancelled waits.

`create_many` then `run_many` for many audiences (and, for 5% of them, waits that are
cancelled at a random moment and resumed from their IDs) against an emulator that
spoils 20% of its answers: 429 with `Retry-After`, 500, 502, 503, dropped connections
and slow answers, each before or after the server acted. The token is short-lived and
strict (OAuth against the emulator's token endpoint), and one is revoked mid-run. Failed
creates are resent and failed run steps resolved by listing, as a careful user would.
Then the emulator's own state is counted: see `_counts.SoakReport.checks`.

For issue 9 the soak also: makes the token endpoint fail six times in a row right after
the revocation, while waits poll; cancels waits with `task.cancel()` and
`asyncio.wait_for` as well as anyio cancel scopes; gives some waits a short deadline and
counts requests for their runs that reached the emulator after it; counts the entries
left in the client's httpcore pool; and, over a socket, runs a second process
(`_soak_peer.py`, its own credential) on the same audiences and data window. One line
sums up what must be 0: duplicates, adopted runs, errors whose `server_may_have_acted`
is false although the server acted, pool entries left, requests after a deadline.

By default the client talks to the emulator over a real socket on 127.0.0.1, on real
time; the emulator runs in this process (uvicorn on a background thread) so that its
state can be read at the end. Slow answers outlast the client's timeout, so they become
timeouts. `--in-process` uses the in-process transport and a virtual clock instead.

    python benchmarks/soak.py                 # 1,000 audiences, T = 2 s, over a socket
    python benchmarks/soak.py --quick         # 100 audiences, T = 0.5 s
    python benchmarks/soak.py --in-process    # 1,000 audiences on virtual time
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from _counts import build_report
from _harness import arg_parser
from _lifecycle import SOAK_FAULT_KINDS, soak

import aep_ais
from aep_ais.testing import Emulator, FakeClock, FaultPlan, running_server

ORG = "0123456789ABCDEF01234567@AdobeOrg"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


async def _soak(
    emu: Emulator,
    client_kwargs: dict[str, Any],
    args: Any,
    settle: float,
    peer: tuple[list[str], dict[str, Any]] | None = None,
) -> int:
    t = args.time
    lifetime = args.token_lifetime or 12 * t
    auth = aep_ais.OAuthServerToServer(
        emu.client_id,
        emu.client_secret,
        token_url=client_kwargs.pop("token_url"),
        # Use each token up to its expiry, so that the expiry really happens mid-run.
        refresh_margin=0,
    )
    started = time.perf_counter()
    async with aep_ais.AISClient(
        org_id=ORG, sandbox="soak", auth=auth, guardrails=None, **client_kwargs
    ) as ais:
        run = await soak(
            ais,
            emu,
            audiences=args.audiences,
            concurrency=args.concurrency,
            seed=args.seed,
            cancel_within=1.5 * t,
            settle=settle,
            deadline=args.deadline,
            revoke_after=t,
            peer=peer,
        )
        report = build_report(run, emu, ais, token_lifetime=lifetime)
    wall = time.perf_counter() - started
    print(
        f"soak: {report.seconds:.1f} s on the client's clock, {wall:.1f} s real; "
        f"{sum(report.faults.values())} faults dealt: {_counts(report.faults)}"
    )
    print(f"soak: requests the emulator saw: {_counts(report.requests)}")
    print(
        f"soak: {report.cancelled} waits cancelled at a random moment and resumed "
        f"({', '.join(f'{k} {v}' for k, v in sorted(report.cancelled_by.items()))}); "
        f"{report.deadlines_hit} waits hit a short deadline"
    )
    left = report.pool_entries_left
    print(
        "RESULT soak issue 9 counts (each must be 0): "
        f"duplicates {report.overlapping_runs + max(0, report.max_operations_per_name - 1)}, "
        f"adopted runs {report.adopted_runs}, flag false although the server acted "
        f"{report.flag_false_acted + report.run_flag_false_acted}, pool entries left "
        f"{'n/a (in-process)' if left is None else left}, requests after a deadline "
        f"{report.requests_after_deadline}",
        flush=True,
    )
    failed = 0
    for name, figures, met in report.checks():
        failed += not met
        print(f"RESULT soak {name}: {figures}; target {'met' if met else 'missed'}", flush=True)
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = arg_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--audiences", type=int, default=None, help="audiences (1000)")
    parser.add_argument("--time", type=float, default=None, help="T, seconds per operation and run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--token-lifetime", type=float, default=None, help="seconds (12 T)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=900.0, help="real seconds")
    parser.add_argument("--in-process", action="store_true", help="virtual clock, no socket")
    parser.add_argument("--no-peer", action="store_true", help="no second client process")
    args = parser.parse_args(argv)
    args.audiences = args.audiences or (100 if args.quick else 1000)
    args.time = args.time or (0.5 if args.quick else 2.0)
    t = args.time
    # Longer than the client's timeout, so a slow answer is a timeout the server outlives.
    timeout, slow = 4 * t, 6 * t
    lifetime = args.token_lifetime or 12 * t
    clock = FakeClock(seed=args.seed) if args.in_process else None
    emu = Emulator(
        clock=clock,
        operation_time=t,
        run_time=t,
        guardrails=False,  # 100 runs a day per sandbox would stop a soak of 1,000
        strict_tokens=True,
        token_lifetime=lifetime,
        seed=args.seed,
        faults=FaultPlan(
            args.fault_rate, SOAK_FAULT_KINDS, seed=args.seed, retry_after=t, slow_seconds=slow
        ),
    )
    where = "in-process, virtual clock" if args.in_process else "over 127.0.0.1, real time"
    print(
        f"soak: {args.audiences} audiences, T {t:g} s, concurrency {args.concurrency}, "
        f"faults {args.fault_rate:.0%} of answers, token lifetime {lifetime:g} s, {where}"
    )
    # Answers still in flight when a phase ends (slow ones) land before anything is resent.
    settle = slow + t
    if args.in_process:
        kwargs = {"clock": clock, "transport": emu.transport(), "token_url": emu.token_url}
        failed = anyio.run(_soak, emu, kwargs, args, settle)
    else:
        with running_server(emu) as base_url:
            # uvicorn reports each dropped connection (a fault on purpose) as an error; its
            # config sets this logger's level on start, so quieten it after that.
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
            kwargs = {
                "base_url": base_url,
                "timeout": timeout,
                "token_url": f"{base_url}/ims/token/v3",
            }
            peer = None
            if not args.no_peer:
                # A second process runs the same audiences, under its own credential.
                emu.add_credential("soak-peer", "soak-peer-secret")
                job = {
                    "base_url": base_url,
                    "client_id": "soak-peer",
                    "client_secret": "soak-peer-secret",
                    "timeout": timeout,
                    "concurrency": args.concurrency,
                }
                peer = ([str(Path(__file__).with_name("_soak_peer.py"))], job)
            failed = anyio.run(_soak, emu, kwargs, args, settle, peer)
    print(f"soak: {failed} of 8 checks missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
