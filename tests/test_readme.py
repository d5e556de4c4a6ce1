"""The README's commands and examples are real: these tests run them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock
from tests.conftest import run_pytest_on

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_first_lines_give_the_demo_and_the_test_commands() -> None:
    head = "\n".join(README.read_text().splitlines()[:15])
    demo, tests = _blocks("sh")[:2]
    assert demo in head and tests in head
    assert demo.strip().endswith("aep-ais demo")
    assert "pytest" in tests
    # CI runs the same test command as the README gives.
    ci = (README.parent / ".ci" / "run").read_text()
    assert "-m pytest" in ci and '-e ".[test]"' in ci


async def test_the_usage_example_creates_and_ingests_on_the_emulator() -> None:
    usage = _blocks("python")[0]
    namespace: dict[str, Any] = {}
    exec(compile(usage, "README.md", "exec"), namespace)
    clock = FakeClock()
    emulator = Emulator(clock=clock, operation_time=20, run_time=90)
    async with aep_ais.AISClient(
        org_id="readme@AdobeOrg",
        auth=aep_ais.StaticToken("readme-token"),
        api_key="readme-key",
        transport=emulator.transport(),
        clock=clock,
    ) as ais:
        run = await namespace["refresh_buyers"](ais)
    assert run.status == aep_ais.RunStatus.SUCCESS
    [audience] = emulator.audiences.values()
    assert audience.name == "Spring buyers"
    assert run.audience_id == audience.audience_id


async def test_the_client_construction_example_builds_a_client() -> None:
    construction = _blocks("python")[1]
    namespace: dict[str, Any] = {}
    exec(compile(construction, "README.md", "exec"), namespace)
    ais = namespace["ais"]
    try:
        assert isinstance(ais, aep_ais.AISClient)
        assert ais.poll.timeout == 3600
        assert "my-secret" not in repr(ais.auth) + repr(ais)
    finally:
        await ais.aclose()


def test_the_emulator_fixture_example_passes_under_pytest(tmp_path: Path) -> None:
    fixture_example = _blocks("python")[2]
    (tmp_path / "test_example.py").write_text(fixture_example)
    result = run_pytest_on(tmp_path / "test_example.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


async def test_the_workflow_state_example_hands_a_run_on_as_json() -> None:
    [example] = [b for b in _blocks("python") if "aep_ais.to_dict(" in b and "ensure_run(" not in b]
    namespace: dict[str, Any] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    clock = FakeClock()
    emulator = Emulator(clock=clock, operation_time=20, run_time=90)
    async with aep_ais.AISClient(
        org_id="readme@AdobeOrg",
        auth=aep_ais.StaticToken("readme-token"),
        api_key="readme-key",
        transport=emulator.transport(),
        clock=clock,
    ) as ais:
        spec = aep_ais.AudienceSpec(
            name="Workflow buyers",
            fields=[aep_ais.AudienceField(name="email", type="string", identity_ns="email")],
            source_spec=aep_ais.SourceSpec(
                path="workflow/buyers.csv",
                source_type="Cloud Storage",
                cloud_type="DLZ",
            ),
        )
        op = await ais.create_and_wait(spec)
        assert op.audience_id is not None
        state = await namespace["start_step"](ais, op.audience_id, 1_749_000_000)
        run = await namespace["wait_step"](ais, state)
    assert run.status == aep_ais.RunStatus.SUCCESS
    assert run.run_id == json.loads(state)["run"]["runId"]


def test_the_tracing_setup_sends_the_sdks_spans_to_the_exporter() -> None:
    [setup] = [b for b in _blocks("python") if "def setup_tracing" in b]
    # In a child: a tracer provider can be set once per process.
    code = (
        setup
        + """
import anyio
import aep_ais
from aep_ais.testing import Emulator, FakeClock
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = setup_tracing(exporter)

async def main():
    clock = FakeClock()
    emulator = Emulator(clock=clock)
    async with aep_ais.AISClient(org_id="readme@AdobeOrg", auth=aep_ais.StaticToken("t"),
            api_key="k", transport=emulator.transport(), clock=clock) as ais:
        try:
            await ais.list_runs("a-1")
        except aep_ais.NotFoundError:
            pass

anyio.run(main)
provider.force_flush()
print(sorted(s.name for s in exporter.get_finished_spans()))
"""
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['GET', 'aep_ais.list_runs']"


async def test_the_hooks_example_counts_requests_and_retries() -> None:
    [example] = [b for b in _blocks("python") if "aep_ais_requests_total" in b]
    namespace: dict[str, Any] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    clock = FakeClock(fixed_random=0.5)
    emulator = Emulator(clock=clock)
    emulator.faults.script("GET /external-audience/x/runs", [503])
    async with aep_ais.AISClient(
        org_id="readme@AdobeOrg",
        auth=aep_ais.StaticToken("readme-token"),
        api_key="readme-key",
        transport=emulator.transport(),
        clock=clock,
        hooks=namespace["HOOKS"],
    ) as ais:
        with pytest.raises(aep_ais.NotFoundError):  # no such audience, after a 503
            await ais.list_runs("a-1")
    text = namespace["exposition"]()
    assert 'aep_ais_requests_total{method="GET",status="503"} 1' in text
    assert 'aep_ais_requests_total{method="GET",status="404"} 1' in text
    assert 'aep_ais_retries_total{reason="status 503"} 1' in text


async def test_the_workflow_steps_example_survives_a_crash_between_start_and_wait() -> None:
    [example] = [b for b in _blocks("python") if "ensure_run(" in b]
    namespace: dict[str, Any] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    clock = FakeClock()
    emulator = Emulator(clock=clock, operation_time=20, run_time=90)

    def client() -> aep_ais.AISClient:
        return aep_ais.AISClient(
            org_id="readme@AdobeOrg",
            auth=aep_ais.StaticToken("readme-token"),
            api_key="readme-key",
            transport=emulator.transport(),
            clock=clock,
        )

    async with client() as ais:
        spec = aep_ais.AudienceSpec(
            name="Workflow buyers",
            fields=[aep_ais.AudienceField(name="email", type="string", identity_ns="email")],
            source_spec=aep_ais.SourceSpec(path="workflow/buyers.csv", cloud_type="DLZ"),
        )
        audience_id = (await ais.create_and_wait(spec)).audience_id
        assert audience_id is not None
        first_try = datetime.fromtimestamp(clock.time(), tz=UTC)
        # The first try starts the run, then dies before it could save its state.
        lost = await namespace["start_step"](ais, audience_id, 1_749_000_000, first_try)
    clock.advance(30)
    async with client() as retry:
        # The retry, in another process, gets the same run back and waits for it.
        state = await namespace["start_step"](retry, audience_id, 1_749_000_000, first_try)
        assert json.loads(state)["run"]["runId"] == json.loads(lost)["run"]["runId"]
        run = await namespace["wait_step"](retry, state)
    assert run.status == aep_ais.RunStatus.SUCCESS
    assert emulator.start_attempts[audience_id] == 1
