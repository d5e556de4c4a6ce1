"""`--wait`: the status line, interruptions, timeouts and failed waits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from aep_ais.cli import main
from aep_ais.testing import FakeClock

from ..conftest import AUDIENCE_ID, OPERATION_ID, RUN_ID
from .conftest import (
    OPS,
    RUN,
    RUNS,
    Result,
    operation_json,
    pretend_stderr_is_a_terminal,
)


def test_status_wait_prints_plain_lines_when_stderr_is_not_a_terminal(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, clock: FakeClock
) -> None:
    api.get(OPS).mock(
        side_effect=[
            httpx.Response(200, json=operation_json(sample, "PROCESSING")),
            httpx.Response(200, json=operation_json(sample, "PROCESSING")),
            httpx.Response(200, json=operation_json(sample, "SUCCESS")),
        ]
    )
    result = cli("status", OPERATION_ID, "--wait")
    assert result.code == 0, result.err
    # Default policy, jitter draw 0.5: sleeps of 1.0 s and 1.2 s between the three polls.
    assert clock.sleeps == [1.0, 1.2]
    assert result.err.splitlines() == [
        f"operation {OPERATION_ID}: PROCESSING, 0.0s, 1 poll",
        f"operation {OPERATION_ID}: PROCESSING, 1.0s, 2 polls",
        f"operation {OPERATION_ID}: SUCCESS, 2.2s, 3 polls",
    ]
    assert "\r" not in result.err
    assert f"audience id  {AUDIENCE_ID}" in result.out


def test_status_wait_rewrites_one_line_on_a_terminal(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_stderr_is_a_terminal(monkeypatch)
    api.get(OPS).mock(
        side_effect=[
            httpx.Response(200, json=operation_json(sample, "PROCESSING")),
            httpx.Response(200, json=operation_json(sample, "SUCCESS")),
        ]
    )
    result = cli("status", OPERATION_ID, "--wait")
    assert result.code == 0, result.err
    # Status first, the operation id shortened to its ends.
    first = "PROCESSING 0.0s 1 poll · operation df8c…f1a"
    second = "SUCCESS 1.0s 2 polls · operation df8c…f1a"
    # The second line is shorter: spaces cover what is left of the first one.
    pad = " " * (len(first) - len(second))
    assert result.err == f"\r{first}\r{second}{pad}\n"


def _run_json(sample: Any, dataset: str, profile: str | None) -> dict[str, Any]:
    body = sample("run")
    body["status"] = "PROCESSING" if profile != "SUCCESS" else "SUCCESS"
    body["details"][0]["status"] = dataset
    if profile is None:
        del body["details"][1]
    else:
        body["details"][1]["status"] = profile
    return dict(body)


def test_the_live_line_of_a_run_fits_80_columns_with_stages_and_short_ids(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_stderr_is_a_terminal(monkeypatch)
    monkeypatch.setenv("COLUMNS", "80")
    api.get(RUNS).respond(200, json={"runs": []})
    api.post(RUNS).respond(200, json=sample("run_started"))
    api.get(RUN).mock(
        side_effect=[
            httpx.Response(200, json=_run_json(sample, "SUCCESS", "PROCESSING")),
            httpx.Response(200, json=_run_json(sample, "SUCCESS", "SUCCESS")),
        ]
    )
    result = cli("run", AUDIENCE_ID, "--since", "0", "--wait")
    assert result.code == 0, result.err
    live = result.err.rstrip("\n").split("\r")[1:]
    # Status first, then the short run id, then the stages: by their first word only
    # where the whole names would not fit in 79 columns.
    assert [line.rstrip() for line in live] == [
        "PROCESSING 1.0s 1 poll · run fb34…b8b · DATASET SUCCESS, PROFILE PROCESSING",
        "SUCCESS 2.2s 2 polls · run fb34…b8b · DATASET SUCCESS, PROFILE_STORE SUCCESS",
    ]
    assert all(len(line) <= 79 for line in live)
    assert AUDIENCE_ID not in result.err
    # Ids are shortened in the live line only: the result shows them whole.
    assert f"run           {RUN_ID}" in result.out.splitlines()


def test_the_live_line_is_cut_to_the_terminal_width(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_stderr_is_a_terminal(monkeypatch)
    monkeypatch.setenv("COLUMNS", "40")
    api.get(RUN).respond(200, json=sample("run"))
    result = cli("run-status", AUDIENCE_ID, RUN_ID, "--wait")
    assert result.code == 0
    assert result.err == "\rSUCCESS 0.0s 1 poll · run fb34…b8b · D…\n"  # 39 characters


def test_a_failure_ends_the_live_line_before_the_error(
    api: respx.MockRouter,
    cli: Callable[..., Result],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_stderr_is_a_terminal(monkeypatch)
    api.get(OPS).respond(200, json=operation_json(sample, "FAILED"))
    result = cli("status", OPERATION_ID, "--wait")
    assert result.code == 6
    assert result.err.startswith("\rFAILED 0.0s 1 poll · operation df8c…f1a\n")
    assert result.err.split("\n")[1].startswith("aep-ais: OperationFailedError:")


class InterruptingClock(FakeClock):
    """A clock whose first sleep is interrupted, as by Ctrl-C."""

    async def sleep(self, seconds: float) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_while_waiting_exits_130_and_ends_the_line(
    api: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
    sample: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_stderr_is_a_terminal(monkeypatch)
    api.get(OPS).respond(200, json=operation_json(sample, "PROCESSING"))
    assert main(["status", OPERATION_ID, "--wait"], clock=InterruptingClock()) == 130
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "\rPROCESSING 0.0s 1 poll · operation df8c…f1a\n"
        f"aep-ais: interrupted; operation {OPERATION_ID} carries on at the platform, "
        f"resume the wait with `aep-ais status {OPERATION_ID} --wait`\n"
    )


def test_ctrl_c_before_the_first_poll_of_a_run_names_the_run_and_how_to_resume(
    api: respx.MockRouter, capsys: pytest.CaptureFixture[str], sample: Any
) -> None:
    api.get(RUNS).respond(200, json={"runs": []})
    started = api.post(RUNS).respond(200, json=sample("run_started"))
    argv = ["run", AUDIENCE_ID, "--since", "0", "--wait"]
    assert main(argv, clock=InterruptingClock()) == 130
    assert started.call_count == 1
    # Interrupted in the sleep before the first poll (an unmocked poll would fail).
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"aep-ais: interrupted; run {RUN_ID} of audience {AUDIENCE_ID} carries on at the "
        f"platform, resume the wait with `aep-ais run-status {AUDIENCE_ID} {RUN_ID} --wait`\n"
    )


def test_ctrl_c_before_the_first_poll_of_a_create_names_the_operation(
    api: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
    sample: Any,
    spec_file: Path,
) -> None:
    api.post("/external-audience/").respond(202, json=sample("create_response"))
    assert main(["create", str(spec_file), "--wait"], clock=InterruptingClock()) == 130
    err = capsys.readouterr().err
    assert err == (
        f"aep-ais: interrupted; operation {OPERATION_ID} carries on at the platform, "
        f"resume the wait with `aep-ais status {OPERATION_ID} --wait`\n"
    )


def test_ctrl_c_before_the_run_was_started_gives_the_command_that_starts_it(
    api: respx.MockRouter, capsys: pytest.CaptureFixture[str], sample: Any
) -> None:
    # Interrupted in the backoff after a 503 of the look for an active run: no run was
    # started, so there is nothing to resume, and the hint says how to start it.
    listing = api.get(RUNS).respond(503)
    argv = ["run", AUDIENCE_ID, "--since", "0", "--wait", "--sandbox", "dev"]
    assert main(argv, clock=InterruptingClock()) == 130
    assert listing.call_count == 1
    assert capsys.readouterr().err == (
        "aep-ais: interrupted; your run was not started: start it with "
        f"`aep-ais --sandbox dev run {AUDIENCE_ID} --since 1970-01-01T00:00:00Z --wait`\n"
    )


def test_json_output_is_clean_while_waiting(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).mock(
        side_effect=[
            httpx.Response(200, json=operation_json(sample, "PROCESSING")),
            httpx.Response(200, json=operation_json(sample, "SUCCESS")),
        ]
    )
    result = cli("status", OPERATION_ID, "--wait", "--json")
    assert result.json == sample("operation")
    assert len(result.err.splitlines()) == 2


def test_create_wait_polls_until_the_audience_exists(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, spec_file: Path
) -> None:
    api.post("/external-audience/").respond(202, json=sample("create_response"))
    api.get(OPS).mock(
        side_effect=[
            httpx.Response(200, json=operation_json(sample, "PROCESSING")),
            httpx.Response(200, json=operation_json(sample, "SUCCESS")),
        ]
    )
    result = cli("create", str(spec_file), "--wait", "--json")
    assert result.code == 0, result.err
    assert result.json["audienceId"] == AUDIENCE_ID
    assert result.err.splitlines()[-1].startswith("creating 'Sample external audience': SUCCESS")


def test_failed_run_exits_6_and_still_prints_its_last_state(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    failed = sample("run")
    failed["status"] = "FAILED"
    failed["details"][1]["status"] = "FAILED"
    api.get(RUN).respond(200, json=failed)
    result = cli("run-status", AUDIENCE_ID, RUN_ID, "--wait", "--json")
    assert result.code == 6
    assert result.json == failed
    lines = result.err.splitlines()
    assert lines[0] == f"run {RUN_ID}: FAILED, 0.0s, 1 poll [DATASET SUCCESS, PROFILE_STORE FAILED]"
    assert lines[1] == (
        f"aep-ais: RunFailedError: run {RUN_ID} of audience {AUDIENCE_ID} failed "
        "(DATASET_INGEST=SUCCESS, PROFILE_STORE_INGEST=FAILED)"
    )


def test_failed_operation_exits_6(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    api.get(OPS).respond(200, json=operation_json(sample, "FAILED"))
    result = cli("status", OPERATION_ID, "--wait")
    assert result.code == 6
    assert "status       FAILED" in result.out
    assert result.err.splitlines()[-1].startswith(
        f"aep-ais: OperationFailedError: operation {OPERATION_ID} failed"
    )


def test_wait_timeout_exits_7_with_a_resume_command(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, clock: FakeClock
) -> None:
    route = api.get(OPS).respond(200, json=operation_json(sample, "PROCESSING"))
    result = cli("status", OPERATION_ID, "--wait", "--wait-timeout", "3")
    assert result.code == 7
    assert result.err.splitlines()[-1] == (
        f"aep-ais: WaitTimeoutError: operation {OPERATION_ID} still PROCESSING after 3s; "
        f"resume with `aep-ais status {OPERATION_ID} --wait`"
    )
    assert clock.now() <= 3.0
    assert route.call_count == 3  # at 0, 1.0 and 2.2 s; the next would pass the deadline

    run_route = api.get(RUN).respond(200, json={**sample("run"), "status": "QUEUED"})
    result = cli("run-status", AUDIENCE_ID, RUN_ID, "--wait", "--wait-timeout", "0.5")
    assert result.code == 7
    assert f"resume with `aep-ais run-status {AUDIENCE_ID} {RUN_ID} --wait`" in result.err
    assert run_route.call_count == 1


def test_ctrl_c_while_another_run_is_waited_out_never_names_that_run(
    api: respx.MockRouter, capsys: pytest.CaptureFixture[str], sample: Any
) -> None:
    # Issue 11 item 7: another caller's run is active; the command waits for it first.
    # A Ctrl-C then must not offer to resume that run: the user's own was never started.
    other = {**sample("run"), "runId": "other-run", "status": "PROCESSING"}
    api.get(RUNS).respond(200, json={"runs": [other]})
    api.get(f"{RUNS}/other-run").respond(200, json=other)
    argv = ["run", AUDIENCE_ID, "--since", "0", "--wait", "--sandbox", "dev"]
    assert main(argv, clock=InterruptingClock()) == 130  # no start: respx has no route for it
    err = capsys.readouterr().err
    assert "other-run" not in err.splitlines()[-1]
    assert err.splitlines()[-1] == (
        "aep-ais: interrupted; your run was not started: start it with "
        f"`aep-ais --sandbox dev run {AUDIENCE_ID} --since 1970-01-01T00:00:00Z --wait`"
    )


def test_the_log_says_which_run_it_watches_and_when_it_moves_to_the_users_own(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    # Issue 11 item 9: the other caller's run ends, the user's own starts; polls restart.
    other = {**sample("run"), "runId": "other-run", "status": "PROCESSING"}
    api.get(RUNS).mock(
        side_effect=[
            httpx.Response(200, json={"runs": [other]}),
            httpx.Response(200, json={"runs": [{**other, "status": "SUCCESS"}]}),
        ]
    )
    api.get(f"{RUNS}/other-run").mock(
        side_effect=[
            httpx.Response(200, json=other),
            httpx.Response(200, json={**other, "status": "SUCCESS"}),
        ]
    )
    api.post(RUNS).respond(200, json=sample("run_started"))
    api.get(RUN).respond(200, json=sample("run"))
    result = cli("run", AUDIENCE_ID, "--since", "0", "--wait")
    assert result.code == 0, result.err
    lines = result.err.splitlines()
    what = f"run of audience {AUDIENCE_ID}"
    assert lines[0] == (
        f"{what}: watching run other-run (another caller's run; yours starts when it ends)"
    )
    moved = lines.index(f"{what}: now watching run {RUN_ID} (yours)")
    assert lines[moved + 1].startswith(f"{what}: SUCCESS, 0.0s, 1 poll")


def test_printed_commands_carry_the_global_options(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any, tmp_path: Path
) -> None:
    # Issue 11 item 8: "follow it with" and the exit-7 message keep --sandbox, --base-url.
    api.post(RUNS).respond(200, json=sample("run_started"))
    result = cli("run", AUDIENCE_ID, "--since", "0", "--sandbox", "dev")
    assert result.code == 0, result.err
    assert result.err == (
        f"follow it with: aep-ais --sandbox dev run-status {AUDIENCE_ID} {RUN_ID} --wait\n"
    )
    api.get(OPS).respond(200, json=operation_json(sample, "PROCESSING"))
    result = cli("status", OPERATION_ID, "--wait", "--wait-timeout", "1", "--org-id", "O@AdobeOrg")
    assert result.code == 7
    assert result.err.splitlines()[-1].endswith(
        f"resume with `aep-ais --org-id O@AdobeOrg status {OPERATION_ID} --wait`"
    )


def test_failed_states_exit_6_whether_waited_for_or_not(
    api: respx.MockRouter, cli: Callable[..., Result], sample: Any
) -> None:
    # Issue 15 item 5: one rule, documented: a command showing a FAILED state exits 6.
    failed = {**sample("run"), "status": "FAILED"}
    api.get(RUN).respond(200, json=failed)
    api.get(OPS).respond(200, json=operation_json(sample, "FAILED"))
    for args in (("run-status", AUDIENCE_ID, RUN_ID), ("status", OPERATION_ID)):
        without, waited = cli(*args), cli(*args, "--wait")
        assert without.code == waited.code == 6
        assert without.out == waited.out
