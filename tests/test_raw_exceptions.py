"""Misuse gets a `ValidationError` at the earliest point, never a raw Python exception."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock, running_server
from tests.conftest import AUDIENCE_ID, RUN_ID

ORG = "0123456789ABCDEF01234567@AdobeOrg"


def _client(**overrides: Any) -> aep_ais.AISClient:
    kwargs: dict[str, Any] = {
        "org_id": ORG,
        "auth": aep_ais.StaticToken("tok"),
        "api_key": "key",
        "transport": httpx.MockTransport(lambda request: httpx.Response(404)),
    }
    kwargs.update(overrides)
    return aep_ais.AISClient(**kwargs)


@pytest.mark.parametrize("token", ["tökén", "tok\u00a0en", "t\u200bok", "токен", "tok\x7f"])
def test_a_non_ascii_static_token_is_refused_at_construction(token: str) -> None:
    with pytest.raises(aep_ais.ValidationError, match="token"):
        aep_ais.StaticToken(token)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "30", -5, 0, 0.0, True, [30]])
async def test_a_bad_timeout_is_refused_at_construction(bad: object) -> None:
    with pytest.raises(aep_ais.ValidationError, match="timeout"):
        _client(timeout=bad)
    async with _client() as ais:
        with pytest.raises(aep_ais.ValidationError, match="timeout"):
            ais.with_options(timeout=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    ["x", "", "/../../admin", "/external-audience/../x", "/a/./b", "/a?b=1", "/a#b", "/a//b", 3],
)
def test_a_bad_operations_path_is_refused_at_construction(path: object) -> None:
    with pytest.raises(aep_ais.ValidationError, match="operations_path"):
        _client(operations_path=path)


def test_a_good_operations_path_is_kept_without_its_trailing_slash() -> None:
    ais = _client(operations_path="/external-audiences/operations/")
    assert ais._operations_path == "/external-audiences/operations"


@pytest.mark.parametrize("own_client", [False, True], ids=["sdk-client", "user-client"])
async def test_a_client_used_after_aclose_says_so(own_client: bool) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    ais = _client(http_client=http, transport=None) if own_client else _client()
    await ais.aclose()
    await http.aclose()
    for call in (ais.get_run(AUDIENCE_ID, RUN_ID), ais.with_options().get_run(AUDIENCE_ID, RUN_ID)):
        with pytest.raises(aep_ais.ValidationError, match="closed"):
            await call


@pytest.mark.parametrize("second", ["asyncio", "trio"])
def test_a_client_used_from_a_second_event_loop_says_so(second: str) -> None:
    import anyio

    emu = Emulator(clock=FakeClock())
    with running_server(emu) as base_url:
        ais = _client(transport=None, base_url=base_url)

        async def call() -> None:
            with pytest.raises(aep_ais.NotFoundError):
                await ais.get_run(AUDIENCE_ID, RUN_ID)

        first = asyncio.new_event_loop()
        try:
            first.run_until_complete(call())

            async def again() -> None:
                with pytest.raises(aep_ais.ValidationError, match="event loop"):
                    await ais.get_run(AUDIENCE_ID, RUN_ID)

            anyio.run(again, backend=second)
            first.run_until_complete(ais.aclose())
        finally:
            first.close()
