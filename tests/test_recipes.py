"""The recipes of the documentation (`examples/recipes/*.py`), run against the emulator.

Each recipe is a complete file, loaded here as it is and driven as its engine would drive
it, on the emulator and virtual time. The engines, and how they are present here:

- FastAPI: the real package (extra `test`), through its ASGI test client.
- Celery: the real package, in eager mode (`task_always_eager`): tasks run in the caller.
- Temporal: the real `temporalio`; its activities run in
  `temporalio.testing.ActivityEnvironment` (the test server would download a binary).
- Prefect: a STUB of its `flow`/`task` API (`tests/stubs/prefect`), because installing
  Prefect (a large tree and an API server) would push CI past its time budget; the stub is
  used only when the real package is not importable.
- Airflow: NOT run here. `docs/recipes/airflow.md` describes the provider
  (`aep_ais.airflow`), whose own tests (tests/airflow) run its example DAG.
- The many-sandboxes script: plain asyncio, nothing to install.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import re
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "examples" / "recipes"
STUBS = Path(__file__).resolve().parent / "stubs"
DOCS = ROOT / "docs" / "recipes"

ORG_ID = "recipes@AdobeOrg"


def load(name: str) -> ModuleType:
    """Import `examples/recipes/<name>.py` as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def wall(clock: FakeClock, seconds: float = 0.0) -> datetime:
    return datetime.fromtimestamp(clock.time() + seconds, tz=UTC)


def client_on(emulator: Emulator, clock: FakeClock, sandbox: str = "prod") -> aep_ais.AISClient:
    return aep_ais.AISClient(
        org_id=ORG_ID,
        sandbox=sandbox,
        auth=aep_ais.StaticToken("recipes-token"),
        api_key="recipes-key",
        transport=emulator.transport(),
        clock=clock,
    )


def spec(name: str = "Recipe audience") -> aep_ais.AudienceSpec:
    return aep_ais.AudienceSpec(
        name=name,
        fields=[aep_ais.AudienceField(name="email", type="string", identity_ns="email")],
        source_spec=aep_ais.SourceSpec(path="recipes/audience.csv", cloud_type="DLZ"),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(fixed_random=0.5)


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return Emulator(clock=clock, operation_time=20, run_time=90)


@pytest.fixture
async def ais(emulator: Emulator, clock: FakeClock) -> AsyncIterator[aep_ais.AISClient]:
    async with client_on(emulator, clock) as client:
        yield client


@pytest.fixture
async def audience_id(ais: aep_ais.AISClient) -> str:
    operation = await ais.create_and_wait(spec())
    assert operation.audience_id is not None
    return operation.audience_id


# Every recipe page shows a recipe file, and every recipe file has a page ------------------


def test_every_recipe_page_includes_a_recipe_file_that_exists() -> None:
    shown: set[str] = set()
    for page in sorted(DOCS.glob("*.md")):
        included = re.findall(r'^--8<-- "([^"]+)"$', page.read_text(), flags=re.M)
        for path in included:
            assert (ROOT / path).is_file(), f"{page.name}: {path} does not exist"
        shown |= set(included)
    on_disk = {str(p.relative_to(ROOT)) for p in RECIPES.glob("*.py")}
    assert on_disk <= shown, f"recipes without a page: {on_disk - shown}"


# Temporal ----------------------------------------------------------------------------------


@pytest.fixture
def temporal() -> ModuleType:
    return load("temporal_activities")


def activity_env(scheduled: datetime, attempt: int = 1) -> Any:
    from temporalio.testing import ActivityEnvironment

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, scheduled_time=scheduled, attempt=attempt)
    return env


async def test_temporal_start_then_wait_with_heartbeats(
    temporal: ModuleType, ais: aep_ais.AISClient, audience_id: str, clock: FakeClock
) -> None:
    activities = temporal.AudienceActivities(ais)
    env = activity_env(wall(clock))
    started = await env.run(activities.start_run, audience_id, 0)
    # What the activity returns is JSON, as Temporal's converter will store it.
    assert started["run"]["status"] != "SUCCESS"
    heartbeats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: heartbeats.append(details)
    ended = await env.run(activities.wait_for_run, started, wall(clock, 3600).timestamp())
    run = aep_ais.from_dict(aep_ais.IngestionRun, ended)
    assert run.status == aep_ais.RunStatus.SUCCESS
    assert run.run_id == started["run"]["runId"]
    assert heartbeats and heartbeats[-1] == ("SUCCESS",)


