"""The layers of DESIGN.md's architecture are a checked contract (import-linter).

`.ci/run` runs `lint-imports`; this test runs the same contracts with the suite, so a
module that imports one above it (even only for type checking) fails here too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_no_module_imports_one_above_it() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        found = shutil.which("lint-imports")
        if found is None:
            pytest.skip("import-linter is not installed (the `test` extra has it)")
        lint = Path(found)
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
