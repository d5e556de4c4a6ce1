"""The emulator's API rules, driven with raw httpx requests (wire JSON, no SDK models)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from aep_ais._errors import parse_error_body
from aep_ais.testing import Emulator, FakeClock
from tests.conftest import SAMPLES

from .conftest import BASE, CREATE_BODY, HEADERS, create_body, new_audience

EPOCH = 1_750_000_000  # FakeClock's wall clock at virtual time 0


def assert_ais_error(response: httpx.Response, status: int, code: str, words: str = "") -> None:
    """The answer is an AIS error the SDK's parser reads: code, title and detail."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == f"http://ns.adobe.com/aep/errors/{code}"
    assert body["status"] == status
    parsed_code, message, detail = parse_error_body(body)
    assert parsed_code == code
    assert message == body["title"]
    assert detail is not None and words in detail


# Create and operations ----------------------------------------------------------------


async def test_create_answers_202_and_the_operation_finishes_after_operation_time(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator
) -> None:
    created = await http.post("/external-audience/", json=create_body())
    assert created.status_code == 202
    body = created.json()
    assert set(body) == {"operationId", "operationDetails"}
    details = body["operationDetails"]
    assert details["ttlInDays"] == 30  # the documented default
    assert details["namespace"] == "CustomerAudienceUpload"
    assert details["audienceType"] == "people"
    assert details["sourceSpec"] == {
        "params": {"path": "activation/spring/buyers.csv", "type": "file", "cloudType": "DLZ"}
    }

    path = f"/external-audience/operations/{body['operationId']}"
    clock.advance(1.9)
    pending = (await http.get(path)).json()
    assert pending["status"] == "PROCESSING"
    assert "audienceId" not in pending
    assert pending["createdAt"] == EPOCH
    assert emu.audiences == {}

    clock.advance(0.1)
    done = (await http.get(path)).json()
    assert done["status"] == "SUCCESS"
    assert done["audienceName"] == "Spring buyers"
    assert done["updatedAt"] == EPOCH + 2
    assert list(emu.audiences) == [done["audienceId"]]
    assert emu.audiences[done["audienceId"]].sandbox == "dev"


async def test_the_documentation_sample_request_is_accepted(http: httpx.AsyncClient) -> None:
    created = await http.post("/external-audience/", json=SAMPLES["create_request"])
    assert created.status_code == 202, created.text
    assert created.json()["operationDetails"]["ttlInDays"] == 40  # sent as "40"


async def test_both_operations_paths_and_the_optional_base_path_answer_alike(
    http: httpx.AsyncClient, emu: Emulator
) -> None:
    op_id = (await http.post("/external-audience/", json=create_body())).json()["operationId"]
    singular = await http.get(f"/external-audience/operations/{op_id}")
    plural = await http.get(f"/external-audiences/operations/{op_id}")
    async with httpx.AsyncClient(
        transport=emu.transport(), base_url="http://anyhost:1", headers=HEADERS
    ) as bare:
        unprefixed = await bare.get(f"/external-audience/operations/{op_id}")
    assert singular.status_code == plural.status_code == unprefixed.status_code == 200
    assert singular.json() == plural.json() == unprefixed.json()


@pytest.mark.parametrize(
    ("source", "status"),
    [
        ({"path": "known/a.csv", "type": "file", "cloudType": "DLZ"}, "SUCCESS"),
        ({"path": "known", "type": "folder", "cloudType": "DLZ"}, "SUCCESS"),
        ({"path": "missing/b.csv", "type": "file", "cloudType": "DLZ"}, "FAILED"),
        ({"path": "known/a", "type": "folder", "cloudType": "DLZ"}, "FAILED"),
    ],
)
async def test_known_paths_decide_whether_the_operation_fails(
    clock: FakeClock, source: dict[str, str], status: str
) -> None:
    emu = Emulator(clock=clock, known_paths={"known/a.csv"})
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS) as http:
        created = await http.post("/external-audience/", json=create_body(sourceSpec=source))
        clock.advance(5)
        op = (
            await http.get(f"/external-audience/operations/{created.json()['operationId']}")
        ).json()
    assert op["status"] == status
    assert ("audienceId" in op) is (status == "SUCCESS")
    assert len(emu.audiences) == (1 if status == "SUCCESS" else 0)


# Headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", list(HEADERS))
async def test_each_missing_header_is_401_100920(
    http: httpx.AsyncClient, emu: Emulator, missing: str
) -> None:
    headers = {k: v for k, v in HEADERS.items() if k != missing}
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE) as bare:
        answer = await bare.post("/external-audience/", json=create_body(), headers=headers)
    assert_ais_error(answer, 401, "100920-401", missing.lower())
    assert emu.operations == {}
    assert emu.create_attempts == {}


async def test_a_non_bearer_authorization_is_400_100911(http: httpx.AsyncClient) -> None:
    answer = await http.get("/external-audience/x/runs", headers={"Authorization": "Basic abc"})
    assert_ais_error(answer, 400, "100911-400", "Bearer")


async def test_an_org_id_not_ending_adobeorg_is_401_100921(http: httpx.AsyncClient) -> None:
    answer = await http.get("/external-audience/x/runs", headers={"x-gw-ims-org-id": "acme"})
    assert_ais_error(answer, 401, "100921-401", "@AdobeOrg")


# Create validation -------------------------------------------------------------------------

_FIELD = {"name": "f", "type": "string"}
_ID_FIELD = {"name": "id", "type": "string", "identityNs": "email"}


def _source(**params: Any) -> dict[str, Any]:
    """A create body whose source params are changed (`None` removes a key)."""
    source = {**CREATE_BODY["sourceSpec"]["params"], **params}
    return create_body(sourceSpec={"params": {k: v for k, v in source.items() if v is not None}})


def _without(key: str) -> dict[str, Any]:
    body = create_body()
    del body[key]
    return body


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (create_body(name=""), "name"),
        (_without("name"), "name"),
        (_without("fields"), "fields"),
        (create_body(fields=[]), "1 to 41"),
        (create_body(fields=[_ID_FIELD] + [{**_FIELD, "name": f"f{i}"} for i in range(41)]), "41"),
        (create_body(fields=[_FIELD]), "identityNs"),
        (create_body(fields=[_ID_FIELD, {**_ID_FIELD, "name": "id"}]), "unique"),
        (create_body(fields=[{**_ID_FIELD, "type": "text"}]), "type"),
        (create_body(fields=[{**_ID_FIELD, "identity_ns": "x"}]), "identity_ns"),
        (_without("sourceSpec"), "sourceSpec"),
        (_source(type="blob"), "'file'"),
        (_source(path="a b.csv"), "spaces"),
        (_source(cloudType=None), "cloudType is required"),
        (_source(cloudType="Box"), "cloudType"),
        (_source(cloudType="DLZ", baseConnectionId="c-1"), "must not be included"),
        (_source(cloudType="Azure", baseConnectionId="c-1"), "must not be included"),
        (_source(cloudType="GCS"), "baseConnectionId is required"),
        (_source(cloudType="SFTP"), "baseConnectionId is required"),
        # Encryption lives inside params only (the newest docs revision).
        (create_body(encryption={"publicKeyId": "k"}), "'encryption'"),
        (
            create_body(
                sourceSpec={"params": CREATE_BODY["sourceSpec"]["params"], "encryption": {}}
            ),
            "beside params",
        ),
        (_source(encryption={"signVerificationKeyId": "s"}), "publicKeyId"),
        (_source(encryption={"publicKeyId": ""}), "publicKeyId"),
        (_source(encryption={"publicKeyId": "k", "publicKey": "x"}), "'publicKey'"),
        (_source(encryption="k"), "JSON object"),
        (create_body(expressActivation="true"), "expressActivation"),
        (create_body(expressActivation=1), "expressActivation"),
        (
            create_body(sourceSpec={"params": {"path": "a", "type": "file", "cloudType": "Box"}}),
            "cloudType",
        ),
        (
            create_body(sourceSpec={"params": {"path": "a", "type": "file", "cloudType": "S3"}}),
            "baseConnectionId",
        ),
        (create_body(customAudienceId="1abc"), "customAudienceId"),
        (create_body(ttlInDays=0), "1 to 90"),
        (create_body(ttlInDays=91), "1 to 90"),
        (create_body(ttlInDays="forty"), "1 to 90"),
        (create_body(ttlInDays=True), "1 to 90"),
        (_without("originName"), "originName"),
        (create_body(audienceType="accounts"), "people"),
        (create_body(ttl_in_days=40), "ttl_in_days"),
        (create_body(labels=["ok", ""]), "labels"),
        ([create_body()], "JSON object"),
    ],
)
async def test_invalid_create_requests_are_400_100910_and_create_nothing(
    http: httpx.AsyncClient, emu: Emulator, body: Any, words: str
) -> None:
    answer = await http.post("/external-audience/", json=body)
    assert_ais_error(answer, 400, "100910-400", words)
    assert emu.operations == {}


