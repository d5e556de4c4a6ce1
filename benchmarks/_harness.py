"""Shared bits of the benchmark scripts: interleaved rounds, medians, result lines.

Machines that run these are small and noisy, so nothing here reports an absolute figure
alone: every SDK measurement has a baseline measured in the same process, in rounds that
alternate with the SDK's (and swap which goes first), and the figures are medians over
rounds. Every result is printed as one line that starts with `RESULT`, which the smoke
test looks for.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

__all__ = [
    "Stats",
    "arg_parser",
    "interleave",
    "interleave_async",
    "result_line",
    "stats",
    "target_line",
    "timed",
]


class Stats:
    """Median and 90th percentile of a list of samples."""

    def __init__(self, samples: Sequence[float]) -> None:
        if not samples:
            raise ValueError("no samples")
        ordered = sorted(samples)
        self.samples = list(samples)
        self.median = statistics.median(ordered)
        # Nearest-rank p90: with few rounds this is simply one of the slow ones.
        self.p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def stats(samples: Sequence[float]) -> Stats:
    """`Stats` of `samples`."""
    return Stats(samples)


def arg_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the options every benchmark takes (`--quick`, `--rounds`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, for the smoke test (figures are noise)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per side")
    return parser


def _settle() -> None:
    # Collect now so that a collection triggered by one side does not land on the other,
    # and freeze what survives (the benchmark's inputs) so later collections skip it.
    gc.collect()
    gc.freeze()


def interleave(
    rounds: int, sdk: Callable[[], float], base: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Run `sdk` and `base` (each returns its own elapsed seconds) in alternating rounds.

    The side that goes first alternates too, so a slow spell of the machine lands on both.
    """
    sdk_times: list[float] = []
    base_times: list[float] = []
    for i in range(rounds):
        order = ((sdk, sdk_times), (base, base_times))
        for fn, out in order if i % 2 == 0 else reversed(order):
            _settle()
            out.append(fn())
    return sdk_times, base_times


async def interleave_async(
    rounds: int,
    sdk: Callable[[], Awaitable[float]],
    base: Callable[[], Awaitable[float]],
) -> tuple[list[float], list[float]]:
    """`interleave` for coroutine rounds, run on the current event loop."""
    sdk_times: list[float] = []
    base_times: list[float] = []
    for i in range(rounds):
        order = ((sdk, sdk_times), (base, base_times))
        for fn, out in order if i % 2 == 0 else reversed(order):
            _settle()
            out.append(await fn())
    return sdk_times, base_times


def timed(fn: Callable[[], object]) -> float:
    """Seconds that one call of `fn` took."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def result_line(
    name: str,
    sdk: Stats,
    base: Stats,
    *,
    per: int,
    unit: str = "us",
    sdk_label: str = "sdk",
    base_label: str = "raw",
    target: float | None = None,
) -> str:
    """One `RESULT` line: per-item medians of both sides and their ratio.

    `sdk` and `base` hold seconds per round of `per` items. The ratio is that of the
    medians; `p90` is the 90th percentile of the per-round ratios (round i of one side
    against round i of the other), which shows how steady the ratio was.
    """
    scale = {"us": 1e6, "ms": 1e3}[unit] / per
    ratio = sdk.median / base.median
    pair = stats([s / b for s, b in zip(sdk.samples, base.samples, strict=True)])
    line = (
        f"RESULT {name}: {sdk_label} {sdk.median * scale:.2f} {unit}, "
        f"{base_label} {base.median * scale:.2f} {unit}, "
        f"ratio {ratio:.3f} (per-round p90 {pair.p90:.3f}, rounds {len(sdk.samples)})"
    )
    if target is not None:
        line += " " + target_line(ratio, target)
    return line


def target_line(ratio: float, target: float) -> str:
    """`target <= X met` or `missed`: information only, never a failure."""
    return f"target <= {target:g} {'met' if ratio <= target else 'missed'}"
