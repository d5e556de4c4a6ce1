"""Error mapping: status and platform code -> exception class, body shapes, bad answers."""

from __future__ import annotations

import json
import pickle
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx

import aep_ais
from aep_ais._errors import error_for_status, parse_error_body
from tests.conftest import AUDIENCE_ID, OPERATION_ID, RUN_ID, TOKEN

RUN_PATH = f"/external-audience/{AUDIENCE_ID}/runs/{RUN_ID}"


@pytest.fixture
async def ais(
    api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient]
) -> AsyncIterator[aep_ais.AISClient]:
    """A client that never retries, so each test sees exactly one answer per call."""
    async with make_client(retry=aep_ais.RetryPolicy(max_attempts=1)) as client:
        yield client


# Every platform error code of the API's appendix, and the gateway codes of the platform
# notes: (code, status, message, class).
PLATFORM_CODES = [
    ("100910-400", 400, "BAD_REQUEST", aep_ais.BadRequestError),
    ("100911-400", 400, "BAD_REQUEST", aep_ais.BadRequestError),
    ("100920-401", 401, "UNAUTHORIZED", aep_ais.AuthenticationError),
    ("100921-401", 401, "UNAUTHORIZED", aep_ais.AuthenticationError),
    ("100922-401", 401, "UNAUTHORIZED", aep_ais.AuthenticationError),
    ("100940-404", 404, "NOT_FOUND", aep_ais.NotFoundError),
    ("100950-409", 409, "DUPLICATE_RESOURCE", aep_ais.ConflictError),
    ("100960-422", 422, "UNPROCESSABLE_ENTITY", aep_ais.UnprocessableEntityError),
    ("100970-500", 500, "INTERNAL_SERVER_ERROR", aep_ais.InternalServerError),
    ("100970-502", 502, "BAD_GATEWAY", aep_ais.BadGatewayError),
    ("403010", 403, "Oauth token is missing", aep_ais.PermissionDeniedError),
    ("401013", 401, "Oauth token is not valid", aep_ais.AuthenticationError),
    ("403000", 403, "Api Key is required", aep_ais.PermissionDeniedError),
    ("403003", 403, "Api Key is invalid", aep_ais.PermissionDeniedError),
    ("400003", 400, "Missing x-gw-ims-org-id header", aep_ais.BadRequestError),
    ("403025", 403, "Profile is not valid", aep_ais.PermissionDeniedError),
    ("403027", 403, "User region is missing", aep_ais.PermissionDeniedError),
]


@pytest.mark.parametrize(
    ("code", "status", "message", "cls"), PLATFORM_CODES, ids=[c[0] for c in PLATFORM_CODES]
)
async def test_platform_error_codes(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    code: str,
    status: int,
    message: str,
    cls: type[aep_ais.APIError],
) -> None:
    body = {"error_code": code, "message": message}
    route = api.get(RUN_PATH, name="run").respond(
        status, json=body, headers={"x-request-id": "req-123"}
    )

    with pytest.raises(cls) as info:
        await ais.get_run(AUDIENCE_ID, RUN_ID)

    err = info.value
    assert type(err) is cls
    assert isinstance(err, aep_ais.APIError)
    assert err.status_code == status
    assert err.error_code == code
    assert err.message == message
    assert err.detail is None
    assert err.request_id == "req-123"
    assert err.body == body
    assert err.method == "GET"
    assert err.path == RUN_PATH
    assert err.server_may_have_acted is (status >= 500)
    text = str(err)
    assert code in text
    assert message in text
    assert "req-123" in text
    assert f"HTTP {status}" in text
    assert TOKEN not in text
    assert TOKEN not in repr(err)
    # One attempt each: a 401 would be retried after a refresh, but a static token
    # cannot be refreshed, so the same token is not sent again.
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("body", "code", "message", "detail"),
    [
        (
            {"error_code": "401013", "message": "Oauth token is not valid"},
            "401013",
            "Oauth token is not valid",
            None,
        ),
        (
            {"errorCode": "100940-404", "message": "Audience not found"},
            "100940-404",
            "Audience not found",
            None,
        ),
        (
            {
                "type": "http://ns.adobe.com/aep/errors/100910-400",
                "title": "Bad request",
                "status": 400,
                "detail": "fields[0].type is not supported",
                "report": {"tenantInfo": {"sandboxName": "prod"}},
            },
            "100910-400",
            "Bad request",
            "fields[0].type is not supported",
        ),
        (
            {"type": "http://ns.adobe.com/aep/errors/100910-400", "status": 400, "detail": "bad"},
            "100910-400",
            "bad",
            None,
        ),
        ({"errorMessage": "Something went wrong"}, None, "Something went wrong", None),
        ({"error_code": 100940, "message": "numeric code"}, "100940", "numeric code", None),
        ({"unrelated": 1}, None, None, None),
        (["not", "an", "object"], None, None, None),
        ("plain text", None, None, None),
        (None, None, None, None),
    ],
    ids=[
        "error_code",
        "errorCode",
        "problem-details",
        "problem-details-no-title",
        "errorMessage",
        "numeric-code",
        "unknown-object",
        "list",
        "text",
        "empty",
    ],
)
def test_parse_error_body_shapes(
    body: Any, code: str | None, message: str | None, detail: str | None
) -> None:
    assert parse_error_body(body) == (code, message, detail)


