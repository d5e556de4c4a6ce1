"""Fixtures for the emulator's own tests: an emulator on virtual time and a raw client."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aep_ais.testing import Emulator, FakeClock

ORG = "0123456789ABCDEF01234567@AdobeOrg"
SANDBOX = "dev"
HEADERS = {
    "Authorization": "Bearer any-token",
    "x-api-key": "emulator-client",
    "x-gw-ims-org-id": ORG,
    "x-sandbox-name": SANDBOX,
}
BASE = "https://platform.adobe.io/data/core/ais"

CREATE_BODY: dict[str, Any] = {
    "name": "Spring buyers",
    "fields": [
        {"name": "ppid", "type": "string", "identityNs": "email"},
        {"name": "list_id", "type": "string", "labels": ["core/C2"]},
    ],
    "sourceSpec": {
        "params": {"path": "activation/spring/buyers.csv", "type": "file", "cloudType": "DLZ"}
    },
    "originName": "CUSTOM_UPLOAD",
}


def create_body(**overrides: Any) -> dict[str, Any]:
    """A valid create request body (raw wire JSON) with some keys replaced."""
    body = copy.deepcopy(CREATE_BODY)
    body.update(overrides)
    return body


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(clock=clock, operation_time=2.0, run_time=4.0)


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """A raw httpx client on the emulator, with the four required headers."""
    async with httpx.AsyncClient(
        transport=emu.transport(), base_url=BASE, headers=HEADERS
    ) as client:
        yield client


async def new_audience(
    http: httpx.AsyncClient, clock: FakeClock, name: str = "Spring buyers", **headers: str
) -> str:
    """Create an audience, let its operation finish, and return its id."""
    created = await http.post("/external-audience/", json=create_body(name=name), headers=headers)
    assert created.status_code == 202, created.text
    clock.advance(10)
    op = await http.get(
        f"/external-audience/operations/{created.json()['operationId']}", headers=headers
    )
    assert op.json()["status"] == "SUCCESS"
    return str(op.json()["audienceId"])
