"""Bulk at platform scale: quotas known before sending, a shared rate limit, crash and resume.

Three parts, each printing `RESULT` lines:

- `quota` (virtual time, in-process emulator with the platform's guardrails): 5,000
  audiences over 50 sandboxes (100 each). A first `run_many` runs 60 audiences of each
  sandbox; a second, the same day, all 100 of each: each sandbox can take 40 more runs,
  and its other 60 items must end with `QuotaExceededError` with no request sent.
  Counted from the emulator: runs per sandbox, requests that name a skipped audience,
  guardrail refusals (422).
- `ratelimit` (real time, in-process `Emulator(rate_limit=R)`, R = 100 a second by
  default): the life cycle of 1,000 audiences (`create_many` with waits, then `run_many`)
  with `RateLimit(per_second=R)` and without it. The ideal is the longer of the requests
  the life cycle needed (429s left out) at R a second and the same life cycle's time with
  no rate limit anywhere.
- `crash` (real processes and time): a child process runs `create_many` then `run_many` of
  N audiences, with journals, against an emulator served by another process; it is killed
  with SIGKILL at a random moment (seeded), then run again with the same journals. From
  the emulator's state: the most creates of one name and runs of one audience (1 means no
  duplicate), and how every item ended.

    python benchmarks/many.py                 # all parts at full size
    python benchmarks/many.py --quick         # tiny sizes, for the smoke test
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _harness import arg_parser

import aep_ais
from aep_ais.testing import Emulator, FakeClock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _lifecycle import audience_spec  # noqa: E402

ORG = "0123456789ABCDEF01234567@AdobeOrg"
SINCE = 1_749_000_000


def _client(emu: Emulator, clock: FakeClock, **kwargs: Any) -> aep_ais.AISClient:
    return aep_ais.AISClient(
        org_id=ORG,
        sandbox="sb00",
        auth=aep_ais.StaticToken("many-benchmark"),
        api_key="many-benchmark",
        clock=clock,
        transport=emu.transport(),
        **kwargs,
    )


# quota --------------------------------------------------------------------------------


async def quota(sandboxes: int, per_sandbox: int, first: int) -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=2.0, run_time=2.0)
    started = time.perf_counter()
    async with _client(emu, clock) as ais:
        specs = [
            (f"sb{s:02d}", audience_spec(s * per_sandbox + i, "quota"))
            for s in range(sandboxes)
            for i in range(per_sandbox)
        ]
        made = await ais.create_many(specs, concurrency=500)
        items = [(sb, r.value.audience_id) for (sb, _), r in zip(specs, made, strict=True)]
        batch1 = [it for i, it in enumerate(items) if i % per_sandbox < first]
        r1 = await ais.run_many(batch1, data_filter_start_time=SINCE, concurrency=500)
        mark = len(emu.request_log)
        r2 = await ais.run_many(items, data_filter_start_time=SINCE + 3600, concurrency=500)
    wall = time.perf_counter() - started
    per_sandbox_runs = Counter(run.scope[1] for run in emu.runs.values())
    skipped = [r.input for r in r2 if isinstance(r.error, aep_ais.QuotaExceededError)]
    skipped_ids = {aud for _, aud in skipped}
    sent_for_skipped = sum(
        1
        for _, path, _ in emu.request_log[mark:]
        if path.split("/")[2:3] and path.split("/")[2] in skipped_ids
    )
    refusals = sum(1 for _, _, status in emu.request_log if status == 422)
    other = [
        r.error
        for r in (*r1, *r2)
        if r.error and not isinstance(r.error, aep_ais.QuotaExceededError)
    ]
    expected_skipped = sandboxes * (per_sandbox - 100 + first)
    print(
        f"quota: {len(items)} audiences over {sandboxes} sandboxes; batch 1 {len(batch1)} runs, "
        f"batch 2 {len(items)} items the same day; real time {wall:.1f} s"
    )
    print(
        f"RESULT quota runs per sandbox: min {min(per_sandbox_runs.values())}, "
        f"max {max(per_sandbox_runs.values())}, quota 100, ratio "
        f"{max(per_sandbox_runs.values()) / 100:.3f} target exactly 100 "
        f"{'met' if set(per_sandbox_runs.values()) == {100} else 'missed'}"
    )
    print(
        f"RESULT quota skipped without a request: skipped {len(skipped)} "
        f"(expected {expected_skipped}), requests naming them {sent_for_skipped}, "
        f"guardrail refusals {refusals}, other errors {len(other)}, ratio "
        f"{len(skipped) / max(1, expected_skipped):.3f} target 0 requests "
        f"{'met' if sent_for_skipped == 0 and refusals == 0 else 'missed'}"
    )


# ratelimit -----------------------------------------------------------------------------


async def _life_cycle(
    n: int, rate: float | None, limited: bool, t: float, burst: int = 1
) -> tuple[float, int, int]:
    # Real time, in-process (no socket): a rate is a matter of real seconds, and the fake
    # clock's shared virtual time only approximates many concurrent sleepers.
    emu = Emulator(operation_time=t, run_time=t, guardrails=False, rate_limit=rate, seed=7)
    kwargs: dict[str, Any] = {"guardrails": None}
    if limited and rate is not None:
        kwargs["rate_limit"] = aep_ais.RateLimit(per_second=rate, burst=burst)
    # Enough retries that a 429 never ends an item: the baseline pays in time, not errors.
    kwargs["retry"] = aep_ais.RetryPolicy(max_attempts=50)
    async with aep_ais.AISClient(
        org_id=ORG,
        sandbox="rate",
        auth=aep_ais.StaticToken("many-benchmark"),
        api_key="many-benchmark",
        transport=emu.transport(),
        poll=aep_ais.PollPolicy(interval=t / 2, max_interval=t),
        **kwargs,
    ) as ais:
        start = time.perf_counter()
        specs = [audience_spec(i, "rate") for i in range(n)]
        made = await ais.create_many(specs, concurrency=200)
        ids = [r.value.audience_id for r in made if r.ok]
        ran = await ais.run_many(ids, data_filter_start_time=SINCE, concurrency=200)
        elapsed = time.perf_counter() - start
    failed = sum(not r.ok for r in (*made, *ran))
    assert failed == 0, f"{failed} items failed"
    return elapsed, len(emu.request_log), emu.throttled


async def ratelimit(n: int, rate: float, t: float, burst: int = 1) -> None:
    # The life cycle's own time, with no rate limit anywhere: polls and operation/run time.
    free, _, _ = await _life_cycle(n, None, limited=False, t=t)
    print(f"ratelimit: {n} audiences, server rate {rate:g}/s, T {t:g} s, unlimited {free:.1f} s")
    for limited in (True, False):
        elapsed, requests, throttled = await _life_cycle(n, rate, limited, t, burst)
        # The ideal: the requests the life cycle needed (429s left out) at the server's
        # rate, or the life cycle's own time when that is longer.
        ideal = max(free, (requests - throttled) / rate)
        label = f"RateLimit(per_second={rate:g})" if limited else "no RateLimit"
        if limited and burst > 1:
            label = f"RateLimit(per_second={rate:g}, burst={burst})"
        target = ""
        if limited:
            ok = elapsed <= 1.1 * ideal and throttled <= 0.01 * requests
            target = f" target <= 1.1 and <= 1% 429s {'met' if ok else 'missed'}"
        print(
            f"RESULT life cycle {label}: wall {elapsed:.1f} s, ideal {ideal:.1f} s "
            f"({requests - throttled} requests at {rate:g}/s; {free:.1f} s unlimited), "
            f"429s {throttled} of {requests} answers ({100 * throttled / requests:.2f} %), "
            f"ratio {elapsed / ideal:.3f}{target}"
        )


# crash ---------------------------------------------------------------------------------


async def child(port: int, n: int, journal: str, seed: int) -> None:
    base = f"http://127.0.0.1:{port}"
    async with aep_ais.AISClient(
        org_id=ORG,
        sandbox="crash",
        auth=aep_ais.StaticToken("many-benchmark"),
        api_key="many-benchmark",
        base_url=base,
        guardrails=None,
        poll=aep_ais.PollPolicy(interval=0.25, max_interval=1.0),
    ) as ais:
        specs = [audience_spec(i, f"crash{seed}") for i in range(n)]
        made = await ais.create_many(specs, concurrency=64, journal=journal + ".creates")
        ids = [r.value.audience_id for r in made if r.ok]
        ran = await ais.run_many(
            ids, data_filter_start_time=SINCE, concurrency=64, journal=journal + ".runs"
        )
    ends = Counter("ok" if r.ok else type(r.error).__name__ for r in (*made, *ran))
    untyped = sum(1 for r in (*made, *ran) if r.error and not isinstance(r.error, aep_ais.AISError))
    print(
        "CHILD "
        + json.dumps({"ends": dict(ends), "untyped": untyped, "items": len(made) + len(ran)})
    )


def _emulator(t: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_emulator_process.py"),
            "--operation-time",
            str(t),
            "--run-time",
            str(t),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"the emulator did not start: {line!r}")
    return proc, int(line.split()[1])


def _stop(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    for line in out.splitlines():
        if line.startswith("SUMMARY "):
            return dict(json.loads(line.removeprefix("SUMMARY ")))
    return {}


def crash(n: int, t: float, seed: int, latest: float) -> None:
    proc, port = _emulator(t)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            journal = os.path.join(tmp, "batch")
            command = [
                sys.executable,
                __file__,
                "--child",
                "--port",
                str(port),
                "--audiences",
                str(n),
                "--journal",
                journal,
                "--seed",
                str(seed),
            ]
            moment = random.Random(seed).uniform(0.5, latest)
            first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            try:
                first.wait(timeout=moment)
                killed = False
            except subprocess.TimeoutExpired:
                first.send_signal(signal.SIGKILL)
                first.wait()
                killed = True
            lines = sum(1 for p in Path(tmp).iterdir() for _ in p.open())
            started = time.perf_counter()
            second = subprocess.run(
                command, capture_output=True, text=True, timeout=600, check=False
            )
            rerun = time.perf_counter() - started
    finally:
        summary = _stop(proc)
    out = [line for line in second.stdout.splitlines() if line.startswith("CHILD ")]
    report = json.loads(out[0].removeprefix("CHILD ")) if out else {"ends": {}, "untyped": -1}
    dup_creates = summary.get("most_creates_of_one_name", 0)
    dup_runs = summary.get("most_runs_of_one_audience", 0)
    ok = dup_creates <= 1 and dup_runs <= 1 and report["untyped"] == 0 and second.returncode == 0
    how = "killed" if killed else "ended first"
    print(
        f"RESULT crash seed {seed}: SIGKILL at {moment:.1f} s ({how}, "
        f"{lines} journal lines), rerun {rerun:.1f} s, ends {report['ends']}, "
        f"most creates of one name {dup_creates}, most runs of one audience {dup_runs}, "
        f"audiences {summary.get('audiences')}, runs {summary.get('runs')}, ratio "
        f"{max(dup_creates, dup_runs):.3f} target 0 duplicates, every item typed "
        f"{'met' if ok else 'missed'}"
    )


def main() -> int:
    parser = arg_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--part", choices=("quota", "ratelimit", "crash"), action="append")
    parser.add_argument("--child", action="store_true", help=argparse_hidden())
    parser.add_argument("--port", type=int)
    parser.add_argument("--audiences", type=int)
    parser.add_argument("--journal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=100.0, help="server rate (ratelimit)")
    parser.add_argument("--burst", type=int, default=1, help="RateLimit burst (ratelimit)")
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.port, args.audiences, args.journal, args.seed))
        return 0
    parts = args.part or ["quota", "ratelimit", "crash"]
    if "quota" in parts:
        if args.quick:
            asyncio.run(quota(sandboxes=3, per_sandbox=120, first=60))
        else:
            asyncio.run(quota(sandboxes=50, per_sandbox=100, first=60))
    if "ratelimit" in parts:
        if args.quick:
            asyncio.run(ratelimit(n=20, rate=50.0, t=0.2))
        else:
            n = args.audiences or 1000
            asyncio.run(ratelimit(n=n, rate=args.rate, t=2.0, burst=args.burst))
    if "crash" in parts:
        n = args.audiences or (30 if args.quick else 1000)
        for seed in (1, 2, 3) if not args.quick else (1,):
            crash(n, t=0.5, seed=seed, latest=2.0 if args.quick else 25.0)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
