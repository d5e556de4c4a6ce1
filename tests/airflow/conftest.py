"""Fixtures for the Airflow provider's tests, and the guard that they really run in CI.

These tests need the `airflow` extra (the `test` extra pulls it in). Without Airflow each
module skips itself; with `AEP_AIS_REQUIRE_AIRFLOW=1` (set by `.ci/run`) a missing Airflow
is a collection error and any skipped test here fails the run instead.
"""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRED = os.environ.get("AEP_AIS_REQUIRE_AIRFLOW") == "1"

if "AIRFLOW_HOME" not in os.environ:
    # Importing Airflow writes config and log folders into AIRFLOW_HOME (~/airflow by
    # default): keep them out of the user's home.
    _home = tempfile.mkdtemp(prefix="aep-ais-airflow-")
    os.environ["AIRFLOW_HOME"] = _home
    atexit.register(shutil.rmtree, _home, ignore_errors=True)

if REQUIRED and importlib.util.find_spec("airflow") is None:
    raise pytest.UsageError("AEP_AIS_REQUIRE_AIRFLOW=1 but Airflow is not installed")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if REQUIRED and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped, but AEP_AIS_REQUIRE_AIRFLOW=1: {report.longrepr}"


def connection_json(**fields: Any) -> str:
    """An `AIRFLOW_CONN_*` value (Airflow's JSON form) for an `aep_ais` connection."""
    return json.dumps({"conn_type": "aep_ais", **fields})


ORG_ID = "0123456789ABCDEF01234567@AdobeOrg"
FAILING_PATH = "activation/failing/buyers.csv"


_CLIENTS = itertools.count()


