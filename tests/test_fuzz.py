"""Property tests: whatever goes in or comes back, the SDK answers with a model or one of
its own errors, never a stray `KeyError`, `TypeError`, `OverflowError` or `JSONDecodeError`.

Inputs (audience specs, updates, IDs, run windows) give a well-formed request or a
`ValidationError` with nothing sent. Answers (random bytes, random JSON, the right keys
with the wrong types) give the endpoint's model or an `APIError`. Each property runs a
modest number of examples so the suite stays fast; every example is a real round trip
through `AISClient` and an `httpx.MockTransport`.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import attrs
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aep_ais
from aep_ais import (
    UNSET,
    AISClient,
    APIError,
    AudienceField,
    AudienceSpec,
    AudienceUpdate,
    Encryption,
    SourceSpec,
    StaticToken,
    ValidationError,
)
from aep_ais.testing import FakeClock

FIELD_TYPES = {"string", "number", "long", "integer", "date", "datetime", "boolean"}
CLOUD_TYPES = {"S3", "DLZ", "GCS", "Azure", "SFTP"}
ID_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@~-]*")
CUSTOM_ID = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
PREFIX = "/data/core/ais"

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def round_trip(
    call: Callable[[AISClient], Awaitable[Any]],
    answer: Callable[[httpx.Request], httpx.Response],
) -> tuple[list[httpx.Request], Any, BaseException | None]:
    """Run `call` on a fresh client; returns the requests sent, the result and the error."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    async def main() -> tuple[Any, BaseException | None]:
        async with AISClient(
            org_id="ORG@AdobeOrg",
            auth=StaticToken("tok"),
            api_key="key",
            transport=httpx.MockTransport(handler),
            clock=FakeClock(),
            retry=aep_ais.RetryPolicy(max_attempts=1),
        ) as ais:
            try:
                return await call(ais), None
            except (ValidationError, APIError) as exc:
                return None, exc

    result, error = anyio.run(main)
    return sent, result, error


# Inputs -------------------------------------------------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a plausible value, sometimes anything at all."""
    return st.one_of(good, good, good, junk)


