"""Bulk life cycle: `create_many` then `run_many` against an emulator in another process.

The emulator runs in a process of its own (`_emulator_process.py`, uvicorn on a free
port of 127.0.0.1), with every operation and every run taking T seconds and no faults.
The client sends real requests over the socket, counted by an httpx event hook on the
`httpx.AsyncClient` it is given. Measured in the same run: the minimum request time
(sequential requests to the idle server), the wall time of the two phases, requests and
polls per audience, and the client process's peak RSS.

The ideal: every audience needs T to be created and T to run, so one audience alone
takes `2T + the minimum request time` (the issue's figure). With N audiences and
`concurrency` c, each phase needs at least `ceil(N / c)` rounds of T, so the ideal this
benchmark's target uses is `2 * ceil(N / c) * T + the minimum request time`; both are
printed. For polls, the least a poller needs to notice the end within 25% of T, not
knowing when in T it comes, is a poll every T/4: 4 polls per wait.

    python benchmarks/bulk.py            # 1,000 audiences, T = 2 s, concurrency 64
    python benchmarks/bulk.py --quick    # 50 audiences, T = 0.5 s
"""

from __future__ import annotations

import contextlib
import json
import math
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
from _counts import route_kind
from _harness import arg_parser, target_line
from _lifecycle import audience_spec

import aep_ais

HERE = Path(__file__).resolve().parent
ORG = "0123456789ABCDEF01234567@AdobeOrg"
PROBE_ID = "00000000-0000-4000-8000-000000000000"
# Per audience, at the least: create, one poll, the run guard's listing, start, one poll.
MIN_REQUESTS = 5
POLLS_TO_NOTICE = 4  # a poll every T/4 notices the end within 25% of T


class RequestCounter:
    """httpx event hooks that count every request by kind, as the client sends it."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    async def on_request(self, request: httpx.Request) -> None:
        self.counts[route_kind(request.method, request.url.path)] += 1

    def hooks(self) -> dict[str, list[Any]]:
        return {"request": [self.on_request], "response": []}


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the high-water mark of this process so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class EmulatorProcess:
    """The emulator served by a child process; `stop()` returns its summary."""

    def __init__(self, t: float) -> None:
        self.proc = subprocess.Popen(
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
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the emulator process did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        for line in out.splitlines():
            if line.startswith("SUMMARY "):
                summary: dict[str, Any] = json.loads(line.removeprefix("SUMMARY "))
                return summary
        return {}


async def _life_cycle(base_url: str, n: int, t: float, concurrency: int, probes: int) -> list[str]:
    counter = RequestCounter()
    limits = httpx.Limits(
        max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8
    )
    specs = [audience_spec(i, "bulk") for i in range(n)]
    async with (
        httpx.AsyncClient(limits=limits, timeout=30.0, event_hooks=counter.hooks()) as http,
        aep_ais.AISClient(
            org_id=ORG,
            auth=aep_ais.StaticToken("bulk-benchmark-token"),
            api_key="bulk-benchmark",
            base_url=base_url,
            http_client=http,
        ) as ais,
    ):
        # The minimum request time, through the same client, against the idle server.
        times = []
        for _ in range(probes):
            start = time.perf_counter()
            with contextlib.suppress(aep_ais.NotFoundError):
                await ais.get_operation(PROBE_ID)
            times.append(time.perf_counter() - start)
        r_min = min(times)
        counter.counts.clear()
        rss_before = _peak_rss_mb()

        start = time.perf_counter()
        created = await ais.create_many(specs, concurrency=concurrency)
        middle = time.perf_counter()
        ids = [r.value.audience_id for r in created if r.value and r.value.audience_id]
        since = int(time.time()) - 86400
        ran = await ais.run_many(ids, data_filter_start_time=since, concurrency=concurrency)
        wall = time.perf_counter() - start
        end_phase = wall - (middle - start)
    rss_peak = _peak_rss_mb()
    errors = [r.error for r in created] + [r.error for r in ran]
    failures = Counter(type(e).__name__ for e in errors if e is not None)

    c = counter.counts
    waves = math.ceil(n / concurrency)
    ideal_waves = 2 * waves * t + r_min
    ideal_one = 2 * t + r_min
    polls_create = c["operation"] / max(1, len(created))
    polls_run = c["run"] / max(1, len(ran))
    polls = (c["operation"] + c["run"]) / max(1, len(created) + len(ran))
    per_audience = sum(c.values()) / n
    ratio_wall = wall / ideal_waves
    ratio_polls = polls / POLLS_TO_NOTICE
    print(
        f"bulk: create_many {middle - start:.2f} s, run_many {end_phase:.2f} s, "
        f"{waves} waves of {concurrency} per phase; minimum request {r_min * 1e3:.2f} ms "
        f"(of {probes} sequential); failures: {dict(failures) or 'none'}"
    )
    lines = [
        f"RESULT bulk wall time: sdk {wall:.2f} s, ideal {ideal_waves:.2f} s "
        f"(2 x {waves} waves x T + minimum request), ratio {ratio_wall:.3f} "
        + target_line(ratio_wall, 1.3),
        f"RESULT bulk wall vs 2T + minimum request: sdk {wall:.2f} s, ideal {ideal_one:.2f} s, "
        f"ratio {wall / ideal_one:.3f} (one audience's ideal; {n} audiences at concurrency "
        f"{concurrency} need {waves} waves per phase)",
        f"RESULT polls per wait: sdk {polls:.2f} (create {polls_create:.2f}, run "
        f"{polls_run:.2f}), minimum {POLLS_TO_NOTICE} (a poll every T/4), ratio "
        f"{ratio_polls:.3f} {target_line(ratio_polls, 1.5)}; against 1 poll (knowing T): "
        f"{polls:.2f}x",
        f"RESULT requests per audience: sdk {per_audience:.2f} ("
        + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(c.items()))
        + f"), minimum {MIN_REQUESTS}, ratio {per_audience / MIN_REQUESTS:.3f}",
        f"RESULT peak RSS: client {rss_peak:.1f} MB, before the life cycle {rss_before:.1f} MB, "
        f"ratio {rss_peak / rss_before:.3f} "
        f"({(rss_peak - rss_before) * 1024 / n:.1f} KB per audience)",
    ]
    for line in lines:
        print(line, flush=True)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = arg_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--audiences", type=int, default=None, help="audiences (1000)")
    parser.add_argument("--time", type=float, default=None, help="T, seconds per operation and run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--probes", type=int, default=20, help="requests timed to find the minimum")
    args = parser.parse_args(argv)
    n = args.audiences or (50 if args.quick else 1000)
    t = args.time or (0.5 if args.quick else 2.0)
    print(
        f"bulk: {n} audiences, T {t:g} s per operation and per run, concurrency "
        f"{args.concurrency}, emulator in another process over 127.0.0.1, "
        f"python {sys.version.split()[0]}, httpx {httpx.__version__}"
    )
    server = EmulatorProcess(t)
    try:
        anyio.run(_life_cycle, server.base_url, n, t, args.concurrency, args.probes)
    finally:
        summary = server.stop()
    if summary:
        print(
            f"bulk: the emulator answered {summary['requests']} requests "
            f"({summary['by_kind']}); it holds {summary['audiences']} audiences and "
            f"{summary['runs']} runs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
