"""Scale of waiting: memory per concurrent wait on one client, and the run guard's size.

N concurrent `run_and_wait` calls, one per distinct audience, share ONE `AISClient` on a
virtual clock. The server is a light in-process httpx transport that keeps no state per
run (so its memory is not counted as the SDK's): a listing shows no active run, a start
answers `PROCESSING`, and the run of audience i reads `PROCESSING` until a virtual moment
fixed by i (the ends are spread, so waits finish at different times).

Each figure comes from a fresh child process, because peak RSS only grows:

- `none`: the same set-up (imports, client, transport, clock) and no waits: the baseline;
- `sdk`: the N waits; peak RSS (`VmHWM`) growth over `none`, per wait;
- `raw`: the same N waits written by hand (bare `httpx.AsyncClient`, `json.loads`, a
  fixed 1 s sleep), the memory any asyncio program needs for N waiting tasks;
- `sdk` and `raw` again under `tracemalloc`: the peak of Python allocations per wait,
  a steadier figure than RSS.

While the waits run, a watcher checks at every virtual second that the run guard holds an
entry for exactly the audiences whose `run_and_wait` has not returned (none for an
audience nobody waits on), and after all have returned, that it is empty.
Target: SDK peak RSS growth per wait <= 10 KB.

    python benchmarks/scale.py            # 10,000 waits
    python benchmarks/scale.py --quick    # 200, for the smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from _harness import arg_parser

import aep_ais
from aep_ais.testing import FakeClock

BASE_URL = "https://platform.adobe.io/data/core/ais"
HEADERS = {
    "x-api-key": "benchmark-key",
    "x-gw-ims-org-id": "ABC123@AdobeOrg",
    "x-sandbox-name": "prod",
    "Authorization": "Bearer benchmark-token",
}
WINDOW_START = 1_749_000_000
# Run i ends at FIRST_END + (i % SPREAD) * STEP seconds of virtual time.
FIRST_END = 4.0
SPREAD = 5
STEP = 2.0
TARGET_KB = 10.0
_RUN_PATH = re.compile(r"/external-audience/aud-(\d+)/runs(?:/([^/]+))?$")
_JSON = [("content-type", "application/json")]


class _Unrecorded(list[float]):
    """`FakeClock.sleeps` that keeps nothing: 10,000 waits would fill it with floats."""

    def append(self, value: float) -> None:
        pass


def _run_json(index: int, status: str) -> bytes:
    return json.dumps(
        {
            "audienceName": f"Audience {index}",
            "audienceId": f"aud-{index}",
            "runId": f"run-{index}",
            "status": status,
            "differentialIngestion": False,
            "dataFilterStartTime": WINDOW_START,
            "dataFilterEndTime": WINDOW_START + 3600,
            "createdAt": 1_750_000_000,
            "createdBy": "benchmark@techacct.adobe.com",
        }
    ).encode()


class RunsServer(httpx.AsyncBaseTransport):
    """The runs endpoints for audiences `aud-<i>`, answered from the clock alone."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.start = clock.now()  # run ends count from here
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        m = _RUN_PATH.search(request.url.path)
        assert m is not None, request.url
        index = int(m.group(1))
        if m.group(2) is None and request.method == "GET":
            body = b'{"runs": []}'
        elif m.group(2) is None:
            body = _run_json(index, "PROCESSING")
        else:
            ends = self.start + FIRST_END + (index % SPREAD) * STEP
            body = _run_json(index, "PROCESSING" if self.clock.now() < ends else "SUCCESS")
        return httpx.Response(200, headers=_JSON, content=body, request=request)