def optional(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return mostly(st.one_of(st.just(UNSET), good))


words = st.text(alphabet=string.ascii_letters + string.digits + "_ -/$.", max_size=12)
labels = st.lists(st.sampled_from(["core/C1", "core/C2", "custom/x", ""]), max_size=3)

fields = st.builds(
    AudienceField,
    name=mostly(st.sampled_from(["ppid", "list_id", "email", "", " "]) | words),
    type=optional(st.sampled_from([*sorted(FIELD_TYPES), "text", "String"])),
    identity_ns=optional(st.sampled_from(["email", "ECID", ""])),
    labels=optional(labels),
)

sources = st.builds(
    SourceSpec,
    path=mostly(st.sampled_from(["a/b.csv", "folder/", "has space.csv", ""]) | words),
    type=mostly(st.sampled_from(["file", "folder", "blob"])),
    source_type=optional(st.sampled_from(["Cloud Storage", ""])),
    cloud_type=optional(st.sampled_from([*sorted(CLOUD_TYPES), "s3", "FTP"])),
    base_connection_id=optional(st.sampled_from(["1d1d4bc5-b527", ""])),
    encryption=optional(
        st.builds(
            Encryption,
            public_key_id=optional(st.sampled_from(["key-1", ""])),
            sign_verification_key_id=optional(st.sampled_from(["sig-1", ""])),
        )
    ),
)

specs = st.builds(
    AudienceSpec,
    name=mostly(st.sampled_from(["Spring buyers", "", "  "]) | words),
    fields=mostly(st.lists(fields, max_size=4) | st.lists(fields, min_size=40, max_size=43)),
    source_spec=mostly(sources),
    description=optional(words),
    custom_audience_id=optional(st.sampled_from(["aud_1", "$x", "1abc", "a-b"]) | words),
    ttl_in_days=optional(st.integers(-3, 95)),
    labels=optional(labels),
    tags=optional(labels),
    namespace=optional(words),
    express_activation=optional(st.booleans() | st.sampled_from([0, 1, "true"])),
    audience_type=mostly(st.sampled_from(["people", ""])),
    origin_name=mostly(st.sampled_from(["CUSTOM_UPLOAD", ""])),
)


def valid_spec() -> AudienceSpec:
    return AudienceSpec(
        name="Spring buyers",
        fields=[
            AudienceField(name="ppid", type="string", identity_ns="email"),
            AudienceField(name="list_id", type="string", labels=["core/C2"]),
        ],
        source_spec=SourceSpec(
            path="a/b.csv",
            type="file",
            source_type="Cloud Storage",
            cloud_type="S3",
            base_connection_id="conn-1",
            encryption=Encryption(public_key_id="key-1", sign_verification_key_id="sig-1"),
        ),
        description="d",
        custom_audience_id="aud_1",
        ttl_in_days=30,
        labels=["core/C1"],
        tags=["t1"],
        namespace="ns",
        express_activation=True,
    )


# A valid spec with exactly one attribute (possibly a nested one) replaced by anything:
# finds the one check that is missing, which fully random specs rarely reach.
wild = st.one_of(junk, words, labels, st.just(UNSET), st.lists(fields, max_size=2), sources)
SPEC_PARTS = [a.name for a in attrs.fields(AudienceSpec)]
NESTED_PARTS = {
    "source_spec": [a.name for a in attrs.fields(SourceSpec)],
    "source_spec.encryption": [a.name for a in attrs.fields(Encryption)],
    "fields": [a.name for a in attrs.fields(AudienceField)],
}


@st.composite
def one_broken_spec(draw: st.DrawFn) -> AudienceSpec:
    spec = valid_spec()
    part = draw(
        st.sampled_from(SPEC_PARTS + [f"{k}.{n}" for k, ns in NESTED_PARTS.items() for n in ns])
    )
    value = draw(wild)
    if "." not in part:
        setattr(spec, part, value)
    elif part.startswith("fields."):
        spec.fields[0] = attrs.evolve(spec.fields[0], **{part.split(".")[1]: value})
    elif part.startswith("source_spec.encryption."):
        source = spec.source_spec
        assert isinstance(source.encryption, Encryption)
        broken = attrs.evolve(source.encryption, **{part.rsplit(".")[-1]: value})
        spec.source_spec = attrs.evolve(source, encryption=broken)
    else:
        owner, name = part.split(".")
        setattr(spec, owner, attrs.evolve(getattr(spec, owner), **{name: value}))
    return spec


def is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def is_labels(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) and x for x in value)


def check_wire_field(f: Any, *, for_create: bool) -> None:
    assert isinstance(f, dict)
    assert set(f) <= {"name", "type", "identityNs", "labels"}
    assert is_text(f["name"])
    if for_create or "type" in f:
        assert f["type"] in FIELD_TYPES
    if "identityNs" in f:
        assert is_text(f["identityNs"])
    if "labels" in f:
        assert is_labels(f["labels"])


def check_wire_spec(body: Any) -> None:
    """What a create request must look like on the wire, per the API's rules."""
    assert isinstance(body, dict)
    assert set(body) <= {
        "name",
        "description",
        "customAudienceId",
        "fields",
        "sourceSpec",
        "ttlInDays",
        "labels",
        "tags",
        "namespace",
        "expressActivation",
        "audienceType",
        "originName",
    }
    assert is_text(body["name"])
    assert is_text(body["originName"]) and is_text(body["audienceType"])
    assert isinstance(body["fields"], list) and 1 <= len(body["fields"]) <= 41
    for f in body["fields"]:
        check_wire_field(f, for_create=True)
    assert any("identityNs" in f for f in body["fields"])
    assert len({f["name"] for f in body["fields"]}) == len(body["fields"])
    assert set(body["sourceSpec"]) == {"params"}
    source = body["sourceSpec"]["params"]
    assert set(source) <= {
        "path",
        "type",
        "sourceType",
        "cloudType",
        "baseConnectionId",
        "encryption",
    }
    assert is_text(source["path"]) and not any(c.isspace() for c in source["path"])
    assert source["type"] in ("file", "folder")
    for key in ("sourceType", "baseConnectionId"):
        if key in source:
            assert is_text(source[key])
    assert source["cloudType"] in CLOUD_TYPES
    if source["cloudType"] in ("S3", "GCS", "SFTP"):
        assert is_text(source.get("baseConnectionId"))
    else:
        assert "baseConnectionId" not in source
    if "ttlInDays" in body:
        assert type(body["ttlInDays"]) is int and 1 <= body["ttlInDays"] <= 90
    if "description" in body:
        assert isinstance(body["description"], str)
    if "customAudienceId" in body:
        assert isinstance(body["customAudienceId"], str)
        assert CUSTOM_ID.fullmatch(body["customAudienceId"])
    for key in ("labels", "tags"):
        if key in body:
            assert is_labels(body[key])
    if "namespace" in body:
        assert is_text(body["namespace"])
    if "expressActivation" in body:
        assert type(body["expressActivation"]) is bool
    if "encryption" in source:
        enc = source["encryption"]
        assert set(enc) <= {"publicKeyId", "signVerificationKeyId"}
        assert is_text(enc["publicKeyId"])
        if "signVerificationKeyId" in enc:
            assert is_text(enc["signVerificationKeyId"])


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202, json={"operationId": "op-1"})


