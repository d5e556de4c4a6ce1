"""Reading answers: a body that does not fit is a `MalformedResponseError` in public words."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import aep_ais
from aep_ais._answers import decode_answer

from .conftest import RUN_ID


def _answer(body: Any) -> httpx.Response:
    request = httpx.Request("GET", "https://platform.adobe.io/x")
    return httpx.Response(200, content=json.dumps(body).encode(), request=request)


@pytest.mark.parametrize(
    "body",
    [
        {"runId": RUN_ID, "createdAt": "yesterday"},  # a hook's own error
        {"runId": RUN_ID, "details": "x"},
        {"runId": RUN_ID, "status": 7},
    ],
)
def test_an_answer_that_does_not_fit_names_no_private_class(body: Any) -> None:
    with pytest.raises(aep_ais.MalformedResponseError) as info:
        decode_answer(_answer(body), aep_ais.IngestionRun, "GET", "/x")
    message = str(info.value)
    assert "does not fit IngestionRun (TypeError)" in message
    assert "_WrongValueError" not in message and "aep_ais._" not in message


def test_an_answer_that_is_not_json_says_so() -> None:
    request = httpx.Request("GET", "https://platform.adobe.io/x")
    response = httpx.Response(200, content=b"{nope", request=request)
    with pytest.raises(aep_ais.MalformedResponseError) as info:
        decode_answer(response, aep_ais.IngestionRun, "GET", "/x")
    assert "is not JSON (expected IngestionRun) (JSONDecodeError)" in str(info.value)
