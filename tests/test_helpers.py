"""The test suite's own helpers: a wait on a condition fails instead of hanging."""

from __future__ import annotations

import anyio
import pytest

from tests.conftest import until


async def test_until_returns_once_another_task_makes_the_condition_true() -> None:
    done: list[int] = []

    async def worker() -> None:
        for n in range(3):
            await anyio.lowlevel.checkpoint()
            done.append(n)

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        await until(lambda: len(done) == 3)


async def test_until_fails_rather_than_hangs_when_the_condition_never_holds() -> None:
    with pytest.raises(AssertionError, match="never held within 50 scheduler steps"):
        await until(lambda: False, steps=50)
