"""Cost of the wire format: structuring runs and unstructuring specs against plain JSON.

Two measurements, each in interleaved rounds against its own baseline:

- structure: `IngestionRun` answers (two stage details each) from decoded JSON, against
  `json.loads` of the same payloads (the work any client must do anyway);
- unstructure: `AudienceSpec`s to JSON-ready dicts, against `json.dumps` of the same dicts.

Each also reports the full path (`json.loads` + structure, unstructure + `json.dumps`)
against the plain JSON step, which is what the SDK adds to one request.

    python benchmarks/conversion.py            # 100,000 items per side
    python benchmarks/conversion.py --quick    # 2,000, for the smoke test
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _harness import arg_parser, interleave, result_line, stats
from _payloads import run_payload, spec

from aep_ais import IngestionRun
from aep_ais._convert import structure, unstructure


def _chunks(items: list[Any], rounds: int) -> list[list[Any]]:
    size = max(1, len(items) // rounds)
    return [items[i * size : (i + 1) * size] for i in range(rounds)]


def _rounds(chunks: list[list[Any]], step: Callable[[list[Any]], object]) -> Callable[[], float]:
    """A round function that processes the next chunk each time it is called."""
    position = [0]

    def one_round() -> float:
        chunk = chunks[position[0] % len(chunks)]
        position[0] += 1
        start = time.perf_counter()
        step(chunk)
        return time.perf_counter() - start

    return one_round


def main(argv: Sequence[str] | None = None) -> int:
    parser = arg_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--items", type=int, default=None, help="items per side (100000)")
    args = parser.parse_args(argv)
    items = args.items or (2_000 if args.quick else 100_000)
    rounds = args.rounds or (4 if args.quick else 20)
    per = max(1, items // rounds)
    print(f"conversion: {per * rounds} items per side in {rounds} interleaved rounds")

    raw_runs = [json.dumps(run_payload(i)).encode() for i in range(per * rounds)]
    decoded_runs = [json.loads(b) for b in raw_runs]
    specs = [spec(i) for i in range(per * rounds)]
    spec_dicts = [unstructure(s) for s in specs]
    # Sanity: the SDK reads back what the payload says.
    assert structure(decoded_runs[1], IngestionRun).details[1].stage == "PROFILE_STORE_INGEST"

    def structure_all(chunk: list[Any]) -> None:
        for d in chunk:
            structure(d, IngestionRun)

    def loads_all(chunk: list[Any]) -> None:
        for b in chunk:
            json.loads(b)

    def loads_structure_all(chunk: list[Any]) -> None:
        for b in chunk:
            structure(json.loads(b), IngestionRun)

    def unstructure_all(chunk: list[Any]) -> None:
        for s in chunk:
            unstructure(s)

    def dumps_all(chunk: list[Any]) -> None:
        for d in chunk:
            json.dumps(d)

    def unstructure_dumps_all(chunk: list[Any]) -> None:
        for s in chunk:
            json.dumps(unstructure(s))

    cases = (
        ("structure IngestionRun vs json.loads", decoded_runs, structure_all, raw_runs,
         loads_all, "structure", "json.loads"),
        ("json.loads+structure vs json.loads", raw_runs, loads_structure_all, raw_runs,
         loads_all, "loads+structure", "json.loads"),
        ("unstructure AudienceSpec vs json.dumps", specs, unstructure_all, spec_dicts,
         dumps_all, "unstructure", "json.dumps"),
        ("unstructure+json.dumps vs json.dumps", specs, unstructure_dumps_all, spec_dicts,
         dumps_all, "unstructure+dumps", "json.dumps"),
    )  # fmt: skip
    for name, sdk_items, sdk_step, base_items, base_step, sdk_label, base_label in cases:
        sdk_round = _rounds(_chunks(sdk_items, rounds), sdk_step)
        base_round = _rounds(_chunks(base_items, rounds), base_step)
        # Warm up: cattrs generates its hooks on first use.
        sdk_step(sdk_items[:50])
        base_step(base_items[:50])
        sdk_times, base_times = interleave(rounds, sdk_round, base_round)
        print(
            result_line(
                name,
                stats(sdk_times),
                stats(base_times),
                per=per,
                sdk_label=f"{sdk_label}/item",
                base_label=f"{base_label}/item",
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
