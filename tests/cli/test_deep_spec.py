"""A spec file nested too deeply is a one-line CLI error, not a RecursionError traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Result, error_line


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_a_deeply_nested_spec_file_is_a_cli_error(
    cli: Callable[..., Result], tmp_path: Path, depth: int
) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"name": ' + "[" * depth + "]" * depth + "}", "utf-8")
    result = cli("create", str(path))
    assert result.code == 2
    assert error_line(result).startswith(f"aep-ais: spec file {path}: ")
