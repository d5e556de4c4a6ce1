"""`aep-ais create-many` and `aep-ais run-many` on the in-process emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Result


def _body(sample: Callable[[str], Any], i: int) -> dict[str, Any]:
    body = sample("create_request")
    body["name"] = f"bulk-{i}"
    body.pop("customAudienceId", None)
    return dict(body)


def _lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.out.splitlines()]


def test_create_many_from_json_lines(
    cli: Callable[..., Result], tmp_path: Path, sample: Callable[[str], Any]
) -> None:
    source = tmp_path / "specs.jsonl"
    source.write_text("\n".join(json.dumps(_body(sample, i)) for i in range(3)) + "\n")
    result = cli("--emulator", "create-many", str(source), "--concurrency", "2")
    assert result.code == 0, result.err
    lines = sorted(_lines(result), key=lambda line: line["index"])
    assert [line["index"] for line in lines] == [0, 1, 2]
    assert all(line["ok"] and line["result"]["status"] == "SUCCESS" for line in lines)
    assert lines[0]["input"] == {"name": "bulk-0"}
    assert "3/3 done, 0 failed, 0 quota-skipped, 0 in flight" in result.err


def test_create_many_from_a_folder_with_a_journal(
    cli: Callable[..., Result], tmp_path: Path, sample: Callable[[str], Any]
) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    for i in range(2):
        (folder / f"{i}.json").write_text(json.dumps(_body(sample, i)))
    journal = tmp_path / "j.jsonl"
    result = cli("--emulator", "create-many", str(folder), "--journal", str(journal))
    assert result.code == 0, result.err
    # The rerun answers from the journal (the in-process emulator forgot everything).
    again = cli("--emulator", "create-many", str(folder), "--journal", str(journal))
    assert again.code == 0, again.err
    key = lambda line: line["index"]  # noqa: E731
    assert sorted(_lines(again), key=key) == sorted(_lines(result), key=key)


def test_run_many_reports_each_item_and_exits_9_when_some_failed(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("# audiences\naud-1\nother-sandbox aud-2\n\n")
    result = cli("--emulator", "run-many", "--ids-from", str(ids), "--since", "2025-05-01")
    assert result.code == 9
    lines = sorted(_lines(result), key=lambda line: line["index"])
    assert [line["input"] for line in lines] == [
        "aud-1",
        {"sandbox": "other-sandbox", "item": "aud-2"},
    ]
    assert all(line["error"]["type"] == "NotFoundError" for line in lines)
    assert "2 of 2 items failed" in result.err.splitlines()[-1]


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "no audience ids"), ("a b c\n", "line 1: expected AUDIENCE_ID or SANDBOX AUDIENCE_ID")],
)
def test_run_many_refuses_a_bad_ids_file(
    cli: Callable[..., Result], tmp_path: Path, content: str, message: str
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text(content)
    result = cli("--emulator", "run-many", "--ids-from", str(ids), "--since", "2025-05-01")
    assert result.code == 2
    assert message in result.err


def test_create_many_names_the_bad_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    source = tmp_path / "specs.jsonl"
    source.write_text('{"name": "x"}\n')
    result = cli("--emulator", "create-many", str(source))
    assert result.code == 2
    assert "specs.jsonl line 1:" in result.err


def test_an_unusable_journal_stops_before_anything_is_sent(
    cli: Callable[..., Result], tmp_path: Path, sample: Callable[[str], Any]
) -> None:
    source = tmp_path / "specs.jsonl"
    source.write_text(json.dumps(_body(sample, 1)) + "\n")
    result = cli("--emulator", "create-many", str(source), "--journal", str(tmp_path))
    assert result.code == 2
    assert "JournalError: cannot open the journal" in result.err
    assert result.out == ""
