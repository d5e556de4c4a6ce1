"""The create body at the wire, byte for byte, for every combination of the newest API
revision's create options: where the source lives (each cloud type, with or without a base
connection), encryption (none, a public key alone, both keys) and express activation (left
out, true, false). Checked twice: as respx sees the request, and as the emulator (which
never uses the SDK's converter) accepts and echoes it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
import respx

import aep_ais
from aep_ais import UNSET
from aep_ais.testing import Emulator, FakeClock
from tests.conftest import BASE_URL, SAMPLES

_CONNECTION = "1d1d4bc5-b527-46a3-9863-530246a61b2b"
_SOURCES: dict[str, tuple[dict[str, Any], bytes]] = {
    cloud: (
        {"cloud_type": cloud, "base_connection_id": _CONNECTION}
        if connected
        else {"cloud_type": cloud},
        (
            f'"cloudType":"{cloud}","baseConnectionId":"{_CONNECTION}"'
            if connected
            else f'"cloudType":"{cloud}"'
        ).encode(),
    )
    for cloud, connected in (
        ("S3", True),
        ("GCS", True),
        ("SFTP", True),
        ("DLZ", False),
        ("Azure", False),
    )
}
_ENCRYPTIONS: dict[str, tuple[Any, bytes]] = {
    "none": (UNSET, b""),
    "public key": (
        aep_ais.Encryption(public_key_id="pk-1"),
        b',"encryption":{"publicKeyId":"pk-1"}',
    ),
    "both keys": (
        aep_ais.Encryption(public_key_id="pk-1", sign_verification_key_id="sk-1"),
        b',"encryption":{"publicKeyId":"pk-1","signVerificationKeyId":"sk-1"}',
    ),
}
_EXPRESS: dict[str, tuple[Any, bytes]] = {
    "unset": (UNSET, b""),
    "true": (True, b',"expressActivation":true'),
    "false": (False, b',"expressActivation":false'),
}
_COMBINATIONS = list(itertools.product(_SOURCES, _ENCRYPTIONS, _EXPRESS))


def _spec(cloud: str, encryption: str, express: str) -> aep_ais.AudienceSpec:
    return aep_ais.AudienceSpec(
        name="Spring buyers",
        fields=[aep_ais.AudienceField(name="ppid", type="string", identity_ns="email")],
        source_spec=aep_ais.SourceSpec(
            path="activation/spring/buyers.csv",
            encryption=_ENCRYPTIONS[encryption][0],
            **_SOURCES[cloud][0],
        ),
        ttl_in_days=40,
        express_activation=_EXPRESS[express][0],
    )


def _expected(cloud: str, encryption: str, express: str) -> bytes:
    return (
        b'{"name":"Spring buyers",'
        b'"fields":[{"name":"ppid","type":"string","identityNs":"email"}],'
        b'"sourceSpec":{"params":{"path":"activation/spring/buyers.csv","type":"file",'
        + _SOURCES[cloud][1]
        + _ENCRYPTIONS[encryption][1]
        + b'}},"audienceType":"people","originName":"CUSTOM_UPLOAD","ttlInDays":40'
        + _EXPRESS[express][1]
        + b"}"
    )


@pytest.mark.parametrize(("cloud", "encryption", "express"), _COMBINATIONS)
async def test_the_create_body_is_exact_for_every_combination(
    make_client: Callable[..., aep_ais.AISClient], cloud: str, encryption: str, express: str
) -> None:
    with respx.mock(base_url=BASE_URL) as api:
        route = api.post("/external-audience/").respond(202, json=SAMPLES["create_response"])
        async with make_client() as ais:
            await ais.create_audience(_spec(cloud, encryption, express))
    assert route.call_count == 1
    assert route.calls.last.request.content == _expected(cloud, encryption, express)


@pytest.mark.parametrize(("cloud", "encryption", "express"), _COMBINATIONS)
async def test_the_emulator_accepts_every_combination_and_echoes_it(
    cloud: str, encryption: str, express: str
) -> None:
    clock = FakeClock()
    emulator = Emulator(clock=clock, operation_time=1.0, seed=1)
    async with aep_ais.AISClient(
        org_id="wire@AdobeOrg",
        auth=aep_ais.StaticToken("t"),
        api_key="k",
        transport=emulator.transport(),
        clock=clock,
    ) as ais:
        operation = await ais.create_and_wait(_spec(cloud, encryption, express))
    assert emulator.request_log[0][:3] == ("POST", "/external-audience/", 202)
    (record,) = emulator.operations.values()
    # The emulator keeps the body it accepted: the SDK's own bytes, read back as JSON.
    assert (
        record.details["sourceSpec"]
        == json.loads(_expected(cloud, encryption, express))["sourceSpec"]
    )
    sent_express = _EXPRESS[express][0]
    if sent_express is UNSET:
        assert "expressActivation" not in record.details
    else:
        assert record.details["expressActivation"] is sent_express
    # What the SDK reads back from the operation is what it sent.
    assert operation.details is not None
    assert operation.details.source_spec == _spec(cloud, encryption, express).source_spec
    assert operation.details.express_activation == sent_express
