"""Shared fixtures: a mocked AIS API (respx), a client on virtual time, the spec's samples.

The sample bodies are the JSON examples of the API documentation, quirks and all
(`identityNs: "Email"`, `sourceSpec` with and without `params`, `ttlInDays` as a string in
the create request). Each call of the `sample` fixture returns a fresh deep copy.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.lowlevel
import httpx
import pytest
import respx

import aep_ais
from aep_ais.testing import FakeClock

BASE_URL = "https://platform.adobe.io/data/core/ais"
ORG_ID = "0123456789ABCDEF01234567@AdobeOrg"
SANDBOX = "dev-sandbox"
API_KEY = "test-api-key"
TOKEN = "tok-SECRET-0123456789"

AUDIENCE_ID = "60ccea95-1435-4180-97a5-58af4aa285ab"
OPERATION_ID = "df8cd82f-a214-4b72-b549-d6ee23f1ff1a"
RUN_ID = "fb342311-725d-4b48-ab7d-c6105fbc2b8b"

_TLS = httpx.create_ssl_context()

_FIELDS = [
    {"name": "ppid", "type": "string", "identityNs": "Email"},
    {"name": "list_id", "type": "string", "labels": ["core/C2", "custom/deep"]},
    {"name": "delete", "type": "number"},
    {"name": "process_consent", "type": "string"},
]
_SOURCE = {
    "path": "activation/sample-source/example.csv",
    "type": "file",
    "sourceType": "Cloud Storage",
    "baseConnectionId": "1d1d4bc5-b527-46a3-9863-530246a61b2b",
}
_DETAILS = {
    "name": "Sample external audience",
    "description": "A sample version of an external audience",
    "fields": _FIELDS,
    "sourceSpec": {"params": _SOURCE},
    "ttlInDays": 40,
    "labels": ["core/C1"],
    "audienceType": "people",
    "originName": "CUSTOM_UPLOAD",
}

SAMPLES: dict[str, Any] = {
    # The create request body of the documentation (ttlInDays is a string there), with the
    # `cloudType` that the newest revision of the docs requires and its sample leaves out.
    "create_request": {
        **_DETAILS,
        "sourceSpec": {"params": {**_SOURCE, "cloudType": "S3"}},
        "ttlInDays": "40",
    },
    # 202 answer to POST /external-audience/
    "create_response": {"operationId": OPERATION_ID, "operationDetails": _DETAILS},
    # 200 answer to GET .../operations/{id}
    "operation": {
        "operationId": OPERATION_ID,
        "status": "SUCCESS",
        "operationDetails": _DETAILS,
        "audienceName": "Sample external audience",
        "audienceId": AUDIENCE_ID,
        "createdBy": "{USER_ID}",
        "createdAt": 1749324248,
        "updatedBy": "{USER_ID}",
        "updatedAt": 1749624273,
    },
    # 200 answer to PATCH /external-audience/{id}: sourceSpec is flat here.
    "audience": {
        "audienceId": AUDIENCE_ID,
        "audienceName": "Sample external audience",
        "description": "New sample description",
        "fields": _FIELDS,
        "sourceSpec": _SOURCE,
        "ttlInDays": 40,
        "labels": ["core/C1"],
        "audienceType": "people",
        "originName": "CUSTOM_UPLOAD",
        "createdBy": "{USER_ID}",
        "createdAt": 1749324248,
        "updatedBy": "{USER_ID}",
        "updatedAt": 1749624273,
    },
    # 200 answer to POST .../runs. The documentation's sample is not valid JSON
    # (`"createdBy:" "{USER_ID}"`); this is its evident meaning.
    "run_started": {
        "audienceName": "Sample external audience",
        "audienceId": AUDIENCE_ID,
        "runId": RUN_ID,
        "differentialIngestion": True,
        "dataFilterStartTime": 764245635,
        "dataFilterEndTime": 4565657575,
        "createdAt": 4565657575,
        "createdBy": "{USER_ID}",
    },
    # 200 answer to GET .../runs/{run_id}
    "run": {
        "audienceName": "Sample external audience",
        "audienceId": AUDIENCE_ID,
        "runId": RUN_ID,
        "status": "SUCCESS",
        "differentialIngestion": True,
        "dataFilterStartTime": 764245635,
        "dataFilterEndTime": 3456788568,
        "createdAt": 1749324248,
        "createdBy": "{USER_ID}",
        "details": [
            {"stage": "DATASET_INGEST", "status": "SUCCESS", "flowRunId": "{FLOW_RUN_ID}"},
            {"stage": "PROFILE_STORE_INGEST", "status": "SUCCESS", "flowRunId": "{FLOW_RUN_ID}"},
        ],
    },
    # 200 answer to GET .../runs
    "runs": {
        "runs": [
            {
                "audienceName": "Sample external audience",
                "audienceId": AUDIENCE_ID,
                "runId": RUN_ID,
                "status": "SUCCESS",
                "differentialIngestion": True,
                "dataFilterStartTime": 764245635,
                "dataFilterEndTime": 3456788568,
                "createdAt": 1785678909,
                "createdBy": "{USER_NAME}",
            },
            {
                "audienceName": "Sample external audience 2",
                "audienceId": AUDIENCE_ID,
                "runId": "406e38e4-fbd5-43e1-8d0c-01ccb3f9ad10",
                "status": "SUCCESS",
                "differentialIngestion": True,
                "dataFilterStartTime": 764245635,
                "dataFilterEndTime": 3456788568,
                "createdAt": 1749324248,
                "createdBy": "{USER_ID}",
            },
        ]
    },
    # The commented-out paging object of some revisions.
    "page": {"limit": 20, "count": 2, "totalCount": 2},
    # 200 answer to POST /external-audience/extend-ttl/{id}
    "ttl_extension": {"audienceId": AUDIENCE_ID, "name": "Sample external audience"},
}


UNTIL_STEPS = 10_000


async def until(condition: Callable[[], bool], *, steps: int = UNTIL_STEPS) -> None:
    """Let other tasks run until `condition()` holds; fail, rather than hang, if it never does.

    Each step is one scheduler checkpoint (no real or virtual time passes), so a regression
    that stops the awaited event from happening fails the test after `steps` turns.
    """
    for _ in range(steps):
        if condition():
            return
        await anyio.lowlevel.checkpoint()
    if not condition():
        raise AssertionError(f"condition never held within {steps} scheduler steps")


@pytest.fixture
def sample() -> Callable[[str], Any]:
    """`sample(name)`: a fresh deep copy of one of the documentation's JSON bodies."""

    def get(name: str) -> Any:
        return copy.deepcopy(SAMPLES[name])

    return get