@pytest.mark.parametrize(
    ("content", "content_type", "words"),
    [(b"{not json", "application/json", "not valid JSON"), (b"{}", "text/plain", "Content-Type")],
)
async def test_bodies_that_are_not_json_are_400(
    http: httpx.AsyncClient, content: bytes, content_type: str, words: str
) -> None:
    answer = await http.post(
        "/external-audience/", content=content, headers={"content-type": content_type}
    )
    assert_ais_error(answer, 400, "100910-400", words)


@pytest.mark.parametrize(
    "overrides",
    [
        {"ttlInDays": 1},
        {"ttlInDays": 90},
        {"fields": [_ID_FIELD] + [{**_FIELD, "name": f"f{i}"} for i in range(40)]},
        {"sourceSpec": {"path": "bare/spec.csv", "type": "file", "cloudType": "DLZ"}},
        {"sourceSpec": {"params": {"path": "a", "type": "file", "cloudType": "Azure"}}},
        {"customAudienceId": "$_a1"},
        {"fields": [_ID_FIELD, {**_ID_FIELD, "name": "b", "identityNs": "ECID"}]},
        {"fields": [{**_ID_FIELD, "name": f"id{i}"} for i in range(41)]},
    ],
)
async def test_boundary_values_are_accepted(
    http: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    answer = await http.post("/external-audience/", json=create_body(**overrides))
    assert answer.status_code == 202, answer.text


# Duplicates, unknown ids, sandboxes ----------------------------------------------------------


async def test_a_duplicate_name_is_409_while_processing_and_after(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator
) -> None:
    assert (await http.post("/external-audience/", json=create_body())).status_code == 202
    assert_ais_error(
        await http.post("/external-audience/", json=create_body()), 409, "100950-409", "exists"
    )
    clock.advance(5)
    assert_ais_error(
        await http.post("/external-audience/", json=create_body()), 409, "100950-409", "exists"
    )
    assert len(emu.operations) == 1
    assert emu.create_attempts == {"Spring buyers": 3}


async def test_a_name_is_free_again_after_delete_and_in_other_sandboxes(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    audience_id = await new_audience(http, clock)
    other = await http.post(
        "/external-audience/", json=create_body(), headers={"x-sandbox-name": "prod"}
    )
    assert other.status_code == 202
    assert (await http.delete(f"/external-audience/{audience_id}")).status_code == 204
    assert (await http.post("/external-audience/", json=create_body())).status_code == 202


async def test_a_duplicate_custom_audience_id_is_409(http: httpx.AsyncClient) -> None:
    await http.post("/external-audience/", json=create_body(customAudienceId="abc"))
    answer = await http.post(
        "/external-audience/", json=create_body(name="B", customAudienceId="abc")
    )
    assert_ais_error(answer, 409, "100950-409", "customAudienceId")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/external-audience/operations/nope", None),
        ("GET", "/external-audiences/operations/nope", None),
        ("PATCH", "/external-audience/nope", {"description": "x"}),
        ("DELETE", "/external-audience/nope", None),
        ("POST", "/external-audience/extend-ttl/nope", None),
        ("POST", "/external-audience/nope/runs", {"dataFilterStartTime": 1}),
        ("GET", "/external-audience/nope/runs", None),
        ("GET", "/external-audience/nope/runs/nope", None),
    ],
)
async def test_unknown_ids_are_404_100940(
    http: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    answer = await http.request(method, path, json=body)
    assert_ais_error(answer, 404, "100940-404", "not found")


async def test_an_unknown_run_of_a_known_audience_is_404(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    audience_id = await new_audience(http, clock)
    answer = await http.get(f"/external-audience/{audience_id}/runs/nope")
    assert_ais_error(answer, 404, "100940-404", "run nope")


async def test_an_audience_is_invisible_from_another_sandbox_or_org(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator
) -> None:
    audience_id = await new_audience(http, clock)
    op_id = next(iter(emu.operations))
    for other in ({"x-sandbox-name": "prod"}, {"x-gw-ims-org-id": "OTHER@AdobeOrg"}):
        for method, path, body in [
            ("GET", f"/external-audience/operations/{op_id}", None),
            ("PATCH", f"/external-audience/{audience_id}", {"description": "x"}),
            ("DELETE", f"/external-audience/{audience_id}", None),
            ("POST", f"/external-audience/extend-ttl/{audience_id}", None),
            ("POST", f"/external-audience/{audience_id}/runs", {"dataFilterStartTime": 1}),
            ("GET", f"/external-audience/{audience_id}/runs", None),
        ]:
            answer = await http.request(method, path, json=body, headers=other)
            assert answer.status_code == 404, (other, method, path)
    assert audience_id in emu.audiences
    assert emu.runs == {}


# Update, delete, extend ------------------------------------------------------------------------


async def test_patch_replaces_what_is_sent_and_restarts_expiry(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator
) -> None:
    audience_id = await new_audience(http, clock)
    clock.advance(1000)
    answer = await http.patch(
        f"/external-audience/{audience_id}",
        json={
            "description": "new",
            "labels": ["core/C1"],
            "fields": [{"name": "list_id", "labels": ["core/C5"]}, {"name": "ppid"}],
            "ttlInDays": "7",
        },
    )
    assert answer.status_code == 200, answer.text
    audience = answer.json()
    assert audience["audienceId"] == audience_id
    assert audience["audienceName"] == "Spring buyers"
    assert audience["description"] == "new"
    assert audience["labels"] == ["core/C1"]
    assert audience["ttlInDays"] == 7
    assert audience["fields"] == [
        {"name": "ppid", "type": "string", "identityNs": "email"},
        {"name": "list_id", "type": "string", "labels": ["core/C5"]},
    ]
    assert audience["sourceSpec"] == {
        "path": "activation/spring/buyers.csv",
        "type": "file",
        "cloudType": "DLZ",
    }
    assert audience["updatedAt"] == EPOCH + 1010
    assert emu.audiences[audience_id].expires_at == EPOCH + 1010 + 7 * 86400

    cleared = await http.patch(f"/external-audience/{audience_id}", json={"description": None})
    assert "description" not in cleared.json()
    # The operation still shows what the create asked for.
    op = (await http.get(f"/external-audience/operations/{next(iter(emu.operations))}")).json()
    assert op["operationDetails"]["ttlInDays"] == 30
    assert op["operationDetails"]["fields"][1]["labels"] == ["core/C2"]


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({}, 400, "100910-400", "nothing to update"),
        ({"name": "renamed"}, 400, "100910-400", "'name' cannot be updated"),
        ({"ttlInDays": 91}, 400, "100910-400", "1 to 90"),
        ({"labels": "core/C1"}, 400, "100910-400", "labels"),
        ({"fields": [{"name": "nope", "labels": []}]}, 422, "100960-422", "no field 'nope'"),
        ({"fields": [{"name": "ppid", "type": "number"}]}, 422, "100960-422", "only the labels"),
    ],
)
async def test_invalid_patches_are_refused_and_change_nothing(
    http: httpx.AsyncClient,
    clock: FakeClock,
    emu: Emulator,
    body: dict[str, Any],
    status: int,
    code: str,
    words: str,
) -> None:
    audience_id = await new_audience(http, clock)
    before = emu.audiences[audience_id].wire()
    answer = await http.patch(f"/external-audience/{audience_id}", json=body)
    assert_ais_error(answer, status, code, words)
    assert emu.audiences[audience_id].wire() == before