@FUZZ
@given(spec=st.one_of(specs, one_broken_spec()))
def test_any_spec_gives_a_valid_request_or_a_validation_error(spec: AudienceSpec) -> None:
    sent, result, error = round_trip(lambda ais: ais.create_audience(spec), accepted)
    if error is not None:
        assert isinstance(error, ValidationError)
        assert sent == []
        return
    assert isinstance(result, aep_ais.Operation)
    (request,) = sent
    assert request.method == "POST"
    assert request.url.raw_path == f"{PREFIX}/external-audience/".encode()
    check_wire_spec(json.loads(request.content))


updates = st.builds(
    AudienceUpdate,
    description=optional(st.none() | words),
    labels=optional(labels),
    fields=optional(st.lists(fields, max_size=3)),
    ttl_in_days=optional(st.integers(-3, 95)),
)
ids = st.one_of(st.from_regex(ID_CHARS, fullmatch=True), st.text(max_size=12), junk)


@FUZZ
@given(audience_id=ids, update=updates)
def test_any_update_gives_a_valid_request_or_a_validation_error(
    audience_id: Any, update: AudienceUpdate
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"audienceId": "aud-1"})

    sent, _, error = round_trip(lambda ais: ais.update_audience(audience_id, update), answer)
    if error is not None:
        assert isinstance(error, ValidationError)
        assert sent == []
        return
    (request,) = sent
    assert request.url.raw_path == f"{PREFIX}/external-audience/{audience_id}".encode()
    body = json.loads(request.content)
    assert body and set(body) <= {"description", "labels", "fields", "ttlInDays"}
    if body.get("description") is not None:
        assert isinstance(body["description"], str)
    if "labels" in body:
        assert is_labels(body["labels"])
    for f in body.get("fields", []):
        check_wire_field(f, for_create=False)
    if "ttlInDays" in body:
        assert type(body["ttlInDays"]) is int and 1 <= body["ttlInDays"] <= 90


@FUZZ
@given(audience_id=ids, run_id=ids)
def test_any_ids_address_exactly_one_resource_or_are_refused(audience_id: Any, run_id: Any) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"runId": "run-1"})

    sent, _, error = round_trip(lambda ais: ais.get_run(audience_id, run_id), answer)
    if error is not None:
        assert isinstance(error, ValidationError)
        assert sent == []
        return
    (request,) = sent
    assert ID_CHARS.fullmatch(audience_id) and ID_CHARS.fullmatch(run_id)
    expected = f"{PREFIX}/external-audience/{audience_id}/runs/{run_id}"
    assert request.url.raw_path == expected.encode()
    assert request.url.query == b""


times = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    junk,
)


@FUZZ
@given(start=times, end=st.none() | times)
def test_any_run_window_gives_a_valid_request_or_a_validation_error(start: Any, end: Any) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"runId": "run-1"})

    sent, _, error = round_trip(
        lambda ais: ais.start_run("aud-1", data_filter_start_time=start, data_filter_end_time=end),
        answer,
    )
    if error is not None:
        assert isinstance(error, ValidationError)
        assert sent == []
        return
    (request,) = sent
    body = json.loads(request.content)
    assert set(body) <= {"dataFilterStartTime", "dataFilterEndTime"}
    assert type(body["dataFilterStartTime"]) is int and body["dataFilterStartTime"] >= 0
    if end is None:
        assert "dataFilterEndTime" not in body
    else:
        assert type(body["dataFilterEndTime"]) is int
        assert body["dataFilterEndTime"] >= body["dataFilterStartTime"]


