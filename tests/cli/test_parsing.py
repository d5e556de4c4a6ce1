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
    assert result.err.splitlines()[-1].endswith(
        f"argument {option}: '1700000000000' looks like milliseconds; give seconds (1700000000)"
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
        ["emulator"],
        ["status", OPERATION_ID, "--wait-timeout", "-1"],
    ],
)
def test_usage_errors_exit_2(cli: Callable[..., Result], args: list[str]) -> None:
    result = cli(*args)
    assert result.code == 2
    assert result.out == ""
    assert "Traceback" not in result.err


def test_global_options_go_before_or_after_the_command(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).respond(200, json=sample("operation"))
    before = cli("--json", "status", OPERATION_ID)
    after = cli("status", OPERATION_ID, "--json")
    assert before.code == after.code == 0
    assert before.json == after.json == sample("operation")
