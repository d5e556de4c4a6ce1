"""Fixtures and helpers of the command-line tests.

Commands run through `main([...])` against the mocked API (respx) or the in-process
emulator, on a `FakeClock`, so waits take no real time.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from aep_ais.cli import main
from aep_ais.testing import FakeClock

from ..conftest import API_KEY, AUDIENCE_ID, OPERATION_ID, ORG_ID, RUN_ID, SANDBOX, TOKEN

OPS = f"/external-audience/operations/{OPERATION_ID}"
RUNS = f"/external-audience/{AUDIENCE_ID}/runs"
RUN = f"{RUNS}/{RUN_ID}"
IMS = "https://ims-na1.adobelogin.com/ims/token/v3"


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A static-token environment; no AEP_* setting of the machine leaks in, and the token
    cache lives in the test's own folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("AEP_NO_TOKEN_CACHE", raising=False)
    for var in (
        "AEP_ORG_ID",
        "AEP_SANDBOX",
        "AEP_CLIENT_ID",
        "AEP_CLIENT_SECRET",
        "AEP_SCOPES",
        "AEP_ACCESS_TOKEN",
        "AEP_API_KEY",
        "AEP_BASE_URL",
        "AEP_TOKEN_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AEP_ORG_ID", ORG_ID)
    monkeypatch.setenv("AEP_SANDBOX", SANDBOX)
    monkeypatch.setenv("AEP_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("AEP_API_KEY", API_KEY)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], clock: FakeClock) -> Callable[..., Result]:
    """`cli(*args)`: run `aep-ais` on the fake clock and capture what it printed."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args), clock=clock)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def pretend_stderr_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the captured stderr claim to be a terminal (call it inside the test body:
    capsys swaps its streams between fixture setup and the test), 120 columns wide."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "120")


@pytest.fixture
def spec_file(tmp_path: Path, sample: Callable[[str], Any]) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(sample("create_request")), "utf-8")
    return path


def error_line(result: Result) -> str:
    """The one line of stderr, checked to be a single line without a traceback."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    assert lines[0].startswith("aep-ais: ")
    return lines[0]


def operation_json(sample: Any, status: str) -> dict[str, Any]:
    """The sample operation with `status` (no audience id while PROCESSING)."""
    body = sample("operation")
    body["status"] = status
    if status == "PROCESSING":
        del body["audienceId"]
    return dict(body)