async def test_temporal_a_retried_start_gets_the_first_attempts_run(
    temporal: ModuleType,
    ais: aep_ais.AISClient,
    audience_id: str,
    clock: FakeClock,
    emulator: Emulator,
) -> None:
    activities = temporal.AudienceActivities(ais)
    first_scheduled = wall(clock)
    first = await activity_env(first_scheduled).run(activities.start_run, audience_id, 0)
    # The worker died before Temporal recorded the result; attempt 2, another worker.
    async with client_on(emulator, clock) as other:
        retry = temporal.AudienceActivities(other)
        second = await activity_env(first_scheduled, attempt=2).run(retry.start_run, audience_id, 0)
    assert second["run"]["runId"] == first["run"]["runId"]
    assert emulator.start_attempts[audience_id] == 1


async def test_temporal_a_wait_past_its_deadline_is_retryable(
    temporal: ModuleType, ais: aep_ais.AISClient, audience_id: str, clock: FakeClock
) -> None:
    from temporalio.exceptions import ApplicationError

    activities = temporal.AudienceActivities(ais)
    env = activity_env(wall(clock))
    started = await env.run(activities.start_run, audience_id, 0)
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.wait_for_run, started, wall(clock, 30).timestamp())
    assert caught.value.type == "WaitTimeoutError"
    assert not caught.value.non_retryable


async def test_temporal_a_failed_run_is_not_retried(temporal: ModuleType, clock: FakeClock) -> None:
    from temporalio.exceptions import ApplicationError

    emulator = Emulator(
        clock=clock, operation_time=20, run_time=90, failing_runs=["recipes/audience.csv"]
    )
    async with client_on(emulator, clock) as ais:
        audience = (await ais.create_and_wait(spec())).audience_id
        activities = temporal.AudienceActivities(ais)
        env = activity_env(wall(clock))
        started = await env.run(activities.start_run, audience, 0)
        with pytest.raises(ApplicationError) as caught:
            await env.run(activities.wait_for_run, started, wall(clock, 3600).timestamp())
    assert caught.value.type == "RunFailedError"
    assert caught.value.non_retryable


def test_temporal_the_workflow_is_a_valid_definition(temporal: ModuleType) -> None:
    from temporalio.workflow import _Definition

    definition = _Definition.must_from_class(temporal.AudienceRunWorkflow)
    assert definition.name == "AudienceRunWorkflow"


# Celery (eager mode: a task and its retries run in the caller) ------------------------------


@pytest.fixture
def celery_recipe(emulator: Emulator, clock: FakeClock) -> Iterator[ModuleType]:
    module = load("celery_tasks")
    module.app.conf.task_always_eager = True
    # Errors are kept in the result (`.get()` raises them), so retries run as in a worker.
    module.app.conf.task_eager_propagates = False
    # Each task opens its client inside its own `asyncio.run`; here, on the emulator.
    module.app.conf.aep_client_factory = lambda: client_on(emulator, clock)
    yield module


async def _audience_on(emulator: Emulator, clock: FakeClock) -> str:
    async with client_on(emulator, clock) as ais:
        audience = (await ais.create_and_wait(spec())).audience_id
    assert audience is not None
    return audience


def test_celery_start_then_wait(
    celery_recipe: ModuleType, emulator: Emulator, clock: FakeClock
) -> None:
    audience = asyncio.run(_audience_on(emulator, clock))
    now = clock.time()
    started = celery_recipe.start_run.delay(audience, 0, now).get()
    assert started["run"]["status"] != "SUCCESS"
    ended = celery_recipe.wait_for_run.delay(started, now + 3600).get()
    assert ended["status"] == "SUCCESS" and ended["runId"] == started["run"]["runId"]


def test_celery_the_chain_runs_start_and_wait(
    celery_recipe: ModuleType, emulator: Emulator
) -> None:
    audience = asyncio.run(_audience_on(emulator, emulator.clock))  # type: ignore[arg-type]
    ended = celery_recipe.refresh_audience(audience, 0).apply().get()
    assert ended["status"] == "SUCCESS"
    assert emulator.start_attempts[audience] == 1