@pytest.mark.parametrize(
    ("body", "code", "message", "detail"),
    [
        ({"error_code": "100940-404", "message": "NOT_FOUND"}, "100940-404", "NOT_FOUND", None),
        ({"errorCode": "100940-404", "message": "NOT_FOUND"}, "100940-404", "NOT_FOUND", None),
        (
            {
                "type": "http://ns.adobe.com/aep/errors/100940-404",
                "title": "Not found",
                "status": 404,
                "detail": "audience 60cc does not exist",
                "report": {},
            },
            "100940-404",
            "Not found",
            "audience 60cc does not exist",
        ),
        ({"errorMessage": "no such audience"}, None, "no such audience", None),
    ],
    ids=["error_code", "errorCode", "problem-details", "errorMessage"],
)
async def test_every_body_shape_fills_the_error(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    body: dict[str, Any],
    code: str | None,
    message: str,
    detail: str | None,
) -> None:
    api.get(RUN_PATH, name="run").respond(404, json=body)

    with pytest.raises(aep_ais.NotFoundError) as info:
        await ais.get_run(AUDIENCE_ID, RUN_ID)

    err = info.value
    assert (err.error_code, err.message, err.detail) == (code, message, detail)
    assert err.body == body
    assert err.request_id is None
    assert message in str(err)
    if detail:
        assert detail in str(err)
    assert "check the id" in str(err)


@pytest.mark.parametrize(
    "header", ["x-request-id", "x-adobe-request-id", "request-id", "x-correlation-id"]
)
async def test_request_id_from_any_request_id_header(
    api: respx.MockRouter, ais: aep_ais.AISClient, header: str
) -> None:
    api.get(RUN_PATH, name="run").respond(400, json={}, headers={header: "abc-42"})
    with pytest.raises(aep_ais.BadRequestError) as info:
        await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert info.value.request_id == "abc-42"


async def test_html_502_page(api: respx.MockRouter, ais: aep_ais.AISClient) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    api.get(RUN_PATH, name="run").respond(502, html=page)

    with pytest.raises(aep_ais.BadGatewayError) as info:
        await ais.get_run(AUDIENCE_ID, RUN_ID)

    err = info.value
    assert isinstance(err, aep_ais.ServerError)
    assert err.status_code == 502
    assert err.error_code is None
    assert err.message == "Bad Gateway"
    assert err.body == page
    assert err.server_may_have_acted is True
    assert "HTTP 502" in str(err)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, aep_ais.BadRequestError),
        (401, aep_ais.AuthenticationError),
        (403, aep_ais.PermissionDeniedError),
        (404, aep_ais.NotFoundError),
        (409, aep_ais.ConflictError),
        (418, aep_ais.APIError),
        (422, aep_ais.UnprocessableEntityError),
        (429, aep_ais.RateLimitError),
        (500, aep_ais.InternalServerError),
        (501, aep_ais.ServerError),
        (502, aep_ais.BadGatewayError),
        (503, aep_ais.ServiceUnavailableError),
        (504, aep_ais.GatewayTimeoutError),
        (599, aep_ais.ServerError),
    ],
)
def test_status_to_class(status: int, cls: type[aep_ais.APIError]) -> None:
    assert error_for_status(status) is cls


async def test_empty_error_body_uses_the_reason_phrase(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.delete(f"/external-audience/{AUDIENCE_ID}", name="delete").respond(409)
    with pytest.raises(aep_ais.ConflictError) as info:
        await ais.delete_audience(AUDIENCE_ID)
    assert info.value.message == "Conflict"
    assert info.value.body is None
    assert info.value.server_may_have_acted is False


async def test_rate_limit_error_carries_retry_after(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.get(RUN_PATH, name="run").respond(429, json={}, headers={"Retry-After": "7"})
    with pytest.raises(aep_ais.RateLimitError) as info:
        await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert info.value.retry_after == 7.0
    assert info.value.message == "Too Many Requests"


# Answers with a good status but a bad body ---------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"operationId": "df8cd82f", "status": "SUCC',
        b"",
        b"<html>oops</html>",
        b"\xff\xfe\x00garbage",
    ],
    ids=["truncated", "empty", "html", "not-utf8"],
)
async def test_unreadable_200_body_is_malformed(
    api: respx.MockRouter, ais: aep_ais.AISClient, content: bytes
) -> None:
    api.get(f"/external-audience/operations/{OPERATION_ID}", name="op").respond(
        200, content=content, headers={"x-request-id": "r-1"}
    )

    with pytest.raises(aep_ais.MalformedResponseError) as info:
        await ais.get_operation(OPERATION_ID)

    err = info.value
    assert isinstance(err, aep_ais.APIError)
    assert err.status_code == 200
    assert err.request_id == "r-1"
    assert "not JSON" in err.message
    assert "Operation" in err.message
    assert isinstance(err.__cause__, ValueError)


