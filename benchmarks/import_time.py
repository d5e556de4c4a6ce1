"""Import time of `aep_ais` against `import httpx`, each in fresh interpreters.

Each repetition starts `python -X importtime -c "import aep_ais"` and the same for
`httpx`, alternating which goes first, and reads the cumulative microseconds of the
top-level module from the `-X importtime` report. `aep_ais` imports httpx itself, so the
ratio is httpx plus what the SDK adds on top, over httpx alone. The heaviest modules that
`aep_ais` pulls in beyond httpx are listed from the last repetition, to show where time
goes.

    python benchmarks/import_time.py            # 15 repetitions
    python benchmarks/import_time.py --quick    # 3
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from _harness import arg_parser, stats, target_line

_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\| ( *)(\S+)\s*$")


def _env(pycache: str) -> dict[str, str]:
    """The environment for the children: bytecode cached, as in an installed package.

    Bytecode goes to a private prefix, so a source tree that others are editing is left
    alone and a `PYTHONDONTWRITEBYTECODE` in the caller's environment does not make every
    child compile the SDK from source (which is not what users of a wheel see).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _importtime(module: str, env: dict[str, str]) -> tuple[int, str]:
    """Cumulative microseconds of importing `module` at top level, and the raw report."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    for line in done.stderr.splitlines():
        m = _LINE.match(line)
        if m and not m.group(3) and m.group(4) == module:
            return int(m.group(2)), done.stderr
    raise RuntimeError(f"no importtime line for {module}:\n{done.stderr[-2000:]}")


def _extra_modules(report_sdk: str, report_httpx: str) -> list[tuple[int, str]]:
    """The modules `aep_ais` loads that `import httpx` does not, by their own time."""

    def selfs(report: str) -> dict[str, int]:
        out = {}
        for line in report.splitlines():
            m = _LINE.match(line)
            if m:
                out[m.group(4)] = int(m.group(1))
        return out

    sdk, base = selfs(report_sdk), selfs(report_httpx)
    extra = [(us, name) for name, us in sdk.items() if name not in base]
    return sorted(extra, reverse=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = arg_parser(__doc__.splitlines()[0] if __doc__ else "")
    args = parser.parse_args(argv)
    reps = args.rounds or (3 if args.quick else 15)
    with tempfile.TemporaryDirectory(prefix="aep-ais-pycache-") as pycache:
        return _measure(reps, _env(pycache))


def _measure(reps: int, env: dict[str, str]) -> int:
    # Compile and cache bytecode first, so no repetition pays for it.
    _importtime("aep_ais", env)
    _importtime("httpx", env)
    sdk_us: list[float] = []
    httpx_us: list[float] = []
    report_sdk = report_httpx = ""
    for i in range(reps):
        order = (("aep_ais", sdk_us), ("httpx", httpx_us))
        for module, out in order if i % 2 == 0 else reversed(order):
            us, report = _importtime(module, env)
            out.append(us)
            if module == "aep_ais":
                report_sdk = report
            else:
                report_httpx = report
    sdk, base = stats(sdk_us), stats(httpx_us)
    ratio = sdk.median / base.median
    pair = stats([s / b for s, b in zip(sdk_us, httpx_us, strict=True)])
    print(f"import time: {reps} fresh interpreters per module, python {sys.version.split()[0]}")
    print(
        f"RESULT import time: aep_ais {sdk.median / 1000:.1f} ms, "
        f"httpx {base.median / 1000:.1f} ms, "
        f"ratio {ratio:.3f} (per-run p90 {pair.p90:.3f}, runs {reps}) {target_line(ratio, 1.3)}"
    )
    extra = _extra_modules(report_sdk, report_httpx)
    groups: dict[str, int] = {}
    for us, name in extra:
        top = name.split(".")[0]
        groups[top] = groups.get(top, 0) + us
    print("what aep_ais loads beyond httpx, by package (self times, last run):")
    for top, us in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {us / 1000:6.2f} ms  {top}")
    print("heaviest single modules among them:")
    for us, name in extra[:8]:
        print(f"  {us / 1000:6.2f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
