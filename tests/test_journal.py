"""The bulk journal (`_journal.py`) and journaled items (`_resume.py`), without a client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aep_ais import (
    AnswerLostError,
    APIConnectionError,
    EarlierFailureError,
    IngestionRun,
    JournalError,
    Operation,
    QuotaExceededError,
    RunFailedError,
    to_dict,
)
from aep_ais._journal import Journal, batch_digest
from aep_ais._resume import journaled_create, journaled_run

T0 = 1_750_000_000.0


def _open(path: Path, batch: str = "b1", items: int = 3) -> Journal:
    return Journal.open(path, kind="run_many", batch=batch, items=items)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_digest_depends_on_inputs_settings_and_order() -> None:
    base = batch_digest("run_many", {"since": 1}, ["a", "b"])
    assert base == batch_digest("run_many", {"since": 1}, ["a", "b"])
    assert base != batch_digest("run_many", {"since": 1}, ["b", "a"])
    assert base != batch_digest("run_many", {"since": 2}, ["a", "b"])
    assert base != batch_digest("create_many", {"since": 1}, ["a", "b"])


def test_records_are_read_back(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with _open(path) as journal:
        journal.write(0, "intent", at=T0)
        journal.write(0, "started", run_id="r0")
        journal.write(1, "intent", at=T0)
        journal.write(1, "ok", value={"runId": "r1"})
    with _open(path) as journal:
        assert journal.state(0).intent_at == T0
        assert journal.state(0).ids == {"run_id": "r0"}
        assert not journal.state(0).finished
        assert journal.state(1).value == {"runId": "r1"}
        assert journal.state(2).intent_at is None
    assert _lines(path)[0] == {"aep_ais_journal": 1, "kind": "run_many", "batch": "b1", "items": 3}


def test_a_torn_last_line_is_ignored_and_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with _open(path) as journal:
        journal.write(0, "intent", at=T0)
    with path.open("a") as f:
        f.write('{"i": 0, "e": "ok", "value": {"run')  # killed mid-write
    with _open(path) as journal:
        assert not journal.state(0).finished
        journal.write(0, "started", run_id="r0")
    assert [r.get("e") for r in _lines(path)[1:]] == ["intent", "started"]


def test_a_journal_of_another_batch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    _open(path, batch="b1").close()
    with pytest.raises(JournalError, match="another batch"):
        _open(path, batch="b2")


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(JournalError, match="line 1 is not a journal record"):
        _open(path)


def test_a_read_only_path_is_refused(tmp_path: Path) -> None:
    # Root writes past file modes, so as root (as CI runs) the read-only place is sysfs,
    # where nobody may create a file; otherwise a folder without write permission.
    if os.geteuid() == 0:
        path = Path("/sys/aep-ais-journal.jsonl")
    else:
        tmp_path.chmod(0o500)
        path = tmp_path / "j.jsonl"
    try:
        with pytest.raises(JournalError, match="cannot open the journal"):
            _open(path)
    finally:
        tmp_path.chmod(0o700)
    assert not path.exists()


def test_a_folder_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open the journal"):
        _open(tmp_path)


def test_a_path_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open the journal"):
        _open(tmp_path / "no" / "such" / "j.jsonl")


def test_a_second_process_is_refused_while_one_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    code = (
        "import sys\n"
        "from aep_ais._journal import Journal\n"
        "from aep_ais import JournalError\n"
        "try:\n"
        f"    Journal.open({str(path)!r}, kind='run_many', batch='b1', items=3)\n"
        "except JournalError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    with _open(path):
        held = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert held.returncode == 3
    assert "in use by another process" in held.stdout
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert free.returncode == 0, free.stderr


# Journaled items -----------------------------------------------------------------------

WINDOW = (1_749_000_000, None)


def _run(run_id: str, *, at: float = T0 + 1, status: str | None = "SUCCESS") -> IngestionRun:
    return IngestionRun(
        run_id=run_id,
        audience_id="a",
        status=status,
        data_filter_start_time=datetime.fromtimestamp(WINDOW[0], tz=UTC),
        created_at=datetime.fromtimestamp(at, tz=UTC),
    )


class Calls:
    """Records what a journaled item sends."""

    def __init__(self, listed: list[IngestionRun] | None = None) -> None:
        self.sent: list[str] = []
        self.listed = listed or []

    async def run(self, on_status: object) -> IngestionRun:
        self.sent.append("start")
        run = _run("new")
        on_status(run)  # type: ignore[operator]
        return run

    async def resume(self, run_id: str) -> IngestionRun:
        self.sent.append(f"wait {run_id}")
        return _run(run_id)

    async def list_runs(self) -> list[IngestionRun]:
        self.sent.append("list")
        return self.listed


async def _item(journal: Journal, calls: Calls, index: int = 0) -> IngestionRun:
    return await journaled_run(
        journal,
        index,
        window=WINDOW,
        run=calls.run,
        resume=calls.resume,
        list_runs=calls.list_runs,
        now=lambda: T0,
    )


async def test_a_fresh_run_item_writes_intent_started_and_outcome(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    calls = Calls()
    with _open(path) as journal:
        run = await _item(journal, calls)
    assert run.run_id == "new" and calls.sent == ["start"]
    assert [r["e"] for r in _lines(path)[1:]] == ["intent", "started", "ok"]
    # A rerun returns it without a request.
    calls = Calls()
    with _open(path) as journal:
        again = await _item(journal, calls)
    assert again == run and calls.sent == []


async def test_a_started_run_is_resumed_from_its_id(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with _open(path) as journal:
        journal.write(0, "intent", at=T0)
        journal.write(0, "started", run_id="r9")
    calls = Calls()
    with _open(path) as journal:
        assert (await _item(journal, calls)).run_id == "r9"
    assert calls.sent == ["wait r9"]


async def test_a_start_whose_answer_was_lost_is_found_not_sent_again(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with _open(path) as journal:
        journal.write(0, "intent", at=T0)
    # The listing shows an older run of the same window (not ours) and ours.
    calls = Calls(listed=[_run("ours", at=T0 + 2), _run("older", at=T0 - 3600)])
    with _open(path) as journal:
        assert (await _item(journal, calls)).run_id == "ours"
    assert calls.sent == ["list", "wait ours"]


async def test_a_start_that_never_took_effect_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with _open(path) as journal:
        journal.write(0, "intent", at=T0)
    calls = Calls(listed=[_run("older", at=T0 - 3600)])
    with _open(path) as journal:
        assert (await _item(journal, calls)).run_id == "new"
    assert calls.sent == ["list", "start"]


async def test_failures_for_good_stay_failures_and_retryable_ones_are_tried_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.jsonl"

    async def failed(on_status: object) -> IngestionRun:
        raise RunFailedError(_run("bad", status="FAILED"))

    async def skipped(on_status: object) -> IngestionRun:
        raise QuotaExceededError("sandbox", limit=100, sandbox="s")

    with _open(path) as journal:
        for index, work in ((0, failed), (1, skipped)):
            with pytest.raises((RunFailedError, QuotaExceededError)):
                await journaled_run(
                    journal,
                    index,
                    window=WINDOW,
                    run=work,
                    resume=Calls().resume,
                    list_runs=Calls().list_runs,
                    now=lambda: T0,
                )
    calls = Calls()
    with _open(path) as journal:
        with pytest.raises(EarlierFailureError, match="RunFailedError"):
            await _item(journal, calls, 0)
        assert (await _item(journal, calls, 1)).run_id == "new"
    assert calls.sent == ["start"]  # the quota-skipped item was never sent: now it is


async def test_a_create_whose_answer_was_lost_is_reported_and_never_resent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.jsonl"
    sent: list[str] = []

    async def create() -> Operation:
        sent.append("create")
        raise APIConnectionError("connection lost", method="POST", path="/external-audience/")

    async def finish(op: Operation | str) -> Operation:
        sent.append("finish")
        return Operation(operation_id=op if isinstance(op, str) else op.operation_id)

    def item(journal: Journal, index: int) -> object:
        return journaled_create(journal, index, create=create, finish=finish, now=lambda: T0)

    journal = Journal.open(path, kind="create_many", batch="c", items=3)
    with journal:
        with pytest.raises(APIConnectionError):
            await item(journal, 0)  # type: ignore[misc]
        journal.write(1, "intent", at=T0)  # killed mid-request
        journal.write(2, "intent", at=T0)
        journal.write(2, "started", operation_id="op2")
    sent.clear()
    with Journal.open(path, kind="create_many", batch="c", items=3) as journal:
        for index in (0, 1):
            with pytest.raises(AnswerLostError) as caught:
                await item(journal, index)  # type: ignore[misc]
            assert caught.value.index == index and caught.value.server_may_have_acted
        op = await item(journal, 2)  # type: ignore[misc]
    assert op == Operation(operation_id="op2")
    assert sent == ["finish"]
    # A third run says the same, still without sending.
    with Journal.open(path, kind="create_many", batch="c", items=3) as journal:
        with pytest.raises((AnswerLostError, EarlierFailureError)):
            await item(journal, 1)  # type: ignore[misc]
        assert from_ok(journal, 2) == to_dict(op)
    assert sent == ["finish"]


def from_ok(journal: Journal, index: int) -> object:
    return journal.state(index).value
