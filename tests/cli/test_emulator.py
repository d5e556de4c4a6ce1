"""`--emulator`, `aep-ais emulator`, the demo, and a closed stdout pipe."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import respx

from aep_ais.cli import main
from aep_ais.testing import Emulator, FakeClock

from ..conftest import AUDIENCE_ID, RUN_ID
from .conftest import (
    RUN,
    RUNS,
    Result,
    error_line,
)


def test_emulator_flag_creates_and_waits_without_credentials(
    cli: Callable[..., Result], spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AEP_ORG_ID", "AEP_ACCESS_TOKEN", "AEP_API_KEY"):
        monkeypatch.delenv(var)
    result = cli("--emulator", "create", str(spec_file), "--wait", "--json")
    assert result.code == 0, result.err
    assert result.json["status"] == "SUCCESS"
    assert result.json["audienceId"]
    # The emulator finishes an operation after 1 s; the wait sleeps 1.0 s before its poll.
    assert result.err.splitlines() == [
        "creating 'Sample external audience': SUCCESS, 1.0s, 1 poll",
    ]


def test_each_emulator_invocation_hands_out_fresh_ids(
    cli: Callable[..., Result], spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AEP_ORG_ID", "AEP_ACCESS_TOKEN", "AEP_API_KEY"):
        monkeypatch.delenv(var)
    first = cli("--emulator", "create", str(spec_file), "--wait", "--json")
    second = cli("--emulator", "create", str(spec_file), "--wait", "--json")
    assert first.code == second.code == 0, first.err + second.err
    # An id kept from one invocation never names another invocation's audience.
    assert first.json["operationId"] != second.json["operationId"]
    assert first.json["audienceId"] != second.json["audienceId"]


def test_emulator_flag_keeps_no_state_between_invocations(cli: Callable[..., Result]) -> None:
    result = cli("--emulator", "run", AUDIENCE_ID, "--since", "2025-05-01", "--wait")
    assert result.code == 4
    assert "100940-404" in error_line(result)


def test_run_wait_if_active_raise_exits_5(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    active = {**sample("run"), "status": "PROCESSING"}
    listing = api.get(RUNS).respond(200, json={"runs": [active]})
    result = cli("run", AUDIENCE_ID, "--since", "0", "--wait", "--if-active", "raise")
    assert listing.called
    assert result.code == 5
    line = error_line(result)
    assert line.startswith("aep-ais: RunInProgressError:")
    assert RUN_ID in line
    # The advice is in flags, not in the SDK's Python argument.
    assert line.endswith("use --if-active wait|attach")
    assert "if_active" not in line


def test_run_wait_if_active_attach_reports_the_active_run(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    active = {**sample("run"), "status": "PROCESSING"}
    api.get(RUNS).respond(200, json={"runs": [active]})
    api.get(RUN).respond(200, json=sample("run"))
    result = cli("run", AUDIENCE_ID, "--since", "0", "--wait", "--if-active", "attach", "--json")
    assert result.code == 0, result.err
    assert result.json == sample("run")
    assert result.err == (
        f"run of audience {AUDIENCE_ID}: SUCCESS, 0.0s, 1 poll "
        "[DATASET SUCCESS, PROFILE_STORE SUCCESS]\n"
    )


def test_demo_runs_the_whole_life_cycle(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AEP_ORG_ID", "AEP_ACCESS_TOKEN", "AEP_API_KEY"):
        monkeypatch.delenv(var)
    clock = FakeClock()
    assert main(["demo"], clock=clock) == 0
    out, err = capsys.readouterr()
    steps = [line for line in out.splitlines() if line.startswith("[")]
    assert steps == [
        "[1/6] create the audience 'Demo spring buyers' and wait for it",
        "[2/6] ingest the files of the last 7 days (since 2025-06-08) and wait",
        "[3/6] list the audience's ingestion runs",
        "[4/6] update the description and keep the data 45 days",
        "[5/6] extend the data expiration",
        "[6/6] delete the audience",
    ]
    lines = [line.strip() for line in out.splitlines()]
    assert lines.count("status        SUCCESS") == 1  # the run
    assert "status       SUCCESS" in lines  # the operation
    assert "ttl days     45" in lines
    assert "(1 of 1)" in lines
    assert any(line.startswith("deleted ") for line in lines)
    # 1 s to create and 1.5 s to ingest, polled every 0.25 s, on virtual time.
    assert lines[-2].startswith("done in 2.5s.")
    # The next step is an emulator that keeps state between commands.
    assert lines[-1].startswith("aep-ais emulator --port 8765 ")
    assert "--emulator" not in out
    progress = err.splitlines()
    assert progress[0] == "  creating: PROCESSING, 0.2s, 1 poll"
    assert progress[3] == "  creating: SUCCESS, 1.0s, 4 polls"
    assert progress[-1] == (
        "  ingesting: SUCCESS, 1.5s, 6 polls [DATASET SUCCESS, PROFILE_STORE SUCCESS]"
    )


def test_emulator_server_keeps_state_across_invocations(
    cli: Callable[..., Result], spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("uvicorn")
    # --port 0: the server picks a free port, and its exports name that port.
    command = [sys.executable, "-m", "aep_ais", "emulator", "--port", "0"]
    with subprocess.Popen(
        [*command, "--operation-time", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            _drive_served_emulator(server, cli, spec_file, monkeypatch)
        finally:
            # Leaving the `with` waits for the process and closes its pipe.
            server.terminate()


def _read_exports(server: subprocess.Popen[str]) -> dict[str, str]:
    # The banner comes once the socket listens: two lines of text, then five exports.
    assert server.stderr is not None
    exports: dict[str, str] = {}
    for line in server.stderr:
        if line.startswith("  export "):
            name, _, value = line.strip().removeprefix("export ").partition("=")
            exports[name] = value
            if len(exports) == 5:
                return exports
    raise AssertionError(f"the emulator server ended early (exit {server.wait()})")


def _drive_served_emulator(
    server: subprocess.Popen[str],
    cli: Callable[..., Result],
    spec_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exports = _read_exports(server)
    base = exports["AEP_BASE_URL"]
    host, _, port = base.removeprefix("http://").partition(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert exports["AEP_TOKEN_URL"] == f"{base}/ims/token/v3"
    for var in ("AEP_ACCESS_TOKEN", "AEP_API_KEY", "AEP_SANDBOX"):
        monkeypatch.delenv(var)
    for var, value in exports.items():
        monkeypatch.setenv(var, value)

    created = cli("create", str(spec_file), "--json")
    assert created.code == 0, created.err
    op_id = created.json["operationId"]
    # A second invocation sees the first one's operation: the server keeps state.
    status = cli("status", op_id, "--json")
    assert status.code == 0, status.err
    assert status.json["status"] == "SUCCESS"
    again = cli("create", str(spec_file))
    assert again.code == 5
    assert "100950-409" in error_line(again)


def test_a_taken_port_is_one_line_of_error_before_any_banner(cli: Callable[..., Result]) -> None:
    pytest.importorskip("uvicorn")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = cli("emulator", "--port", str(port))
    assert result.code == 1
    assert result.out == ""
    assert result.err == f"aep-ais: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_a_port_out_of_range_is_a_usage_error(cli: Callable[..., Result], port: str) -> None:
    result = cli("emulator", "--port", port)
    assert result.code == 2
    assert "--port" in result.err


class _Served:
    """Stands in for `aep_ais.testing.serve` and `Emulator`: records, serves nothing."""

    def __init__(self) -> None:
        self.emulator_kwargs: dict[str, Any] = {}
        self.port = 0
        self.listening = False

    def emulator(self, **kwargs: Any) -> Any:
        self.emulator_kwargs = kwargs
        return Emulator(**kwargs)

    def serve(self, emulator: Any, *, sock: socket.socket) -> None:
        self.port = sock.getsockname()[1]
        # The socket already listens: a client could connect before serving starts.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            self.listening = True


@pytest.mark.parametrize(
    ("flags", "guardrails", "strict"),
    [
        ([], True, False),
        (["--no-guardrails"], False, False),
        (["--strict-tokens"], True, True),
    ],
)
def test_emulator_serves_on_the_port_it_bound_and_names_it(
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    guardrails: bool,
    strict: bool,
) -> None:
    pytest.importorskip("uvicorn")
    import aep_ais.testing

    served = _Served()
    monkeypatch.setattr(aep_ais.testing, "Emulator", served.emulator)
    monkeypatch.setattr(aep_ais.testing, "serve", served.serve)
    result = cli("emulator", "--port", "0", "--run-time", "0.5", *flags)
    assert result.code == 0, result.err
    assert served.listening
    assert served.port > 0
    assert served.emulator_kwargs == {
        "operation_time": 1.0,
        "run_time": 0.5,
        "guardrails": guardrails,
        "strict_tokens": strict,
        "rate_limit": None,
    }
    lines = result.err.splitlines()
    assert lines[0] == (
        f"emulator on http://127.0.0.1:{served.port} (Ctrl-C to stop), daily run limits "
        + ("on (--no-guardrails lifts them)" if guardrails else "off")
        + (", only tokens it issued are accepted" if strict else "")
    )
    assert f"  export AEP_BASE_URL=http://127.0.0.1:{served.port}" in lines


def test_emulator_takes_a_request_rate_limit(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("uvicorn")
    import aep_ais.testing

    served = _Served()
    monkeypatch.setattr(aep_ais.testing, "Emulator", served.emulator)
    monkeypatch.setattr(aep_ais.testing, "serve", served.serve)
    result = cli("emulator", "--port", "0", "--rate-limit", "50")
    assert result.code == 0, result.err
    assert served.emulator_kwargs["rate_limit"] == 50.0
    assert cli("emulator", "--port", "0", "--rate-limit", "0").code == 2


def test_emulator_server_without_uvicorn_says_what_to_install(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` fail
    result = cli("emulator", "--port", "8765")
    assert result.code == 1
    assert error_line(result) == (
        "aep-ais: the emulator server needs uvicorn: pip install 'aep-ais[serve]'"
    )


class ClosedPipe(io.StringIO):
    """A stdout whose reader has gone away, as with `aep-ais runs ... | head -1`."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_pipe_ends_quietly_with_141(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["demo"], clock=FakeClock()) == 141
    assert capsys.readouterr().err == ""


def test_demo_refuses_json_before_doing_anything(cli: Callable[..., Result]) -> None:
    for argv in (["--json", "demo"], ["demo", "--json"]):
        result = cli(*argv)
        assert result.code == 2
        assert result.out == ""
        assert error_line(result) == (
            "aep-ais: demo: --json is not supported; the demo prints for people only"
        )
