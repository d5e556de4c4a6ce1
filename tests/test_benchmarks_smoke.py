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
    _check(
        lines,
        [
            "get_run per call",
            "create_audience per call",
            "get_run per call, OpenTelemetry no-op provider",
            "create_audience per call, OpenTelemetry no-op provider",
        ],
    )
    assert "target <= 1.15" in lines[0]
    assert "target <= 1.3" in lines[1]
    assert "target <= 1.25" in lines[2]
    assert "target <= 1.4" in lines[3]
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


def test_bulk_counts_requests_over_a_socket_to_another_process() -> None:
    lines = _run("bulk.py", "--audiences", "10", "--time", "0.2", "--probes", "3")
    _check(
        lines,
        [
            "bulk wall time",
            "bulk wall vs 2T + minimum request",
            "polls per wait",
            "requests per audience",
            "peak RSS",
        ],
    )
    assert "target <= 1.3" in lines[0]
    assert "target <= 1.5" in lines[2]
    # T is shorter than the first poll interval: each wait ends at its first poll.
    per_kind = "create 1.00, list_runs 1.00, operation 1.00, run 1.00, start_run 1.00"
    assert f"sdk 5.00 ({per_kind})" in lines[3]


def test_soak_in_process_prints_every_check_met() -> None:
    lines = _run("soak.py", "--in-process", "--audiences", "40")
    counts, *lines = lines
    assert counts == (
        "RESULT soak issue 9 counts (each must be 0): duplicates 0, adopted runs 0, "
        "flag false although the server acted 0, pool entries left n/a (in-process), "
        "requests after a deadline 0"
    )
    assert [line.split(":", 1)[0] for line in lines] == [
        "RESULT soak none lost, none hung",
        "RESULT soak no audience created twice",
        "RESULT soak failed creates say whether the server may have acted",
        "RESULT soak resending resolves them",
        "RESULT soak never two active runs of one audience",
        "RESULT soak no run adopted, no error hides that the server acted",
        "RESULT soak nothing sent after a deadline, no pool entry left",
        "RESULT soak one token request per expiry",
    ]
    assert all(line.endswith("target met") for line in lines), lines
    assert "40 audiences: " in lines[0] and ", 0 lost, hung False" in lines[0]


def test_polling_prints_every_t_against_both_loops() -> None:
    lines = _run("polling.py", "--seeds", "2")
    times = ["2s", "30s", "5min", "1h"]
    _check(
        lines,
        [f"operation T={t} {table}" for table in ("exact", "phase") for t in times]
        + ["run_and_wait T=5min phase"],
    )
    # Virtual time makes the fixed loops exact: one poll at once, then one per interval.
    assert "1s loop polls 31, delay 0.00 s; 30s loop polls 2, delay 0.00 s" in lines[1]
    assert "1s loop polls 3601, delay 0.00 s; 30s loop polls 121, delay 0.00 s" in lines[3]
    assert "target delay <= 7.5 s and polls < 1s loop" in lines[1]
    assert all(re.search(r"sdk polls [\d.]+ \(max \d+\), delay [\d.]+ s", line) for line in lines)


def test_scale_reports_memory_per_wait_and_an_empty_run_guard() -> None:
    lines = _run("scale.py", "--waits", "60")
    _check(lines, ["peak RSS per wait", "tracemalloc peak per wait", "run guard"])
    assert re.search(r"sdk [\d.]+ KB, raw [\d.]+ KB", lines[0])
    assert "target <= 10 KB" in lines[0] and "target <= 10 KB" in lines[1]
    # The guard check is a count, not a timing: it holds at any size.
    assert ", 0 with an entry for an audience nobody waited on" in lines[2]
    assert "; 0 entries after all returned; ratio 1.000 " in lines[2]
    assert lines[2].endswith("target 0 and 0 met")


def test_many_prints_quota_rate_limit_and_crash_lines() -> None:
    lines = _run("many.py")
    names = [line.split(":", 1)[0].removeprefix("RESULT ") for line in lines]
    assert names == [
        "quota runs per sandbox",
        "quota skipped without a request",
        "life cycle RateLimit(per_second=50)",
        "life cycle no RateLimit",
        "crash seed 1",
    ]
    for line in lines:
        assert _RATIO.search(line), line
    # Exact counts, not timings: the quota part is on virtual time and deterministic.
    assert "min 100, max 100" in lines[0]
    assert "requests naming them 0, guardrail refusals 0" in lines[1]
    dups = re.search(r"most creates of one name (\d+), most runs of one audience (\d+)", lines[4])
    assert dups is not None and max(int(dups.group(1)), int(dups.group(2))) <= 1, lines[4]