def test_celery_a_wait_longer_than_its_hold_retries_itself(
    celery_recipe: ModuleType, emulator: Emulator, clock: FakeClock
) -> None:
    audience = asyncio.run(_audience_on(emulator, clock))
    now = clock.time()
    started = celery_recipe.start_run.delay(audience, 0, now).get()
    opened: list[aep_ais.AISClient] = []

    def factory() -> aep_ais.AISClient:
        opened.append(client_on(emulator, clock))
        return opened[-1]

    celery_recipe.app.conf.aep_client_factory = factory
    # The run takes 90 s; each try holds the worker 20 s at most.
    ended = celery_recipe.wait_for_run.delay(started, now + 3600, hold=20).get()
    assert ended["status"] == "SUCCESS"
    assert len(opened) >= 4  # one client per try of the task


def test_celery_a_retried_start_gets_its_first_run(
    celery_recipe: ModuleType, emulator: Emulator, clock: FakeClock
) -> None:
    audience = asyncio.run(_audience_on(emulator, clock))
    first_try = clock.time()
    first = celery_recipe.start_run.delay(audience, 0, first_try).get()
    again = celery_recipe.start_run.delay(audience, 0, first_try).get()
    assert again["run"]["runId"] == first["run"]["runId"]
    assert emulator.start_attempts[audience] == 1


def test_celery_a_wait_past_the_chains_deadline_fails(
    celery_recipe: ModuleType, emulator: Emulator, clock: FakeClock
) -> None:
    audience = asyncio.run(_audience_on(emulator, clock))
    now = clock.time()
    started = celery_recipe.start_run.delay(audience, 0, now).get()
    with pytest.raises(aep_ais.WaitTimeoutError) as caught:
        celery_recipe.wait_for_run.delay(started, now + 30, hold=600).get()
    assert caught.value.run_id == started["run"]["runId"]


# FastAPI (the real package, through httpx's ASGI transport; lifespan run by the test) ----