@pytest.mark.parametrize(
    "body",
    [
        [],
        "a string",
        None,
        {},
        {"status": "SUCCESS"},
        {"operationId": None},
        {"operationId": ["x"]},
        {"operationId": "op", "createdAt": "yesterday"},
        {"operationId": "op", "createdAt": 1e300},
        {"operationId": "op", "createdAt": True},
        {"operationId": "op", "status": 3},
    ],
    ids=[
        "list",
        "string",
        "null",
        "empty-object",
        "missing-id",
        "null-id",
        "list-id",
        "bad-timestamp",
        "huge-timestamp",
        "bool-timestamp",
        "numeric-status",
    ],
)
async def test_wrong_shape_200_body_is_malformed(
    api: respx.MockRouter, ais: aep_ais.AISClient, body: Any
) -> None:
    # Sent as raw content: respx treats `json=None` as "no body".
    api.get(f"/external-audience/operations/{OPERATION_ID}", name="op").respond(
        200, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )

    with pytest.raises(aep_ais.MalformedResponseError) as info:
        await ais.get_operation(OPERATION_ID)

    err = info.value
    assert err.status_code == 200
    assert err.body == body
    assert "Operation" in err.message
    assert "not JSON" not in err.message


@pytest.mark.parametrize(
    "body",
    [
        {"runs": "none"},
        {"runs": [{"runId": "r", "details": [{"status": "SUCCESS"}]}]},
        {"runs": [{"runId": "r", "differentialIngestion": "yes"}]},
        {"runs": [], "_page": []},
        {"runs": [{"runId": "r", "dataFilterStartTime": {"s": 1}}]},
    ],
    ids=["runs-string", "stage-without-name", "bool-as-string", "page-list", "timestamp-object"],
)
async def test_wrong_shape_run_listing_is_malformed(
    api: respx.MockRouter, ais: aep_ais.AISClient, body: Any
) -> None:
    api.get(f"/external-audience/{AUDIENCE_ID}/runs", name="list").respond(200, json=body)
    with pytest.raises(aep_ais.MalformedResponseError):
        await ais.list_runs(AUDIENCE_ID)


async def test_wrong_shape_on_a_create_says_the_server_may_have_acted(
    api: respx.MockRouter,
    ais: aep_ais.AISClient,
    make_spec: Callable[..., aep_ais.AudienceSpec],
) -> None:
    route = api.post("/external-audience/", name="create").respond(202, json={"weird": 1})
    with pytest.raises(aep_ais.MalformedResponseError) as info:
        await ais.create_audience(make_spec())
    assert route.call_count == 1
    assert info.value.server_may_have_acted is True
    assert info.value.method == "POST"


# Errors that are not answers ----------------------------------------------------------


def test_hierarchy() -> None:
    assert issubclass(aep_ais.ValidationError, ValueError)
    assert issubclass(aep_ais.ValidationError, aep_ais.AISError)
    assert issubclass(aep_ais.APITimeoutError, aep_ais.APIConnectionError)
    assert issubclass(aep_ais.MalformedResponseError, aep_ais.APIError)
    for cls in (
        aep_ais.InternalServerError,
        aep_ais.BadGatewayError,
        aep_ais.ServiceUnavailableError,
        aep_ais.GatewayTimeoutError,
    ):
        assert issubclass(cls, aep_ais.ServerError)
    for base_child in (
        aep_ais.APIError,
        aep_ais.APIConnectionError,
        aep_ais.TokenError,
        aep_ais.OperationFailedError,
        aep_ais.RunFailedError,
        aep_ais.RunInProgressError,
        aep_ais.WaitTimeoutError,
    ):
        assert issubclass(base_child, aep_ais.AISError)