# Answers ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)

# Every key the models read, so "right keys, wrong types" is well covered.
MODEL_KEYS = [
    "operationId",
    "status",
    "operationDetails",
    "audienceId",
    "audienceName",
    "createdAt",
    "updatedAt",
    "createdBy",
    "runId",
    "details",
    "stage",
    "flowRunId",
    "dataFilterStartTime",
    "dataFilterEndTime",
    "differentialIngestion",
    "runs",
    "_page",
    "totalCount",
    "name",
    "fields",
    "sourceSpec",
    "params",
    "path",
    "type",
    "ttlInDays",
    "labels",
    "identityNs",
    "encryption",
    "publicKeyId",
    "error_code",
    "errorCode",
    "message",
    "errorMessage",
    "title",
    "detail",
]
shaped = st.recursive(
    json_values,
    lambda inner: (
        st.dictionaries(st.sampled_from(MODEL_KEYS), inner, max_size=6)
        | st.lists(st.dictionaries(st.sampled_from(MODEL_KEYS), inner, max_size=5), max_size=3)
    ),
    max_leaves=16,
)
bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()[: max(0, len(json.dumps(v)) // 2)]),
)

WHEN = datetime(2025, 1, 1, tzinfo=UTC)
ENDPOINTS: dict[str, tuple[Callable[[AISClient], Awaitable[Any]], type | None]] = {
    "create_audience": (
        lambda ais: ais.create_audience(
            AudienceSpec(
                name="n",
                fields=[AudienceField(name="id", type="string", identity_ns="email")],
                source_spec=SourceSpec(path="a/b.csv", cloud_type="DLZ"),
            )
        ),
        aep_ais.Operation,
    ),
    "get_operation": (lambda ais: ais.get_operation("op-1"), aep_ais.Operation),
    "update_audience": (
        lambda ais: ais.update_audience("aud-1", AudienceUpdate(ttl_in_days=5)),
        aep_ais.ExternalAudience,
    ),
    "delete_audience": (lambda ais: ais.delete_audience("aud-1"), None),
    "extend_ttl": (lambda ais: ais.extend_ttl("aud-1"), aep_ais.TTLExtension),
    "start_run": (
        lambda ais: ais.start_run("aud-1", data_filter_start_time=WHEN),
        aep_ais.IngestionRun,
    ),
    "get_run": (lambda ais: ais.get_run("aud-1", "run-1"), aep_ais.IngestionRun),
    "list_runs": (lambda ais: ais.list_runs("aud-1"), aep_ais.RunList),
}


@settings(FUZZ, max_examples=300)
@given(
    endpoint=st.sampled_from(sorted(ENDPOINTS)),
    status=st.sampled_from([200, 200, 200, 201, 202, 204, 400, 401, 404, 409, 422, 429, 500]),
    body=bodies,
    json_type=st.booleans(),
)
def test_any_answer_gives_a_model_or_an_api_error(
    endpoint: str, status: int, body: bytes, json_type: bool
) -> None:
    call, model = ENDPOINTS[endpoint]
    headers = {"content-type": "application/json" if json_type else "text/html"}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    _, result, error = round_trip(call, answer)
    if error is not None:
        assert isinstance(error, APIError)
        assert isinstance(str(error), str)
        if status < 400:
            assert isinstance(error, aep_ais.MalformedResponseError)
        else:
            assert error.status_code == status
        return
    assert status < 400
    if model is None:
        assert result is None
        return
    assert isinstance(result, model)
    if isinstance(result, aep_ais.RunList):
        assert all(isinstance(run, aep_ais.IngestionRun) for run in result)
    for value in _attribute_values(result):
        # Timestamps are real, aware datetimes; numbers are finite.
        if isinstance(value, datetime):
            assert value.tzinfo is not None
        if isinstance(value, float):
            assert math.isfinite(value)


def _attribute_values(model: Any) -> list[Any]:
    if isinstance(model, list):
        return [v for item in model for v in _attribute_values(item)]
    if not attrs.has(type(model)):
        return [model]
    values: list[Any] = []
    for a in attrs.fields(type(model)):
        values += _attribute_values(getattr(model, a.name))
    return values