@pytest.fixture
async def service(emulator: Emulator, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    module = load("fastapi_service")
    app = module.create_app(lambda: client_on(emulator, clock))
    # httpx's ASGI transport does not run the lifespan; the app's own context does.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            yield http


async def test_fastapi_starts_a_run_and_reports_its_progress(
    service: httpx.AsyncClient, emulator: Emulator, clock: FakeClock, audience_id: str
) -> None:
    window = {"data_filter_start_time": "2025-06-01T00:00:00Z"}
    started = await service.post(f"/audiences/{audience_id}/runs", json=window)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    assert started.json()["done"] is False

    # Another request while the run is going: refused, naming the active run.
    again = await service.post(f"/audiences/{audience_id}/runs", json=window)
    assert again.status_code == 409
    assert again.json()["active_run_id"] == run_id

    seen = []
    for _ in range(10):  # bounded: the run takes 90 s of virtual time
        progress = (await service.get(f"/audiences/{audience_id}/runs/{run_id}")).json()
        seen.append(progress["status"])
        if progress["done"]:
            break
        clock.advance(15)
    assert progress["status"] == "SUCCESS" and progress["stages"]
    assert len(set(seen)) > 1  # progress was seen, not only the end
    assert emulator.start_attempts[audience_id] == 1


async def test_fastapi_maps_sdk_errors_to_statuses(
    service: httpx.AsyncClient, audience_id: str
) -> None:
    window = {"data_filter_start_time": "2025-06-01T00:00:00Z"}
    missing = await service.post("/audiences/no-such-audience/runs", json=window)
    assert missing.status_code == 404
    bad_id = await service.get("/audiences/a%20b/runs/r1")
    assert bad_id.status_code == 422
    backwards = {**window, "data_filter_end_time": "2025-05-01T00:00:00Z"}
    answer = await service.post(f"/audiences/{audience_id}/runs", json=backwards)
    assert answer.status_code == 422


# Prefect (a stub of its API unless the real package is installed: see tests/stubs) -------


@pytest.fixture
def prefect_recipe(
    emulator: Emulator, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    try:
        import prefect
    except ImportError:
        monkeypatch.syspath_prepend(str(STUBS))
        import prefect
    if Path(prefect.__file__ or "").is_relative_to(STUBS):
        # The stub schedules flow runs on the emulator's virtual wall clock.
        monkeypatch.setattr(prefect, "now", lambda: wall(clock))
    module = load("prefect_flow")
    monkeypatch.setattr(module, "open_client", lambda: client_on(emulator, clock))
    return module


async def test_prefect_the_flow_starts_and_waits(
    prefect_recipe: ModuleType, emulator: Emulator, audience_id: str
) -> None:
    ended = await prefect_recipe.refresh_audience(audience_id)
    assert ended["status"] == "SUCCESS"
    assert emulator.start_attempts[audience_id] == 1


async def test_prefect_a_retried_start_gets_its_first_run(
    prefect_recipe: ModuleType, emulator: Emulator, clock: FakeClock, audience_id: str
) -> None:
    first_try = wall(clock)
    first = await prefect_recipe.start_run(audience_id, 0, first_try)
    again = await prefect_recipe.start_run(audience_id, 0, first_try)
    assert again["run"]["runId"] == first["run"]["runId"]
    assert emulator.start_attempts[audience_id] == 1


async def test_prefect_retries_only_retryable_errors(
    prefect_recipe: ModuleType, clock: FakeClock
) -> None:
    if not hasattr(prefect_recipe.wait_for_run, "attempts"):
        pytest.skip("counts attempts with the stub only")
    emulator = Emulator(clock=clock, operation_time=20, run_time=90)
    prefect_recipe.open_client = lambda: client_on(emulator, clock)
    with pytest.raises(aep_ais.NotFoundError):
        await prefect_recipe.start_run("no-such-audience", 0, wall(clock))
    assert prefect_recipe.start_run.attempts == 1  # not retryable: one try
    async with client_on(emulator, clock) as ais:
        audience = (await ais.create_and_wait(spec())).audience_id
        run = await ais.ensure_run(audience, data_filter_start_time=0)
    started = {"audience_id": audience, "run": aep_ais.to_dict(run)}
    with pytest.raises(aep_ais.WaitTimeoutError):
        await prefect_recipe.wait_for_run(started, wall(clock, 10))
    assert prefect_recipe.wait_for_run.attempts == 1 + prefect_recipe.wait_for_run.retries


def test_prefect_the_retry_condition_reads_retryable(prefect_recipe: ModuleType) -> None:
    class Failed:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def result(self) -> None:
            raise self.exc

    condition = prefect_recipe.retry_if_retryable
    assert condition(None, None, Failed(aep_ais.RunInProgressError("a1"))) is False
    assert condition(None, None, Failed(aep_ais.WaitTimeoutError("run", timeout=1))) is True
    assert condition(None, None, Failed(RuntimeError("worker died"))) is True


# Many sandboxes (plain asyncio) -----------------------------------------------------------


async def test_many_sandboxes_runs_each_sandbox_with_its_own_view(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    recipe = load("many_sandboxes")
    plan: dict[str, list[str]] = {}
    for sandbox in ("prod", "dev"):
        async with client_on(emulator, clock, sandbox=sandbox) as ais:
            ids = [
                (await ais.create_and_wait(spec(f"{sandbox} {i}"))).audience_id for i in range(3)
            ]
        plan[sandbox] = [i for i in ids if i is not None]
    # An audience of prod is not one of dev: it fails there, and only there.
    plan["dev"].append(plan["prod"][0])
    async with client_on(emulator, clock) as ais:
        results = await recipe.refresh_all(ais, plan, wall(clock, -3600), tmp_path, concurrency=2)
    assert [r.ok for r in results["prod"]] == [True, True, True]
    assert [r.ok for r in results["dev"]] == [True, True, True, False]
    assert isinstance(results["dev"][-1].error, aep_ais.NotFoundError)
    lines = recipe.summary(results)
    assert lines[0] == f"prod/{plan['prod'][0]}: SUCCESS"
    assert lines[-1].startswith(f"dev/{plan['prod'][0]}: NotFoundError")
    assert (tmp_path / "dev.jsonl").is_file() and (tmp_path / "prod.jsonl").is_file()


async def test_many_sandboxes_a_rerun_resumes_from_the_journals(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    recipe = load("many_sandboxes")
    async with client_on(emulator, clock, sandbox="dev") as ais:
        audience = (await ais.create_and_wait(spec())).audience_id
    assert audience is not None
    plan = {"dev": [audience]}
    since = wall(clock, -3600)
    async with client_on(emulator, clock) as ais:
        first = await recipe.refresh_all(ais, plan, since, tmp_path)
    # The script is run again (say, after a crash): nothing is started twice.
    async with client_on(emulator, clock) as ais:
        again = await recipe.refresh_all(ais, plan, since, tmp_path)
    assert again["dev"][0].value.run_id == first["dev"][0].value.run_id
    assert emulator.start_attempts[audience] == 1