async def test_delete_is_204_and_the_audience_is_gone(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator
) -> None:
    audience_id = await new_audience(http, clock)
    answer = await http.delete(f"/external-audience/{audience_id}/")  # the sample's slash
    assert answer.status_code == 204
    assert answer.content == b""
    assert audience_id not in emu.audiences
    assert (await http.get(f"/external-audience/{audience_id}/runs")).status_code == 404
    op = (await http.get(f"/external-audience/operations/{next(iter(emu.operations))}")).json()
    assert op["status"] == "SUCCESS"


async def test_extend_ttl_answers_id_and_name_and_pushes_expiry(
    http: httpx.AsyncClient, clock: FakeClock, emu: Emulator
) -> None:
    audience_id = await new_audience(http, clock)
    before = emu.audiences[audience_id].expires_at
    answer = await http.post(f"/external-audience/extend-ttl/{audience_id}")
    assert answer.status_code == 200
    assert answer.json() == {"audienceId": audience_id, "name": "Spring buyers"}
    assert emu.audiences[audience_id].expires_at == before + 30 * 86400


async def test_unknown_routes_are_404_and_wrong_methods_405(http: httpx.AsyncClient) -> None:
    assert (await http.get("/nothing/here")).status_code == 404
    assert (await http.put("/external-audience/abc")).status_code == 405
    assert (await http.get("/external-audience/")).status_code == 405