def _peak_rss_kb() -> int:
    """This process's peak resident set size (`VmHWM`), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource  # not Linux: ru_maxrss is KiB on Linux, bytes on macOS

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


async def _sdk_waits(ais: aep_ais.AISClient, clock: FakeClock, n: int) -> dict[str, Any]:
    guard = ais._run_guard
    tasks: dict[str, asyncio.Task[aep_ais.IngestionRun]] = {}
    for i in range(n):
        audience = f"aud-{i}"
        tasks[audience] = asyncio.create_task(
            ais.run_and_wait(audience, data_filter_start_time=WINDOW_START)
        )
    await asyncio.sleep(0)  # every task has taken its first step, so holds its audience
    checks = mismatches = entries = in_flight = 0
    in_flight_sizes: list[int] = []
    while waiting := {a for a, t in tasks.items() if not t.done()}:
        held = {audience for _sandbox, audience in guard._slots}  # keyed (sandbox, id)
        checks += 1
        mismatches += held != waiting
        entries += len(held)
        in_flight += len(waiting)
        in_flight_sizes.append(len(held))
        await clock.sleep(1.0)
    finals = [t.result() for t in tasks.values()]
    assert all(r.status == "SUCCESS" for r in finals)
    return {
        "guard_checks": checks,
        "guard_ratio": entries / in_flight,
        "guard_mismatches": mismatches,
        "guard_in_flight": sorted(set(in_flight_sizes), reverse=True)[: SPREAD + 1],
        "guard_after": len(guard),
    }


async def _raw_waits(raw: httpx.AsyncClient, clock: FakeClock, n: int) -> dict[str, Any]:
    async def wait(i: int) -> dict[str, Any]:
        path = f"/external-audience/aud-{i}/runs"
        json.loads((await raw.get(path, params={"limit": "10"})).content)
        run = json.loads((await raw.post(path, json={"dataFilterStartTime": WINDOW_START})).content)
        while True:
            await clock.sleep(1.0)
            run = json.loads((await raw.get(f"{path}/{run['runId']}")).content)
            if run["status"] in ("SUCCESS", "FAILED"):
                return dict(run)

    finals = await asyncio.gather(*(wait(i) for i in range(n)))
    assert all(r["status"] == "SUCCESS" for r in finals)
    return {}


async def _child(side: str, n: int, trace: bool) -> dict[str, Any]:
    clock = FakeClock(seed=0)
    clock.sleeps = _Unrecorded()
    server = RunsServer(clock)
    out: dict[str, Any] = {"side": side, "waits": n}
    async with (
        aep_ais.AISClient(
            org_id=HEADERS["x-gw-ims-org-id"],
            api_key=HEADERS["x-api-key"],
            auth=aep_ais.StaticToken("benchmark-token"),
            base_url=BASE_URL,
            transport=server,
            clock=clock,
        ) as ais,
        httpx.AsyncClient(base_url=BASE_URL, headers=HEADERS, transport=server) as raw,
    ):
        # Warm both paths once (first-use hooks, imports) so neither side pays for it.
        await _sdk_waits(ais, clock, 1)
        await _raw_waits(raw, clock, 1)
        server.start = clock.now()
        out["rss_before_kb"] = _peak_rss_kb()
        if trace:
            tracemalloc.start()
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        server.requests = 0
        if side == "sdk":
            out.update(await _sdk_waits(ais, clock, n))
        elif side == "raw":
            out.update(await _raw_waits(raw, clock, n))
        out["seconds"] = time.perf_counter() - started
        out["requests"] = server.requests
        if trace:
            out["trace_peak_bytes"] = tracemalloc.get_traced_memory()[1] - start
            tracemalloc.stop()
        out["rss_peak_kb"] = _peak_rss_kb()
    return out


def _spawn(side: str, n: int, trace: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", side, "--waits", str(n)]
    if trace:
        args.append("--trace")
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {side} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = arg_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--waits", type=int, default=None, help="concurrent waits (10000)")
    parser.add_argument("--child", choices=("none", "sdk", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.waits or (200 if args.quick else 10_000)
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child, n, args.trace))))
        return 0
    rounds = args.rounds or 1
    print(
        f"scale: {n} concurrent run_and_wait on one client, virtual clock, "
        f"stateless in-process server, {rounds} round(s), python {sys.version.split()[0]}"
    )
    figures: dict[str, list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for key, side, trace in (
            ("none", "none", False),
            ("sdk", "sdk", False),
            ("raw", "raw", False),
            ("sdk-trace", "sdk", True),
            ("raw-trace", "raw", True),
        ):
            figures.setdefault(key, []).append(_spawn(side, n, trace))
    return _report(n, figures)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _report(n: int, figures: dict[str, list[dict[str, Any]]]) -> int:
    base = _median([f["rss_peak_kb"] for f in figures["none"]])
    rss = {
        s: (_median([f["rss_peak_kb"] for f in figures[s]]) - base) * 1024 / n
        for s in ("sdk", "raw")
    }
    trace = {
        s: _median([f["trace_peak_bytes"] for f in figures[f"{s}-trace"]]) / n
        for s in ("sdk", "raw")
    }
    sdk = figures["sdk"][-1]
    for key, runs in figures.items():
        f = runs[-1]
        print(
            f"  {key:<9} peak RSS {f['rss_peak_kb'] / 1024:7.1f} MiB"
            f" (before waits {f['rss_before_kb'] / 1024:.1f}), requests {f['requests']},"
            f" {f['seconds']:.2f} s"
        )
    met = rss["sdk"] <= TARGET_KB * 1024
    print(
        f"RESULT peak RSS per wait: sdk {rss['sdk'] / 1024:.2f} KB, raw {rss['raw'] / 1024:.2f} KB,"
        f" ratio {rss['sdk'] / rss['raw']:.3f} (over a no-wait process of {base / 1024:.1f} MiB)"
        f" target <= {TARGET_KB:g} KB {'met' if met else 'missed'}"
    )
    print(
        f"RESULT tracemalloc peak per wait: sdk {trace['sdk'] / 1024:.2f} KB,"
        f" raw {trace['raw'] / 1024:.2f} KB, ratio {trace['sdk'] / trace['raw']:.3f}"
        f" target <= {TARGET_KB:g} KB {'met' if trace['sdk'] <= TARGET_KB * 1024 else 'missed'}"
    )
    ok = sdk["guard_mismatches"] == 0 and sdk["guard_after"] == 0
    print(
        f"RESULT run guard: {sdk['guard_checks']} checks while waits were in flight"
        f" (entries seen {sdk['guard_in_flight']}), {sdk['guard_mismatches']} with an entry"
        f" for an audience nobody waited on or none for one waited on; {sdk['guard_after']}"
        f" entries after all returned; ratio {sdk['guard_ratio']:.3f} (entries / waits in"
        f" flight, over all checks); target 0 and 0 {'met' if ok else 'missed'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