@pytest.fixture
def clock() -> FakeClock:
    """Virtual time; `random()` is fixed at 0.5 so backoff sleeps are exact."""
    return FakeClock(fixed_random=0.5)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """The mocked AIS API; every route a test defines must be called."""
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        yield router


@pytest.fixture
def make_client(
    clock: FakeClock,
) -> Iterator[Callable[..., aep_ais.AISClient]]:
    """Build clients on the fake clock; keyword arguments override the defaults."""

    def make(**overrides: Any) -> aep_ais.AISClient:
        kwargs: dict[str, Any] = {
            "org_id": ORG_ID,
            "sandbox": SANDBOX,
            "auth": aep_ais.StaticToken(TOKEN),
            "api_key": API_KEY,
            "clock": clock,
        }
        if "http_client" not in overrides and "transport" not in overrides:
            # A real httpx transport (respx mocks beneath it) sharing one TLS context:
            # building a context per client would be most of the suite's run time.
            kwargs["transport"] = httpx.AsyncHTTPTransport(verify=_TLS)
        kwargs.update(overrides)
        return aep_ais.AISClient(**kwargs)

    yield make


@pytest.fixture
async def ais(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient]
) -> AsyncIterator[aep_ais.AISClient]:
    """A client of the mocked API, on the fake clock, with the default retry policy."""
    async with make_client() as client:
        yield client


def spec(**overrides: Any) -> aep_ais.AudienceSpec:
    """A valid `AudienceSpec` (the documentation's sample); keywords replace attributes."""
    kwargs: dict[str, Any] = {
        "name": "Sample external audience",
        "description": "A sample version of an external audience",
        "fields": [
            aep_ais.AudienceField(name="ppid", type="string", identity_ns="email"),
            aep_ais.AudienceField(name="list_id", type="string", labels=["core/C2", "custom/deep"]),
            aep_ais.AudienceField(name="delete", type="number"),
            aep_ais.AudienceField(name="process_consent", type="string"),
        ],
        "source_spec": aep_ais.SourceSpec(
            path="activation/sample-source/example.csv",
            type="file",
            source_type="Cloud Storage",
            cloud_type="S3",
            base_connection_id="1d1d4bc5-b527-46a3-9863-530246a61b2b",
        ),
        "ttl_in_days": 40,
        "labels": ["core/C1"],
    }
    kwargs.update(overrides)
    return aep_ais.AudienceSpec(**kwargs)


@pytest.fixture
def make_spec() -> Callable[..., aep_ais.AudienceSpec]:
    """`make_spec(**overrides)`: a valid `AudienceSpec` with some attributes replaced."""
    return spec


def run_pytest_on(path: Path) -> subprocess.CompletedProcess[str]:
    """Run pytest on one test file, in its folder, with the settings a user's project has.

    For the documentation's pytest examples: asyncio mode auto, warnings as errors.
    """
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-W",
            "error",
            path.name,
        ],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
