"""`AISError.retryable`: one table over every error class of the SDK and every status.

The hierarchy is walked, so a new error class without an entry here fails the test.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

import aep_ais
from aep_ais._errors import _STATUS_CLASSES, error_for_status
from tests.conftest import AUDIENCE_ID, OPERATION_ID, RUN_ID

RUN_PATH = f"/external-audience/{AUDIENCE_ID}/runs/{RUN_ID}"


def _api(cls: type[aep_ais.APIError], status: int, **extra: Any) -> aep_ais.APIError:
    return cls("boom", status_code=status, method="GET", path="/p", **extra)


_OP = aep_ais.Operation(operation_id=OPERATION_ID, status="FAILED")
_RUN = aep_ais.IngestionRun(run_id=RUN_ID, audience_id=AUDIENCE_ID, status="FAILED")
_RESETS = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)

# Every error class: examples of it and whether each is retryable.
TABLE: dict[type[aep_ais.AISError], list[tuple[aep_ais.AISError, bool]]] = {
    aep_ais.AISError: [(aep_ais.AISError("plain"), False)],
    aep_ais.APIError: [(_api(aep_ais.APIError, 418), False)],
    aep_ais.BadRequestError: [(_api(aep_ais.BadRequestError, 400), False)],
    aep_ais.AuthenticationError: [(_api(aep_ais.AuthenticationError, 401), False)],
    aep_ais.PermissionDeniedError: [(_api(aep_ais.PermissionDeniedError, 403), False)],
    aep_ais.NotFoundError: [(_api(aep_ais.NotFoundError, 404), False)],
    aep_ais.ConflictError: [(_api(aep_ais.ConflictError, 409), False)],
    aep_ais.UnprocessableEntityError: [(_api(aep_ais.UnprocessableEntityError, 422), False)],
    aep_ais.RateLimitError: [(_api(aep_ais.RateLimitError, 429, retry_after=2.0), True)],
    aep_ais.ServerError: [(_api(aep_ais.ServerError, 501), True)],
    aep_ais.InternalServerError: [(_api(aep_ais.InternalServerError, 500), True)],
    aep_ais.BadGatewayError: [(_api(aep_ais.BadGatewayError, 502), True)],
    aep_ais.ServiceUnavailableError: [(_api(aep_ais.ServiceUnavailableError, 503), True)],
    aep_ais.GatewayTimeoutError: [(_api(aep_ais.GatewayTimeoutError, 504), True)],
    # A 2xx the API never promises, or one too big to read: asking again gets the same.
    aep_ais.MalformedResponseError: [(_api(aep_ais.MalformedResponseError, 200), False)],
    aep_ais.ResponseTooLargeError: [
        (_api(aep_ais.ResponseTooLargeError, 200, limit=1024), False)  # type: ignore[arg-type]
    ],
    aep_ais.APIConnectionError: [
        (aep_ais.APIConnectionError("refused", server_may_have_acted=False), True),
        (aep_ais.APIConnectionError("lost", method="POST", path="/p"), True),
    ],
    aep_ais.APITimeoutError: [(aep_ais.APITimeoutError("slow"), True)],
    aep_ais.ValidationError: [(aep_ais.ValidationError("name", "is empty"), False)],
    aep_ais.TokenError: [
        # A refused credential stays refused; a failing or unreachable endpoint may recover.
        (aep_ais.TokenError("invalid_client", status_code=401), False),
        (aep_ais.TokenError("invalid_scope", status_code=400), False),
        (aep_ais.TokenError("no access_token in the answer", status_code=200), False),
        (aep_ais.TokenError("IMS failed", status_code=500), True),
        (aep_ais.TokenError("IMS down", status_code=503), True),
        (aep_ais.TokenError("IMS throttled", status_code=429), True),
        (aep_ais.TokenError("could not reach the token endpoint"), True),
    ],
    aep_ais.OperationFailedError: [(aep_ais.OperationFailedError(_OP), False)],
    aep_ais.RunFailedError: [(aep_ais.RunFailedError(_RUN), False)],
    aep_ais.RunInProgressError: [(aep_ais.RunInProgressError(AUDIENCE_ID, RUN_ID), False)],
    aep_ais.QuotaExceededError: [
        (aep_ais.QuotaExceededError("sandbox", limit=100, sandbox="prod"), True),
        (
            aep_ais.QuotaExceededError(
                "audience", limit=10, sandbox="prod", audience_id=AUDIENCE_ID, resets_at=_RESETS
            ),
            True,
        ),
    ],
    # A journal that cannot be used stays so; a lost create is not sent again on its own;
    # an earlier failure for good stays one.
    aep_ais.JournalError: [(aep_ais.JournalError("read-only", path="/j"), False)],
    aep_ais.AnswerLostError: [(aep_ais.AnswerLostError("the create", index=3, path="/j"), False)],
    aep_ais.EarlierFailureError: [
        (
            aep_ais.EarlierFailureError(index=3, error_type="RunFailedError", error_message="x"),
            False,
        )
    ],
    aep_ais.WaitTimeoutError: [
        (aep_ais.WaitTimeoutError("run", timeout=60, audience_id=AUDIENCE_ID, run_id=RUN_ID), True)
    ],
}


def _sdk_classes(cls: type[aep_ais.AISError]) -> Iterator[type[aep_ais.AISError]]:
    if cls.__module__ == "aep_ais":
        yield cls
    for sub in cls.__subclasses__():
        yield from _sdk_classes(sub)


def test_every_error_class_has_an_entry() -> None:
    classes = set(_sdk_classes(aep_ais.AISError))
    assert classes == set(TABLE), "add the new error class to TABLE with its retryable value"
    # By identity: some exported values (the settings tables) are not hashable.
    exported = {id(getattr(aep_ais, n)) for n in aep_ais.__all__}
    assert {id(c) for c in classes} <= exported


CASES = [
    pytest.param(error, expected, id=f"{cls.__name__}-{i}")
    for cls, examples in TABLE.items()
    for i, (error, expected) in enumerate(examples)
]


@pytest.mark.parametrize(("error", "expected"), CASES)
def test_retryable(error: aep_ais.AISError, expected: bool) -> None:
    assert type(error).__module__ == "aep_ais"
    assert error.retryable is expected
    # Workflow engines carry errors between processes: the verdict travels with them.
    assert pickle.loads(pickle.dumps(error)).retryable is expected


# Every status of the status table, and some outside it.
STATUSES = sorted({*_STATUS_CLASSES, 405, 408, 410, 418, 501, 505, 599})


@pytest.mark.parametrize("status", STATUSES)
def test_retryable_by_status(status: int) -> None:
    error = _api(error_for_status(status), status)
    assert error.retryable is (status == 429 or status >= 500)


@pytest.fixture
async def ais(api: respx.MockRouter, make_client: Callable[..., aep_ais.AISClient]) -> Any:
    async with make_client(retry=aep_ais.RetryPolicy(max_attempts=1)) as client:
        yield client


@pytest.mark.parametrize(
    ("status", "expected"), [(400, False), (404, False), (429, True), (503, True)]
)
async def test_an_answered_error_is_retryable_by_its_status(
    api: respx.MockRouter, ais: aep_ais.AISClient, status: int, expected: bool
) -> None:
    api.get(RUN_PATH).respond(status, json={"error_code": f"1-{status}", "message": "m"})
    with pytest.raises(aep_ais.APIError) as info:
        await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert info.value.retryable is expected


async def test_a_connection_failure_is_retryable(
    api: respx.MockRouter, ais: aep_ais.AISClient
) -> None:
    api.get(RUN_PATH).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(aep_ais.APIConnectionError) as info:
        await ais.get_run(AUDIENCE_ID, RUN_ID)
    assert info.value.retryable is True


def test_quota_exceeded_error_carries_what_was_broken() -> None:
    err = aep_ais.QuotaExceededError(
        "audience", limit=10, sandbox="prod", audience_id=AUDIENCE_ID, resets_at=_RESETS
    )
    assert (err.scope, err.limit, err.sandbox, err.audience_id, err.resets_at) == (
        "audience",
        10,
        "prod",
        AUDIENCE_ID,
        _RESETS,
    )
    assert str(err) == (
        f"audience {AUDIENCE_ID} in sandbox 'prod' reached its quota of 10 ingestion runs"
        " a day; a run frees up at 2026-12-02T08:00:00+00:00"
    )
    assert isinstance(err, aep_ais.AISError)
    assert type(err).__module__ == "aep_ais"
