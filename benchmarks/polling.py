"""Polling efficiency: polls and notice delay of the SDK's waits against fixed-interval loops.

An operation that the in-process emulator keeps `PROCESSING` for T seconds of virtual time
(`FakeClock`) is waited on three ways, each on a fresh emulator and client:

- `sdk`: `AISClient.wait_for_operation` with the default `PollPolicy` (several clock
  seeds, so several jitter draws; median and max are reported);
- `1s loop` and `30s loop`: what users write today, `get_operation` then a fixed sleep.

A poll is one GET of the operation as the emulator logged it; the notice delay is the
virtual moment the caller has the `SUCCESS` answer minus the moment the operation ended.
Target per T: the SDK's worst notice delay <= 25% of T (at least 1 s), and its most polls
fewer than the 1 s loop's.

Two tables: `exact`, where the operation ends exactly T after the wait starts (so it ends
on a tick of both fixed loops, their best case), and `phase`, where it ends at T + phi with
phi drawn in [0, 1) per seed, the same for all three sides (requests are never perfectly
in step with the server in practice). A last line does the same for `run_and_wait` (start,
then wait) against loops over `start_run` + `get_run`.

    python benchmarks/polling.py            # 11 seeds per T
    python benchmarks/polling.py --quick    # 3 seeds, for the smoke test
    python benchmarks/polling.py --interval 2   # the same tables for another policy
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
from collections.abc import Awaitable, Callable, Sequence

import attrs
from _harness import arg_parser
from _payloads import spec

import aep_ais
from aep_ais.testing import Emulator, FakeClock

TIMES = (2.0, 30.0, 300.0, 3600.0)
RUN_TIME = 300.0
WINDOW_START = 1_749_000_000
# The SDK side's policy: the default, unless `--interval` / `--multiplier` try another.
POLICY = aep_ais.PollPolicy()


def _client(emulator: Emulator, clock: FakeClock) -> aep_ais.AISClient:
    return aep_ais.AISClient(
        org_id="ABC123@AdobeOrg",
        api_key="benchmark-key",
        auth=aep_ais.StaticToken("benchmark-token"),
        transport=emulator.transport(),
        clock=clock,
        poll=POLICY,
    )


def _gets(emulator: Emulator, marker: str) -> int:
    return sum(1 for method, path, _ in emulator.request_log if method == "GET" and marker in path)


def _loop(every: float, fetch: str) -> Callable[..., Awaitable[object]]:
    """A fixed-interval loop as users write it: fetch, stop when done, sleep, again."""

    async def wait(ais: aep_ais.AISClient, *ids: str) -> object:
        get = getattr(ais, fetch)
        while True:
            state = await get(*ids)
            if state.done:
                return state
            await ais.clock.sleep(every)

    return wait


async def _operation_case(side: str, ends_after: float, seed: int) -> tuple[int, float]:
    """(polls, notice delay) of one wait on an operation that ends `ends_after` from now."""
    clock = FakeClock(seed=seed)
    emulator = Emulator(clock=clock, operation_time=ends_after, seed=seed)
    async with _client(emulator, clock) as ais:
        start = clock.now()
        operation = await ais.create_audience(spec())
        if side == "sdk":
            final: object = await ais.wait_for_operation(operation.operation_id)
        else:
            loop = _loop(1.0 if side == "1s loop" else 30.0, "get_operation")
            final = await loop(ais, operation.operation_id)
        assert isinstance(final, aep_ais.Operation) and final.status == "SUCCESS", final
        return _gets(emulator, "/operations/"), clock.now() - (start + ends_after)


async def _run_case(side: str, ends_after: float, seed: int) -> tuple[int, float]:
    """(polls, notice delay) of `run_and_wait` (or a loop) on a run that takes `ends_after`."""
    clock = FakeClock(seed=seed)
    emulator = Emulator(
        clock=clock, operation_time=1.0, run_time=ends_after, seed=seed, guardrails=False
    )
    async with _client(emulator, clock) as ais:
        audience = (await ais.create_and_wait(spec())).audience_id
        assert audience is not None
        start = clock.now()
        if side == "sdk":
            final: object = await ais.run_and_wait(audience, data_filter_start_time=WINDOW_START)
        else:
            run = await ais.start_run(audience, data_filter_start_time=WINDOW_START)
            # The loop sleeps before its first poll too, as one written after a start would.
            every = 1.0 if side == "1s loop" else 30.0
            await clock.sleep(every)
            final = await _loop(every, "get_run")(ais, audience, run.run_id)
        assert isinstance(final, aep_ais.IngestionRun) and final.status == "SUCCESS", final
        return _gets(emulator, "/runs/"), clock.now() - (start + ends_after)


class Row:
    """Polls and delays of the three sides for one T, and whether the target holds."""

    def __init__(self, label: str, t: float, cases: dict[str, list[tuple[int, float]]]) -> None:
        self.label = label
        self.t = t
        self.cases = cases
        self.limit = max(1.0, 0.25 * t)
        sdk = cases["sdk"]
        loop = cases["1s loop"]
        self.delay_ok = max(d for _, d in sdk) <= self.limit
        # Paired: the SDK must poll less than the 1 s loop on the same finish moment.
        self.polls_ok = all(s[0] < b[0] for s, b in zip(sdk, loop, strict=True))
        self.met = self.delay_ok and self.polls_ok

    def polls(self, side: str) -> tuple[float, int]:
        values = [p for p, _ in self.cases[side]]
        return statistics.median(values), max(values)

    def delays(self, side: str) -> tuple[float, float]:
        values = [d for _, d in self.cases[side]]
        return statistics.median(values), max(values)

    def table_line(self) -> str:
        cells = [f"{self.label:<6} {_span(self.t):>5}"]
        for side in ("sdk", "1s loop", "30s loop"):
            (pm, px), (dm, dx) = self.polls(side), self.delays(side)
            cells.append(f"{pm:>6.0f}/{px:<6d}{dm:>7.2f}/{dx:<7.2f}")
        cells.append("met" if self.met else "missed")
        return " | ".join(cells)

    def result_line(self, what: str) -> str:
        (pm, px), (dm, dx) = self.polls("sdk"), self.delays("sdk")
        (bm, _), (bd, _) = self.polls("1s loop"), self.delays("1s loop")
        (wm, _), (wd, _) = self.polls("30s loop"), self.delays("30s loop")
        why = []
        if not self.delay_ok:
            why.append(f"delay over {self.limit:g} s")
        if not self.polls_ok:
            why.append("not fewer polls than the 1 s loop every time")
        return (
            f"RESULT {what} T={_span(self.t)} {self.label}: "
            f"sdk polls {pm:g} (max {px}), delay {dm:.2f} s (max {dx:.2f}); "
            f"1s loop polls {bm:g}, delay {bd:.2f} s; 30s loop polls {wm:g}, delay {wd:.2f} s; "
            f"ratio {pm / bm:.3f} (sdk/1s-loop polls, median); "
            f"target delay <= {self.limit:g} s and polls < 1s loop "
            + ("met" if self.met else "missed (" + ", ".join(why) + ")")
        )


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 60:
        return f"{seconds / 60:g}min"
    return f"{seconds:g}s"


async def _row(
    label: str,
    t: float,
    seeds: Sequence[int],
    case: Callable[[str, float, int], Awaitable[tuple[int, float]]],
) -> Row:
    cases: dict[str, list[tuple[int, float]]] = {}
    for side in ("sdk", "1s loop", "30s loop"):
        if label == "exact" and side != "sdk":
            # A fixed loop draws nothing at random: one case stands for every seed.
            cases[side] = [await case(side, t, seeds[0])] * len(seeds)
            continue
        cases[side] = [
            await case(side, t + random.Random(seed).random(), seed)
            if label == "phase"
            else await case(side, t, seed)
            for seed in seeds
        ]
    return Row(label, t, cases)


async def _main(seeds: Sequence[int], times: Sequence[float]) -> list[str]:
    sides = ("sdk", "1s loop", "30s loop")
    header = " | ".join(["(med/max)   ", *(f"{side:^28}" for side in sides), "target"])
    header += "\n" + " | ".join(
        ["table      T", *(f"{'polls':>10}{'delay s':>14}    " for _ in sides), ""]
    )
    lines: list[str] = []
    for label in ("exact", "phase"):
        print(header.rstrip())
        rows = [await _row(label, t, seeds, _operation_case) for t in times]
        for row in rows:
            print(row.table_line())
        for row in rows:
            lines.append(row.result_line("operation"))
    run_row = await _row("phase", RUN_TIME, seeds, _run_case)
    lines.append(run_row.result_line("run_and_wait"))
    for line in lines:
        print(line, flush=True)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = arg_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seeds", type=int, default=None, help="clock seeds per T (11)")
    parser.add_argument("--interval", type=float, help="try another PollPolicy interval")
    parser.add_argument("--multiplier", type=float, help="try another PollPolicy multiplier")
    args = parser.parse_args(argv)
    n = args.seeds or (3 if args.quick else 11)
    global POLICY
    changes = {"interval": args.interval, "multiplier": args.multiplier}
    POLICY = attrs.evolve(POLICY, **{k: v for k, v in changes.items() if v is not None})
    which = "default" if aep_ais.PollPolicy() == POLICY else "NOT the default"
    print(
        f"polling: operations ending after {', '.join(_span(t) for t in TIMES)} "
        f"(virtual time), {n} seeds, {which} {POLICY}"
    )
    asyncio.run(_main(range(n), TIMES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
