"""Parsing of `aep-ais`: dates, usage errors, --help, global options."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import respx

from ..conftest import AUDIENCE_ID, OPERATION_ID
from .conftest import (
    OPS,
    RUNS,
    Result,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-05-01", datetime(2025, 5, 1, tzinfo=UTC)),
        ("2025-05-01T12:30:00Z", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
        ("2025-05-01T12:30:00", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
        ("2025-05-01T14:30:00+02:00", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
        ("1746102600", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
        ("1746102600.0", datetime(2025, 5, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_dates_accept_iso_8601_and_epoch_seconds(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, text: str, expected: datetime
) -> None:
    route = api.post(RUNS).respond(200, json=sample("run_started"))
    result = cli("run", AUDIENCE_ID, "--since", text)
    assert result.code == 0, result.err
    sent = json.loads(route.calls.last.request.content)
    assert sent == {"dataFilterStartTime": int(expected.timestamp())}


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "nan", "1e400"])
def test_bad_dates_are_usage_errors(cli: Callable[..., Result], text: str) -> None:
    result = cli("run", AUDIENCE_ID, "--since", text)
    assert result.code == 2
    assert "--since" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("option", ["--since", "--until"])
def test_epoch_milliseconds_get_a_hint(cli: Callable[..., Result], option: str) -> None:
    args = ["--since", "1700000000"] if option == "--until" else []
    result = cli("run", AUDIENCE_ID, *args, option, "1700000000000")
    assert result.code == 2
    assert result.out == ""
    assert result.err == (
        f"aep-ais: run: argument {option}: '1700000000000' looks like milliseconds; "
        "give seconds (1700000000); see aep-ais run --help\n"
    )


def test_help_says_errors_stay_text_under_json(cli: Callable[..., Result]) -> None:
    text = " ".join(cli("--help").out.split())
    assert (
        "--json prints results as JSON on stdout for scripts; errors stay one line of text "
        "on stderr" in text
    )


def test_help_lists_commands_and_the_exit_status_table(cli: Callable[..., Result]) -> None:
    result = cli("--help")
    assert result.code == 0
    for command in ("create", "status", "update", "delete", "extend-ttl", "run", "runs"):
        assert command in result.out
    for row in ("2  bad usage", "3  credentials", "4  no such", "7  a --wait", "8  platform"):
        assert row in result.out
    assert "AEP_CLIENT_SECRET" in result.out


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["status"],
        ["run", AUDIENCE_ID],
        ["runs", AUDIENCE_ID, "--limit", "0"],
        ["runs", AUDIENCE_ID, "--sort-by", "size"],
        ["update", AUDIENCE_ID, "--field-label", "nolabel"],
        ["emulator", "--port", "70000"],
        ["runs", AUDIENCE_ID, "--status", "DONE"],
        ["completion", "tcsh"],
        ["validate"],
        ["run-many"],
        ["create-many"],
        ["status", OPERATION_ID, "--wait-timeout", "-1"],
    ],
)
def test_usage_errors_exit_2(cli: Callable[..., Result], args: list[str]) -> None:
    result = cli(*args)
    assert result.code == 2
    assert result.out == ""
    # One line, not argparse's usage block, and where to read more.
    (line,) = result.err.splitlines()
    assert line.startswith("aep-ais: ")
    command = args[0] if args and args[0] != "frobnicate" else ""
    assert line.endswith(f"; see aep-ais {command} --help".replace("  ", " "))


def test_a_usage_error_is_one_line_in_exact_bytes(cli: Callable[..., Result]) -> None:
    assert cli("status").err == (
        "aep-ais: status: the following arguments are required: OPERATION_ID; "
        "see aep-ais status --help\n"
    )


@pytest.mark.parametrize("limit", ["0", "41", "x"])
def test_limit_out_of_bounds_fails_the_same_way(cli: Callable[..., Result], limit: str) -> None:
    result = cli("runs", AUDIENCE_ID, "--limit", limit)
    assert result.code == 2
    assert result.err == (
        f"aep-ais: runs: argument --limit: '{limit}' must be a whole number from 1 to 40; "
        "see aep-ais runs --help\n"
    )


def test_status_filter_is_checked_case_insensitively(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    route = api.get(f"/external-audience/{AUDIENCE_ID}/runs").respond(200, json={"runs": []})
    assert cli("runs", AUDIENCE_ID, "--status", "failed").code == 0
    assert route.calls.last.request.url.params.get_list("property") == ["status=FAILED"]
    result = cli("runs", AUDIENCE_ID, "--status", "DONE")
    assert result.code == 2
    assert "'DONE' is not a run status (QUEUED, PROCESSING, SUCCESS, FAILED)" in result.err


def test_runs_name_is_described_as_the_audience_name(cli: Callable[..., Result]) -> None:
    text = " ".join(cli("runs", "--help").out.split())
    assert "--name AUDIENCE_NAME" in text
    assert "a run is named after its audience" in text


def test_version(cli: Callable[..., Result]) -> None:
    from aep_ais import __version__

    result = cli("--version")
    assert (result.code, result.out) == (0, f"aep-ais {__version__}\n")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_come_from_the_parser(cli: Callable[..., Result], shell: str) -> None:
    result = cli("completion", shell)
    assert result.code == 0
    for word in ("create", "run-status", "--if-active", "--dry-run", "--no-token-cache"):
        assert word in result.out
    if shell == "fish":
        assert result.out.startswith("complete -c aep-ais")
    else:
        assert "complete -o filenames -F _aep_ais aep-ais" in result.out


def test_bash_completion_script_is_valid_bash(cli: Callable[..., Result]) -> None:
    import shutil
    import subprocess

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    script = cli("completion", "bash").out
    check = subprocess.run([bash, "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr


def test_global_options_go_before_or_after_the_command(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).respond(200, json=sample("operation"))
    before = cli("--json", "status", OPERATION_ID)
    after = cli("status", OPERATION_ID, "--json")
    assert before.code == after.code == 0
    assert before.json == after.json == sample("operation")
