"""Per-call overhead of the SDK against a bare `httpx.AsyncClient` plus `json.loads`.

Both sides talk to the same in-process `httpx.MockTransport`, which answers every request
with the same pre-built body, so what is measured is the client-side work alone: for
`get_run` the SDK's id checks, header and token handling, the retry loop and structuring
into an `IngestionRun`; for `create_audience` also validation and unstructuring the spec.
The raw side sends the same headers (set once on its client, as a user would) and decodes
with `json.loads`; for the create it also `json.dumps` a hand-built dict.

OpenTelemetry: the main figures are taken with `opentelemetry` blocked, as if it were not
installed (the SDK then imports nothing of it). A child process then measures the same
calls with `opentelemetry-api` and a no-op tracer provider (`--otel-noop`), when it is
installed: every call then opens its spans and ends them.

    python benchmarks/overhead.py            # 20,000 calls per side per benchmark
    python benchmarks/overhead.py --quick    # a few hundred, for the smoke test
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

OTEL_CHILD = "--otel-noop" in sys.argv
OTEL_INSTALLED = importlib.util.find_spec("opentelemetry") is not None
if not OTEL_CHILD:
    sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # "not installed"

import httpx  # noqa: E402
from _harness import arg_parser, interleave_async, result_line, stats  # noqa: E402
from _payloads import (  # noqa: E402
    AUDIENCE_ID,
    RUN_ID,
    operation_payload,
    run_payload,
    spec,
    spec_dict,
)

import aep_ais  # noqa: E402
from aep_ais._transport import _USER_AGENT  # noqa: E402

BASE_URL = "https://platform.adobe.io/data/core/ais"
TOKEN = "benchmark-token"
HEADERS = {
    "Accept": "application/json",
    "User-Agent": _USER_AGENT,
    "x-api-key": "benchmark-key",
    "x-gw-ims-org-id": "ABC123@AdobeOrg",
    "x-sandbox-name": "prod",
    "Authorization": f"Bearer {TOKEN}",
}
RUN_BODY = json.dumps(run_payload()).encode()
OPERATION_BODY = json.dumps(operation_payload()).encode()
ANSWER_HEADERS = [("content-type", "application/json")]


def _answer(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return httpx.Response(202, headers=ANSWER_HEADERS, content=OPERATION_BODY)
    return httpx.Response(200, headers=ANSWER_HEADERS, content=RUN_BODY)


async def _run(calls: int, rounds: int, otel: bool = False) -> list[str]:
    mock = httpx.MockTransport(_answer)
    per_round = max(1, calls // rounds)
    run_path = f"/external-audience/{AUDIENCE_ID}/runs/{RUN_ID}"
    the_spec = spec()
    the_dict = spec_dict()
    lines: list[str] = []
    async with (
        aep_ais.AISClient(
            org_id=HEADERS["x-gw-ims-org-id"],
            sandbox=HEADERS["x-sandbox-name"],
            api_key=HEADERS["x-api-key"],
            auth=aep_ais.StaticToken(TOKEN),
            base_url=BASE_URL,
            transport=mock,
        ) as ais,
        httpx.AsyncClient(base_url=BASE_URL, headers=HEADERS, transport=mock) as raw,
    ):
        # Both sides must send the same request; check once before timing anything.
        seen: list[httpx.Request] = []

        def recording(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return _answer(request)

        mock.handler = recording
        await ais.get_run(AUDIENCE_ID, RUN_ID)
        await raw.get(run_path)
        await ais.create_audience(the_spec)
        await raw.post(
            "/external-audience/",
            content=json.dumps(the_dict, separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json"},
        )
        mock.handler = _answer
        for a, b in ((seen[0], seen[1]), (seen[2], seen[3])):
            assert a.url == b.url and a.method == b.method, (a, b)
            assert dict(a.headers) == dict(b.headers), (a.headers, b.headers)
            assert json.loads(a.content or b"null") == json.loads(b.content or b"null")

        async def sdk_get() -> float:
            start = time.perf_counter()
            for _ in range(per_round):
                await ais.get_run(AUDIENCE_ID, RUN_ID)
            return time.perf_counter() - start

        async def raw_get() -> float:
            start = time.perf_counter()
            for _ in range(per_round):
                response = await raw.get(run_path)
                json.loads(response.content)
            return time.perf_counter() - start

        async def sdk_create() -> float:
            start = time.perf_counter()
            for _ in range(per_round):
                await ais.create_audience(the_spec)
            return time.perf_counter() - start

        async def raw_create() -> float:
            start = time.perf_counter()
            for _ in range(per_round):
                response = await raw.post(
                    "/external-audience/",
                    content=json.dumps(the_dict, separators=(",", ":")).encode(),
                    headers={"Content-Type": "application/json"},
                )
                json.loads(response.content)
            return time.perf_counter() - start

        # With spans (a no-op provider), 0.10 more is allowed than without.
        extra, suffix = (0.10, ", OpenTelemetry no-op provider") if otel else (0.0, "")
        for name, sdk_fn, raw_fn, target in (
            ("get_run per call" + suffix, sdk_get, raw_get, 1.15 + extra),
            ("create_audience per call" + suffix, sdk_create, raw_create, 1.3 + extra),
        ):
            # One untimed round each to warm caches (cattrs compiles hooks on first use).
            await sdk_fn()
            await raw_fn()
            sdk_times, raw_times = await interleave_async(rounds, sdk_fn, raw_fn)
            line = result_line(
                name, stats(sdk_times), stats(raw_times), per=per_round, target=round(target, 2)
            )
            print(line, flush=True)
            lines.append(line)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = arg_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, default=None, help="calls per side (20000)")
    parser.add_argument("--otel-noop", action="store_true", help=argparse_hidden())
    args = parser.parse_args(argv)
    calls = args.calls or (400 if args.quick else 20_000)
    rounds = args.rounds or (4 if args.quick else 40)
    if args.otel_noop:
        from opentelemetry import trace

        trace.set_tracer_provider(trace.NoOpTracerProvider())
        asyncio.run(_run(calls, rounds, otel=True))
        return 0
    version = sys.version.split()[0]
    print(
        f"overhead: {calls} calls per side in {rounds} interleaved rounds, "
        f"python {version}, httpx {httpx.__version__}"
    )
    asyncio.run(_run(calls, rounds))
    assert not [m for m in sys.modules if m.startswith("opentelemetry.")], "imported"
    if not OTEL_INSTALLED:
        print("opentelemetry-api is not installed: no figures with spans", flush=True)
        return 0
    child = [sys.executable, str(Path(__file__)), "--otel-noop"]
    child += ["--calls", str(calls), "--rounds", str(rounds)]
    subprocess.run(child, check=True)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
