"""Cancellation at random moments leaves nothing behind in the connection pool.

Over a real socket (the served emulator), under asyncio (native `Task.cancel()` and
`asyncio.wait_for`) and trio (cancel scopes). httpcore 1.0.x leaks pool entries when a
native cancel lands while a response is being closed; the transport contains it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import anyio
import httpx
import pytest

import aep_ais
from aep_ais.testing import Emulator, FakeClock, running_server
from tests.conftest import spec

CANCELLATIONS = 300


def _client(base_url: str) -> aep_ais.AISClient:
    return aep_ais.AISClient(
        org_id="0123456789ABCDEF01234567@AdobeOrg",
        sandbox="dev",
        auth=aep_ais.StaticToken("static-token"),
        api_key="my-api-key",
        clock=FakeClock(),
        base_url=base_url,
    )


def _pool(ais: aep_ais.AISClient) -> Any:
    http: httpx.AsyncClient = ais._transport._http
    return http._transport._pool  # type: ignore[attr-defined]


def _assert_pool_clean(ais: aep_ais.AISClient) -> None:
    pool = _pool(ais)
    assert list(pool._requests) == [], pool
    busy = [c for c in pool.connections if not (c.is_idle() or c.is_closed())]
    assert busy == [], pool


async def _hundred_and_twenty(ais: aep_ais.AISClient, operation_id: str) -> None:
    results: list[aep_ais.Operation] = []

    async def one() -> None:
        results.append(await ais.get_operation(operation_id))

    with anyio.fail_after(60):  # a leaked pool would make these wait for good
        async with anyio.create_task_group() as group:
            for _ in range(120):
                group.start_soon(one)
    assert len(results) == 120


async def test_native_asyncio_cancellations_leave_no_pool_entry() -> None:
    emu = Emulator(clock=FakeClock(), guardrails=False)
    rng = random.Random(20261201)
    with running_server(emu) as base_url:
        async with _client(base_url) as ais:
            op = await ais.create_audience(spec())
            for i in range(CANCELLATIONS):
                call = ais.get_operation(op.operation_id)
                if i % 2:
                    # `asyncio.wait_for` with a timeout that lands anywhere in the call.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(call, timeout=rng.uniform(0.0, 0.004))
                    continue
                task = asyncio.ensure_future(call)
                for _ in range(rng.randrange(60)):
                    await asyncio.sleep(0)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            _assert_pool_clean(ais)
            await _hundred_and_twenty(ais, op.operation_id)
            _assert_pool_clean(ais)


def test_trio_cancellations_leave_no_pool_entry() -> None:
    async def main() -> None:
        emu = Emulator(clock=FakeClock(), guardrails=False)
        rng = random.Random(20261202)
        with running_server(emu) as base_url:
            async with _client(base_url) as ais:
                op = await ais.create_audience(spec())
                for _ in range(CANCELLATIONS // 2):
                    with anyio.move_on_after(rng.uniform(0.0, 0.004)):
                        await ais.get_operation(op.operation_id)
                _assert_pool_clean(ais)
                await _hundred_and_twenty(ais, op.operation_id)
                _assert_pool_clean(ais)

    anyio.run(main, backend="trio")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_cancelled_call_is_cancelled_not_an_error(backend: str) -> None:
    """The child task that holds the exchange hands back errors and cancellation as they were."""

    async def main() -> None:
        emu = Emulator(clock=FakeClock())
        with running_server(emu) as base_url:
            async with _client(base_url) as ais:
                with pytest.raises(aep_ais.NotFoundError):
                    await ais.get_operation("no-such-operation")
                with anyio.CancelScope() as scope:
                    scope.cancel()
                    await ais.get_operation("no-such-operation")
                assert scope.cancelled_caught

    anyio.run(main, backend=backend)
