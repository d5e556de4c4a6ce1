"""Each endpoint of `AISClient`: method, path, headers, the exact JSON sent, the answer read."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import httpx
import pytest
import respx

import aep_ais
from tests.conftest import (
    API_KEY,
    AUDIENCE_ID,
    BASE_URL,
    OPERATION_ID,
    ORG_ID,
    RUN_ID,
    SANDBOX,
    TOKEN,
)

Sample = Callable[[str], Any]


def assert_platform_headers(request: httpx.Request, *, has_body: bool) -> None:
    """The four platform headers always; `Content-Type` only when a body is sent."""
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["x-gw-ims-org-id"] == ORG_ID
    assert request.headers["x-sandbox-name"] == SANDBOX
    assert request.headers["accept"] == "application/json"
    if has_body:
        assert request.headers["content-type"] == "application/json"
    else:
        assert "content-type" not in request.headers
        assert request.content == b""


def sent_json(route: respx.Route) -> Any:
    assert route.call_count == 1
    return json.loads(route.calls.last.request.content)


def utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


# create_audience ----------------------------------------------------------------------


async def test_create_audience_sends_camel_case_spec_and_reads_the_operation(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    make_spec: Callable[..., aep_ais.AudienceSpec],
    sample: Sample,
) -> None:
    route = api.post("/external-audience/", name="create").respond(
        202, json=sample("create_response")
    )

    op = await ais.create_audience(make_spec())

    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/external-audience/"
    assert_platform_headers(request, has_body=True)
    assert sent_json(route) == {
        "name": "Sample external audience",
        "description": "A sample version of an external audience",
        "fields": [
            {"name": "ppid", "type": "string", "identityNs": "email"},
            {"name": "list_id", "type": "string", "labels": ["core/C2", "custom/deep"]},
            {"name": "delete", "type": "number"},
            {"name": "process_consent", "type": "string"},
        ],
        "sourceSpec": {
            "params": {
                "path": "activation/sample-source/example.csv",
                "type": "file",
                "sourceType": "Cloud Storage",
                "cloudType": "S3",
                "baseConnectionId": "1d1d4bc5-b527-46a3-9863-530246a61b2b",
            }
        },
        "ttlInDays": 40,
        "labels": ["core/C1"],
        "audienceType": "people",
        "originName": "CUSTOM_UPLOAD",
    }
    assert isinstance(op, aep_ais.Operation)
    assert op.operation_id == OPERATION_ID
    assert op.status is None
    assert op.done is False
    assert op.audience_id is None
    assert op.details is not None
    assert op.details.name == "Sample external audience"
    assert op.details.ttl_in_days == 40
    assert op.details.fields[0] == aep_ais.AudienceField(
        name="ppid", type="string", identity_ns="Email"
    )
    assert op.details.source_spec.base_connection_id == "1d1d4bc5-b527-46a3-9863-530246a61b2b"


async def test_create_audience_minimal_spec_sends_defaults_and_omits_unset(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample
) -> None:
    route = api.post("/external-audience/", name="create").respond(
        202, json=sample("create_response")
    )
    spec = aep_ais.AudienceSpec(
        name="Spring buyers",
        fields=[aep_ais.AudienceField(name="ppid", type="string", identity_ns="email")],
        source_spec=aep_ais.SourceSpec(path="activation/spring/buyers.csv", cloud_type="DLZ"),
    )

    await ais.create_audience(spec)

    assert sent_json(route) == {
        "name": "Spring buyers",
        "fields": [{"name": "ppid", "type": "string", "identityNs": "email"}],
        "sourceSpec": {
            "params": {"path": "activation/spring/buyers.csv", "type": "file", "cloudType": "DLZ"}
        },
        "audienceType": "people",
        "originName": "CUSTOM_UPLOAD",
    }


async def test_create_audience_sends_every_optional_attribute(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    make_spec: Callable[..., aep_ais.AudienceSpec],
    sample: Sample,
) -> None:
    route = api.post("/external-audience/", name="create").respond(
        202, json=sample("create_response")
    )
    spec = make_spec(
        custom_audience_id="$spring_2026",
        tags=["tag-1"],
        namespace="CustomerAudienceUpload",
        origin_name="OTHER_ORIGIN",
        express_activation=True,
    )
    spec.source_spec = attrs.evolve(
        spec.source_spec,
        encryption=aep_ais.Encryption(public_key_id="pk-1", sign_verification_key_id="sk-1"),
    )

    await ais.create_audience(spec)

    body = sent_json(route)
    assert body["customAudienceId"] == "$spring_2026"
    assert body["tags"] == ["tag-1"]
    assert body["namespace"] == "CustomerAudienceUpload"
    assert body["sourceSpec"]["params"]["encryption"] == {
        "publicKeyId": "pk-1",
        "signVerificationKeyId": "sk-1",
    }
    assert "encryption" not in body
    assert body["expressActivation"] is True
    assert body["originName"] == "OTHER_ORIGIN"


# get_operation ------------------------------------------------------------------------


async def test_get_operation_reads_the_documented_sample(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample
) -> None:
    route = api.get(f"/external-audience/operations/{OPERATION_ID}", name="op").respond(
        200, json=sample("operation")
    )

    op = await ais.get_operation(OPERATION_ID)

    request = route.calls.last.request
    assert request.method == "GET"
    assert_platform_headers(request, has_body=False)
    assert route.call_count == 1
    assert op.operation_id == OPERATION_ID
    assert op.status is aep_ais.OperationStatus.SUCCESS
    assert op.done is True
    assert op.audience_id == AUDIENCE_ID
    assert op.audience_name == "Sample external audience"
    assert op.created_by == "{USER_ID}"
    assert op.created_at == utc(1749324248)
    assert op.updated_at == utc(1749624273)
    assert op.created_at.tzinfo is UTC
    assert op.details is not None
    assert op.details.labels == ["core/C1"]
    assert op.details.fields[1].labels == ["core/C2", "custom/deep"]
    assert op.details.source_spec.path == "activation/sample-source/example.csv"


@pytest.mark.parametrize(
    ("status", "expected", "done"),
    [
        ("PROCESSING", aep_ais.OperationStatus.PROCESSING, False),
        ("SUCCESS", aep_ais.OperationStatus.SUCCESS, True),
        ("FAILED", aep_ais.OperationStatus.FAILED, True),
        ("QUEUED_FOR_REVIEW", "QUEUED_FOR_REVIEW", False),
    ],
)
async def test_operation_status_known_and_unknown(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    sample: Sample,
    status: str,
    expected: Any,
    done: bool,
) -> None:
    body = sample("operation") | {"status": status, "someFutureKey": {"x": 1}}
    api.get(f"/external-audience/operations/{OPERATION_ID}", name="op").respond(200, json=body)

    op = await ais.get_operation(OPERATION_ID)

    assert op.status == expected
    assert type(op.status) is type(expected)
    assert op.done is done


async def test_get_operation_with_quirky_details(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample
) -> None:
    body = sample("operation")
    body["operationDetails"]["ttlInDays"] = "40"
    body["operationDetails"]["sourceSpec"] = body["operationDetails"]["sourceSpec"]["params"]
    body["operationDetails"]["unknownKey"] = [1, 2]
    api.get(f"/external-audience/operations/{OPERATION_ID}", name="op").respond(200, json=body)

    op = await ais.get_operation(OPERATION_ID)

    assert op.details is not None
    assert op.details.ttl_in_days == 40
    assert op.details.source_spec == aep_ais.SourceSpec(
        path="activation/sample-source/example.csv",
        type="file",
        source_type="Cloud Storage",
        base_connection_id="1d1d4bc5-b527-46a3-9863-530246a61b2b",
    )


async def test_operations_path_can_be_the_plural_spelling(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient], sample: Sample
) -> None:
    route = api.get(f"/external-audiences/operations/{OPERATION_ID}", name="plural").respond(
        200, json=sample("operation")
    )
    async with make_client(operations_path="/external-audiences/operations/") as ais:
        op = await ais.get_operation(OPERATION_ID)
    assert route.call_count == 1
    assert op.audience_id == AUDIENCE_ID


# update_audience ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        (
            aep_ais.AudienceUpdate(description="New sample description"),
            {"description": "New sample description"},
        ),
        (aep_ais.AudienceUpdate(description=None), {"description": None}),
        (aep_ais.AudienceUpdate(labels=[]), {"labels": []}),
        (
            aep_ais.AudienceUpdate(ttl_in_days=90, labels=["core/C1"]),
            {
                "ttlInDays": 90,
                "labels": ["core/C1"],
            },
        ),
        (
            aep_ais.AudienceUpdate(
                fields=[aep_ais.AudienceField(name="list_id", labels=["core/C3"])]
            ),
            {"fields": [{"name": "list_id", "labels": ["core/C3"]}]},
        ),
    ],
    ids=["description", "clear-description", "empty-labels", "ttl-and-labels", "field-labels"],
)
async def test_update_audience_sends_only_what_is_set(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    sample: Sample,
    update: aep_ais.AudienceUpdate,
    expected: dict[str, Any],
) -> None:
    route = api.patch(f"/external-audience/{AUDIENCE_ID}", name="patch").respond(
        200, json=sample("audience")
    )

    await ais.update_audience(AUDIENCE_ID, update)

    assert route.calls.last.request.method == "PATCH"
    assert_platform_headers(route.calls.last.request, has_body=True)
    assert sent_json(route) == expected


async def test_update_audience_reads_the_flat_source_spec(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample
) -> None:
    api.patch(f"/external-audience/{AUDIENCE_ID}", name="patch").respond(
        200, json=sample("audience")
    )

    audience = await ais.update_audience(
        AUDIENCE_ID, aep_ais.AudienceUpdate(description="New sample description")
    )

    assert isinstance(audience, aep_ais.ExternalAudience)
    assert audience.audience_id == AUDIENCE_ID
    assert audience.audience_name == "Sample external audience"
    assert audience.description == "New sample description"
    assert [f.name for f in audience.fields] == ["ppid", "list_id", "delete", "process_consent"]
    assert audience.fields[0].identity_ns == "Email"
    assert audience.source_spec == aep_ais.SourceSpec(
        path="activation/sample-source/example.csv",
        type="file",
        source_type="Cloud Storage",
        base_connection_id="1d1d4bc5-b527-46a3-9863-530246a61b2b",
    )
    assert audience.ttl_in_days == 40
    assert audience.labels == ["core/C1"]
    assert audience.audience_type == "people"
    assert audience.origin_name == "CUSTOM_UPLOAD"
    assert audience.created_at == utc(1749324248)
    assert audience.updated_at == utc(1749624273)
    assert audience.updated_by == "{USER_ID}"


# delete_audience and extend_ttl -------------------------------------------------------


async def test_delete_audience(api: respx.MockRouter, ais: aep_ais.AISClient) -> None:
    route = api.delete(f"/external-audience/{AUDIENCE_ID}", name="delete").respond(204)

    await ais.delete_audience(AUDIENCE_ID)

    assert route.call_count == 1
    assert route.calls.last.request.method == "DELETE"
    assert_platform_headers(route.calls.last.request, has_body=False)


async def test_extend_ttl(api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample) -> None:
    route = api.post(f"/external-audience/extend-ttl/{AUDIENCE_ID}", name="extend").respond(
        200, json=sample("ttl_extension")
    )

    result = await ais.extend_ttl(AUDIENCE_ID)

    assert route.call_count == 1
    assert route.calls.last.request.method == "POST"
    assert_platform_headers(route.calls.last.request, has_body=False)
    assert result == aep_ais.TTLExtension(audience_id=AUDIENCE_ID, name="Sample external audience")


# start_run ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (764245635, None, {"dataFilterStartTime": 764245635}),
        (
            764245635,
            3456788568,
            {"dataFilterStartTime": 764245635, "dataFilterEndTime": 3456788568},
        ),
        (utc(1749324248), None, {"dataFilterStartTime": 1749324248}),
        (
            datetime(2025, 6, 7, 21, 24, 8, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 6, 8, tzinfo=UTC),
            {"dataFilterStartTime": 1749324248, "dataFilterEndTime": 1749340800},
        ),
        (
            utc(1749324248) + timedelta(microseconds=999_999),
            None,
            {"dataFilterStartTime": 1749324248},
        ),
    ],
    ids=["int", "int-window", "utc", "offset-tz", "sub-second"],
)
async def test_start_run_sends_epoch_seconds(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    sample: Sample,
    start: datetime | int,
    end: datetime | int | None,
    expected: dict[str, int],
) -> None:
    route = api.post(f"/external-audience/{AUDIENCE_ID}/runs", name="start").respond(
        200, json=sample("run_started")
    )

    await ais.start_run(AUDIENCE_ID, data_filter_start_time=start, data_filter_end_time=end)

    assert_platform_headers(route.calls.last.request, has_body=True)
    assert sent_json(route) == expected


async def test_start_run_reads_the_answer(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample
) -> None:
    api.post(f"/external-audience/{AUDIENCE_ID}/runs", name="start").respond(
        200, json=sample("run_started")
    )

    run = await ais.start_run(AUDIENCE_ID, data_filter_start_time=764245635)

    assert isinstance(run, aep_ais.IngestionRun)
    assert run.run_id == RUN_ID
    assert run.audience_id == AUDIENCE_ID
    assert run.status is None
    assert run.done is False
    assert run.differential_ingestion is True
    assert run.data_filter_start_time == utc(764245635)
    assert run.data_filter_end_time == utc(4565657575)
    assert run.created_by == "{USER_ID}"
    assert run.details == []


async def test_start_run_with_the_documentations_broken_sample_is_malformed(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    # The documentation's sample answer has `"createdBy:" "{USER_ID}"`: not JSON.
    text = (
        f'{{"audienceId": "{AUDIENCE_ID}", "runId": "{RUN_ID}", '
        '"createdAt": 4565657575, "createdBy:" "{USER_ID}"}'
    )
    route = api.post(f"/external-audience/{AUDIENCE_ID}/runs", name="start").respond(200, text=text)

    with pytest.raises(aep_ais.MalformedResponseError) as info:
        await ais.start_run(AUDIENCE_ID, data_filter_start_time=764245635)

    assert route.call_count == 1
    assert info.value.status_code == 200
    assert info.value.body == text


# get_run ------------------------------------------------------------------------------


async def test_get_run_reads_stages(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample
) -> None:
    route = api.get(f"/external-audience/{AUDIENCE_ID}/runs/{RUN_ID}", name="run").respond(
        200, json=sample("run")
    )

    run = await ais.get_run(AUDIENCE_ID, RUN_ID)

    assert route.calls.last.request.method == "GET"
    assert_platform_headers(route.calls.last.request, has_body=False)
    assert run.status is aep_ais.RunStatus.SUCCESS
    assert run.done is True
    assert run.data_filter_end_time == utc(3456788568)
    assert run.created_at == utc(1749324248)
    assert run.details == [
        aep_ais.StageStatus(
            stage="DATASET_INGEST", status=aep_ais.RunStatus.SUCCESS, flow_run_id="{FLOW_RUN_ID}"
        ),
        aep_ais.StageStatus(
            stage="PROFILE_STORE_INGEST",
            status=aep_ais.RunStatus.SUCCESS,
            flow_run_id="{FLOW_RUN_ID}",
        ),
    ]


@pytest.mark.parametrize(
    ("status", "done"),
    [("SUCCESS", True), ("FAILED", True), ("PROCESSING", False), ("INGESTING_V2", False)],
)
async def test_run_status_unknown_is_kept_and_not_terminal(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample, status: str, done: bool
) -> None:
    body = sample("run") | {"status": status, "brandNewKey": True}
    body["details"][1]["status"] = "WAITING_SOMEHOW"
    api.get(f"/external-audience/{AUDIENCE_ID}/runs/{RUN_ID}", name="run").respond(200, json=body)

    run = await ais.get_run(AUDIENCE_ID, RUN_ID)

    assert run.status == status
    assert run.done is done
    assert run.details[1].status == "WAITING_SOMEHOW"


# list_runs ----------------------------------------------------------------------------


async def test_list_runs_without_filters_sends_no_query(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample
) -> None:
    route = api.get(f"/external-audience/{AUDIENCE_ID}/runs", name="list").respond(
        200, json=sample("runs")
    )

    runs = await ais.list_runs(AUDIENCE_ID)

    request = route.calls.last.request
    assert request.url == f"{BASE_URL}/external-audience/{AUDIENCE_ID}/runs"
    assert_platform_headers(request, has_body=False)
    assert isinstance(runs, aep_ais.RunList)
    assert isinstance(runs, list)
    assert [r.run_id for r in runs] == [RUN_ID, "406e38e4-fbd5-43e1-8d0c-01ccb3f9ad10"]
    assert runs[0].created_at == utc(1785678909)
    assert runs[1].audience_name == "Sample external audience 2"
    assert runs.page is None


async def test_list_runs_exposes_page(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample
) -> None:
    body = sample("runs") | {"_page": sample("page")}
    api.get(f"/external-audience/{AUDIENCE_ID}/runs", name="list").respond(200, json=body)

    runs = await ais.list_runs(AUDIENCE_ID)

    assert runs.page == aep_ais.Page(limit=20, count=2, total_count=2)
    assert len(runs) == 2


async def test_list_runs_query_parameters(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Sample
) -> None:
    route = api.get(f"/external-audience/{AUDIENCE_ID}/runs", name="list").respond(
        200, json={"runs": []}
    )

    runs = await ais.list_runs(
        AUDIENCE_ID,
        limit=40,
        sort_by="-createdAt",
        status="SUCCESS",
        name="demo_audience",
        created_after=utc(1683669114),
        created_before=1683669999,
        properties=["status!=FAILED"],
    )

    assert runs == []
    params = route.calls.last.request.url.params
    assert params.get_list("limit") == ["40"]
    assert params.get_list("sortBy") == ["-createdAt"]
    assert params.get_list("property") == [
        "status!=FAILED",
        "status=SUCCESS",
        "name=demo_audience",
        "createdAt>=1683669114",
        "createdAt<=1683669999",
    ]
    assert sorted(params.keys()) == ["limit", "property", "sortBy"]


@pytest.mark.parametrize("sort_by", ["name", "-name", "createdAt", "-createdAt"])
async def test_list_runs_sort_keys(
    api: respx.MockRouter, ais: aep_ais.AISClient, sort_by: str
) -> None:
    route = api.get(f"/external-audience/{AUDIENCE_ID}/runs", name="list").respond(
        200, json={"runs": []}
    )
    await ais.list_runs(AUDIENCE_ID, sort_by=sort_by, limit=1)
    assert route.calls.last.request.url.params.get_list("sortBy") == [sort_by]
    assert route.calls.last.request.url.params.get_list("limit") == ["1"]


# Client configuration and lifecycle ---------------------------------------------------


async def test_repr_hides_the_token(make_client: Callable[..., aep_ais.AISClient]) -> None:
    async with make_client() as ais:
        text = repr(ais)
    assert ORG_ID in text
    assert TOKEN not in text
    assert TOKEN not in repr(aep_ais.StaticToken(TOKEN))


async def test_api_key_is_required_for_a_static_token() -> None:
    with pytest.raises(aep_ais.ValidationError) as info:
        aep_ais.AISClient(org_id=ORG_ID, auth=aep_ais.StaticToken(TOKEN))
    assert info.value.field == "api_key"


async def test_user_http_client_is_used_and_left_open(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient]
) -> None:
    route = api.delete(f"/external-audience/{AUDIENCE_ID}", name="delete").respond(204)
    async with httpx.AsyncClient() as http:
        async with make_client(http_client=http) as ais:
            await ais.delete_audience(AUDIENCE_ID)
        assert not http.is_closed
    assert route.call_count == 1


async def test_custom_transport_is_used(make_client: Callable[..., aep_ais.AISClient]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with make_client(transport=httpx.MockTransport(handler)) as ais:
        await ais.delete_audience(AUDIENCE_ID)

    assert [(r.method, r.url.path) for r in seen] == [
        ("DELETE", f"/data/core/ais/external-audience/{AUDIENCE_ID}")
    ]


async def test_default_http_client_is_mocked_and_closed(api: respx.MockRouter) -> None:
    # Built without transport or http_client: the SDK's own httpx client is used.
    route = api.delete(f"/external-audience/{AUDIENCE_ID}", name="delete").respond(204)
    ais = aep_ais.AISClient(
        org_id=ORG_ID, sandbox=SANDBOX, auth=aep_ais.StaticToken(TOKEN), api_key=API_KEY
    )
    async with ais:
        await ais.delete_audience(AUDIENCE_ID)
    assert route.call_count == 1
    assert_platform_headers(route.calls.last.request, has_body=False)
    assert ais._transport._http.is_closed