class Recorder:
    """An httpx transport in front of the emulator that notes when each request went out."""

    def __init__(self, inner: Any, clock: Any) -> None:
        self.inner = inner
        self.clock = clock
        self.sent: list[tuple[float, str, str]] = []

    async def handle_async_request(self, request: Any) -> Any:
        self.sent.append((self.clock.time(), request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class EmulatedAEP:
    """An emulator on a `FakeClock`, the `aep_default` connection pointing at it, and
    the client options a hook needs to reach it in-process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **emulator_options: Any) -> None:
        import httpx

        from aep_ais.testing import Emulator, FakeClock

        self.clock = FakeClock()
        self.emulator = Emulator(
            clock=self.clock,
            operation_time=30,
            run_time=600,
            failing_runs=[FAILING_PATH],
            **emulator_options,
        )
        # A credential of its own: the hook's token providers live as long as the process,
        # one per connection and credential, and this test must not find another's token.
        self.client_id = f"airflow-client-{next(_CLIENTS)}"
        self.emulator.add_credential(self.client_id, "airflow-client-secret")
        self.recorder = Recorder(self.emulator.transport(), self.clock)
        self._setup_auth: Any = None
        self.transport: httpx.AsyncBaseTransport = self.recorder  # type: ignore[assignment]
        monkeypatch.setenv(
            "AIRFLOW_CONN_AEP_DEFAULT",
            connection_json(
                login=self.client_id,
                password="airflow-client-secret",
                extra={"org_id": ORG_ID, "token_url": self.emulator.token_url},
            ),
        )

    @property
    def options(self) -> dict[str, Any]:
        return {"clock": self.clock, "transport": self.transport}

    def wire(self, thing: Any) -> Any:
        """Point a trigger's or an operator's hook at this emulator; returns `thing`."""
        from aep_ais.airflow import AEPHook

        thing.hook = lambda: AEPHook(thing.aep_conn_id, client_options=self.options)
        return thing

    def client(self) -> Any:
        import aep_ais

        if self._setup_auth is None:
            self._setup_auth = aep_ais.OAuthServerToServer(
                self.emulator.client_id,
                self.emulator.client_secret,
                token_url=self.emulator.token_url,
            )
        return aep_ais.AISClient(
            org_id=ORG_ID,
            auth=self._setup_auth,
            transport=self.emulator.transport(),
            clock=self.clock,
        )

    async def audience(self, path: str = "activation/spring/buyers.csv") -> str:
        """A new audience (created and waited for), its id."""
        import aep_ais

        spec = aep_ais.AudienceSpec(
            name=f"Buyers {len(self.emulator.operations)}",
            fields=[aep_ais.AudienceField(name="email", type="string", identity_ns="email")],
            source_spec=aep_ais.SourceSpec(path=path, cloud_type="DLZ"),
        )
        async with self.client() as ais:
            operation = await ais.create_and_wait(spec)
        assert operation.audience_id is not None
        return operation.audience_id

    async def started_run(self, audience_id: str) -> Any:
        async with self.client() as ais:
            return await ais.start_run(audience_id, data_filter_start_time=0)


@pytest.fixture
def aep(monkeypatch: pytest.MonkeyPatch) -> EmulatedAEP:
    return EmulatedAEP(monkeypatch)


class RealAirflow:
    """A real Airflow (SQLite, its own AIRFLOW_HOME) that ran the DAGs of the tests.

    Built once per session, in ONE subprocess (`airflow_commands.py`): `airflow db
    migrate`, `airflow dags reserialize`, `airflow dags test` of the README's DAG
    (`tests/airflow/dags/aep_lifecycle.py`) and of the bulk example, and `airflow
    connections test aep_default` (the UI's "Test connection"), against `aep-ais`'s
    emulator served on 127.0.0.1 in a thread of this process. Triggers run in-process in
    `dags test`. Tests read `results` (per command: `"ok"` or what went wrong), `output`
    (per command) and the files the DAGs wrote in `out`.
    """

    BULK_AUDIENCES = 3

    def __init__(self, home: Any, emulator: Any, base_url: str) -> None:
        from pathlib import Path

        self.home = Path(home)
        self.emulator = emulator
        self.base_url = base_url
        self.out = self.home / "out"
        self.out.mkdir()
        dags = self.home / "dags"
        dags.mkdir()
        self.here = Path(__file__).parent
        # The example DAG only: examples/ also holds recipes for other workflow engines.
        example = self.here.parent.parent / "examples" / "bulk_ingestion.py"
        for source in [*sorted((self.here / "dags").glob("*.py")), example]:
            (dags / source.name).write_text(source.read_text())
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AEP_AIS_TEST_OUT": str(self.out),
            "AEP_AIS_README": str(self.here.parent.parent / "README.md"),
            "AIRFLOW_CONN_AEP_DEFAULT": connection_json(
                host=base_url,
                login=emulator.client_id,
                password=emulator.client_secret,
                extra={"org_id": ORG_ID, "token_url": f"{base_url}/ims/token/v3"},
            ),
        }
        self.env["AIRFLOW_CONN_AEP_WRONG_SECRET"] = connection_json(
            host=base_url,
            login=emulator.client_id,
            password="not-the-secret-0123",
            extra={"org_id": ORG_ID, "token_url": f"{base_url}/ims/token/v3"},
        )
        self.bulk_audiences: list[str] = []
        self.failing_audience = ""
        self.results: dict[str, str] = {}
        self.output: dict[str, str] = {}
        self.seconds = 0.0

    def create_bulk_audiences(self) -> None:
        import asyncio

        import aep_ais

        async def create() -> list[str]:
            async with aep_ais.AISClient(
                org_id=ORG_ID,
                auth=aep_ais.StaticToken("bulk-token-0123456789"),
                api_key="bulk-key",
                transport=self.emulator.transport(),
            ) as ais:
                specs = [
                    aep_ais.AudienceSpec(
                        name=f"Bulk {i}",
                        fields=[
                            aep_ais.AudienceField(name="e", type="string", identity_ns="email")
                        ],
                        source_spec=aep_ais.SourceSpec(path=f"bulk/{i}.csv", cloud_type="DLZ"),
                    )
                    for i in range(self.BULK_AUDIENCES)
                ]
                specs.append(
                    aep_ais.AudienceSpec(
                        name="Bulk failing",
                        fields=[
                            aep_ais.AudienceField(name="e", type="string", identity_ns="email")
                        ],
                        source_spec=aep_ais.SourceSpec(path=FAILING_PATH, cloud_type="DLZ"),
                    )
                )
                results = await ais.create_many(specs, concurrency=len(specs))
            return [str(r.value.audience_id) for r in results if r.value is not None]

        *self.bulk_audiences, self.failing_audience = asyncio.run(create())
        assert len(self.bulk_audiences) == self.BULK_AUDIENCES

    def run(self) -> None:
        import subprocess
        import sys
        import time

        commands = [
            ["db", "migrate"],
            ["dags", "reserialize"],
            ["dags", "test", "aep_spring_buyers"],
            [
                "dags",
                "test",
                "aep_bulk_ingestion",
                "--conf",
                json.dumps({"audience_ids": [*self.bulk_audiences, self.failing_audience]}),
            ],
            # Last: they mark the process as a server's.
            ["connections", "test", "aep_default"],
            ["connections", "test", "aep_wrong_secret"],
        ]
        results = self.home / "results.json"
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                str(self.here / "airflow_commands.py"),
                json.dumps(commands),
                str(results),
            ],
            env=self.env,
            cwd=self.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=900,
            check=False,
        )
        self.seconds = time.monotonic() - started
        (self.home / "airflow.log").write_text(done.stdout)
        for part in ("\n" + done.stdout).split("\n=== airflow ")[1:]:
            name, _, text = part.partition("\n")
            self.output[name] = text
        if results.exists():
            self.results = json.loads(results.read_text())
        else:
            self.results = {" ".join(c): f"never ran:\n{done.stdout[-6000:]}" for c in commands}

    def check(self, *args: str) -> str:
        """The output of `airflow ARGS`, or a test failure that shows what went wrong."""
        name = " ".join(args)
        result = self.results.get(name, "never ran")
        if result != "ok":
            pytest.fail(f"airflow {name}: {result}\n{self.output.get(name, '')[-6000:]}")
        return self.output[name]


@pytest.fixture(scope="session")
def real_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealAirflow]:
    pytest.importorskip("airflow")
    pytest.importorskip("uvicorn")
    from aep_ais.testing import Emulator, running_server

    emulator = Emulator(
        operation_time=1.0, run_time=1.5, guardrails=False, failing_runs=[FAILING_PATH]
    )
    with running_server(emulator) as base_url:
        airflow = RealAirflow(tmp_path_factory.mktemp("airflow-home"), emulator, base_url)
        airflow.create_bulk_audiences()
        airflow.run()
        yield airflow
    print(f"\nreal Airflow: one subprocess, {airflow.seconds:.1f} s")