async def test_every_answer_is_logged_with_a_request_id(
    http: httpx.AsyncClient, emu: Emulator
) -> None:
    first = await http.post("/external-audience/", json=create_body())
    second = await http.get("/external-audience/operations/nope")
    assert first.headers["x-request-id"] == "emu-000001"
    assert second.headers["x-request-id"] == "emu-000002"
    assert second.json()["report"] == {"requestId": "emu-000002"}
    assert emu.request_log == [
        ("POST", "/external-audience/", 202),
        ("GET", "/external-audience/operations/nope", 404),
    ]


async def test_a_failed_creation_frees_its_name(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, known_paths=set())
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS) as http:
        assert (await http.post("/external-audience/", json=create_body())).status_code == 202
        assert (await http.post("/external-audience/", json=create_body())).status_code == 409
        clock.advance(2)
        assert (await http.post("/external-audience/", json=create_body())).status_code == 202
    assert [op.status(clock.now()) for op in emu.operations.values()] == ["FAILED", "PROCESSING"]


async def test_with_no_clock_it_runs_on_real_time() -> None:
    emu = Emulator(operation_time=0.0)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=HEADERS) as http:
        created = await http.post("/external-audience/", json=create_body())
        op = await http.get(f"/external-audience/operations/{created.json()['operationId']}")
    assert op.json()["status"] == "SUCCESS"
    assert abs(op.json()["createdAt"] - time.time()) < 60


def test_state_views_are_read_only(emu: Emulator) -> None:
    with pytest.raises(TypeError):
        emu.audiences["x"] = emu.audiences.get("y")  # type: ignore[index]
    with pytest.raises(TypeError):
        del emu.operations["x"]  # type: ignore[attr-defined]
