"""CI must not pass with the Airflow tests skipped: `AEP_AIS_REQUIRE_AIRFLOW=1` (set by
`.ci/run`) turns a skip under tests/airflow into a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("airflow")


def test_a_skipped_airflow_test_fails_when_airflow_is_required(tmp_path: Path) -> None:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\n\ndef test_probe():\n    pytest.skip('as if Airflow were missing')\n"
    )
    env = {**os.environ, "AEP_AIS_REQUIRE_AIRFLOW": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "1 failed" in done.stdout, done.stdout + done.stderr
    assert "skipped, but AEP_AIS_REQUIRE_AIRFLOW=1" in done.stdout