def test_failure_errors_carry_their_state() -> None:
    op = aep_ais.Operation(
        operation_id=OPERATION_ID, status=aep_ais.OperationStatus.FAILED, audience_name="Spring"
    )
    err = aep_ais.OperationFailedError(op)
    assert err.operation is op
    assert err.operation_id == OPERATION_ID
    assert str(err) == f"operation {OPERATION_ID} failed for audience 'Spring'"

    run = aep_ais.IngestionRun(
        run_id=RUN_ID,
        audience_id=AUDIENCE_ID,
        status=aep_ais.RunStatus.FAILED,
        details=[
            aep_ais.StageStatus(stage="DATASET_INGEST", status=aep_ais.RunStatus.SUCCESS),
            aep_ais.StageStatus(stage="PROFILE_STORE_INGEST", status=aep_ais.RunStatus.FAILED),
        ],
    )
    run_err = aep_ais.RunFailedError(run)
    assert (run_err.run, run_err.audience_id, run_err.run_id) == (run, AUDIENCE_ID, RUN_ID)
    assert "DATASET_INGEST=SUCCESS, PROFILE_STORE_INGEST=FAILED" in str(run_err)


def test_wait_timeout_error_says_how_to_resume() -> None:
    op_err = aep_ais.WaitTimeoutError(
        "operation", timeout=60, operation_id=OPERATION_ID, last_status="PROCESSING"
    )
    assert op_err.operation_id == OPERATION_ID
    assert f"wait_for_operation('{OPERATION_ID}')" in str(op_err)
    assert "after 60s" in str(op_err)
    run_err = aep_ais.WaitTimeoutError("run", timeout=None, audience_id="a1", run_id="r1")
    assert (run_err.audience_id, run_err.run_id) == ("a1", "r1")
    assert "wait_for_run('a1', 'r1')" in str(run_err)


def test_run_in_progress_error_names_the_run() -> None:
    err = aep_ais.RunInProgressError(AUDIENCE_ID, RUN_ID)
    assert (err.audience_id, err.run_id) == (AUDIENCE_ID, RUN_ID)
    assert RUN_ID in str(err)
    assert "if_active" in str(err)


def test_token_error_message() -> None:
    err = aep_ais.TokenError("invalid_client", status_code=401, error_code="invalid_client")
    assert str(err) == "invalid_client (HTTP 401, invalid_client)"
    assert err.status_code == 401


async def test_connection_error_is_wrapped(api: respx.MockRouter, ais: aep_ais.AISClient) -> None:
    api.get(RUN_PATH, name="run").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(aep_ais.APIConnectionError) as info:
        await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert not isinstance(info.value, aep_ais.APITimeoutError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.server_may_have_acted is False
    assert f"GET {RUN_PATH}" in str(info.value)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("labels", "core/C1"), ("tags", {"t": 1}), ("fields", "ppid")],
)
async def test_a_string_or_object_where_a_list_belongs_is_malformed(
    api: respx.MockRouter, ais: aep_ais.AISClient, sample: Any, key: str, value: Any
) -> None:
    # Not split into characters or keys: the answer is wrong, and the user is told.
    body = sample("audience") | {key: value}
    api.patch(f"/external-audience/{AUDIENCE_ID}", name="patch").respond(200, json=body)
    with pytest.raises(aep_ais.MalformedResponseError) as info:
        await ais.update_audience(AUDIENCE_ID, aep_ais.AudienceUpdate(description="d"))
    assert "ExternalAudience" in info.value.message


def _api_error(cls: type[aep_ais.APIError], **extra: Any) -> aep_ais.APIError:
    return cls(
        "NOT_FOUND",
        status_code=404,
        error_code="100940-404",
        detail="gone",
        request_id="r-1",
        body={"error_code": "100940-404"},
        method="POST",
        path="/external-audience/",
        server_may_have_acted=True,
        **extra,
    )


PICKLED = [
    aep_ais.AISError("plain"),
    _api_error(aep_ais.APIError),
    _api_error(aep_ais.NotFoundError),
    _api_error(aep_ais.InternalServerError),
    _api_error(aep_ais.MalformedResponseError),
    _api_error(aep_ais.RateLimitError, retry_after=3.0),
    aep_ais.APIConnectionError("lost", method="POST", path="/p"),
    aep_ais.APITimeoutError("slow", method="GET", path="/g", server_may_have_acted=False),
    aep_ais.ValidationError("name", "must be a non-empty string"),
    aep_ais.ValidationError("AudienceSpec.colour", "unknown key", extra_key="colour"),
    aep_ais.TokenError("refused", status_code=400, error_code="invalid_scope"),
    aep_ais.OperationFailedError(aep_ais.Operation(operation_id=OPERATION_ID, status="FAILED")),
    aep_ais.RunFailedError(aep_ais.IngestionRun(run_id=RUN_ID, audience_id=AUDIENCE_ID)),
    aep_ais.RunInProgressError(AUDIENCE_ID, RUN_ID, detail="409"),
    aep_ais.WaitTimeoutError("run", timeout=60, audience_id=AUDIENCE_ID, run_id=RUN_ID),
]


@pytest.mark.parametrize("error", PICKLED, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling(error: aep_ais.AISError) -> None:
    # Process pools and workflow engines carry exceptions between processes.
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)
