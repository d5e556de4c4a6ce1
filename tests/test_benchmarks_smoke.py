"""Each benchmark script runs at tiny size and prints its result lines.

No timing is asserted here (the figures of a tiny run are noise); what is checked is that
every script still runs with one command, exits 0, and prints each `RESULT` line with
both sides' figures and a ratio.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
_RATIO = re.compile(r"ratio (\d+\.\d{3})")


def _run(script: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]


def _check(lines: list[str], names: list[str]) -> None:
    assert [line.split(":", 1)[0].removeprefix("RESULT ") for line in lines] == names
    for line in lines:
        m = _RATIO.search(line)
        assert m is not None, line
        assert float(m.group(1)) > 0, line


def test_overhead_prints_both_calls_with_targets() -> None:
    lines = _run("overhead.py", "--calls", "40", "--rounds", "2")
    _check(lines, ["get_run per call", "create_audience per call"])
    assert "target <= 1.15" in lines[0]
    assert "target <= 1.3" in lines[1]
    assert all(re.search(r"sdk [\d.]+ us, raw [\d.]+ us", line) for line in lines)


def test_conversion_prints_structure_and_unstructure() -> None:
    lines = _run("conversion.py", "--items", "200", "--rounds", "2")
    _check(
        lines,
        [
            "structure IngestionRun vs json.loads",
            "json.loads+structure vs json.loads",
            "unstructure AudienceSpec vs json.dumps",
            "unstructure+json.dumps vs json.dumps",
        ],
    )
    assert all(re.search(r"/item [\d.]+ us", line) for line in lines)


def test_import_time_compares_against_httpx() -> None:
    lines = _run("import_time.py", "--rounds", "1")
    _check(lines, ["import time"])
    assert re.search(r"aep_ais [\d.]+ ms, httpx [\d.]+ ms", lines[0])
    assert "target <= 1.3" in lines[0]
