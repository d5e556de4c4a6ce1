"""A STUB of the few Prefect 3 names that `examples/recipes/prefect_flow.py` uses.

Not Prefect: installing the real package would push CI past its time budget (a large
dependency tree, about 3.5 minutes to install here, and a `fastapi` range that Airflow's
excludes), so `tests/test_recipes.py` puts this folder on `sys.path` when `import prefect`
fails. It keeps the behaviour the recipe relies on: an async task called in an async flow
is awaited in the same event loop; a failed task is tried again up to `retries` times
when `retry_condition_fn(task, task_run, state)` allows it, where `state.result()` raises
the task's exception; `prefect.runtime.flow_run.scheduled_start_time` is set while a
flow runs. Retry delays are recorded in `task.delays`, never slept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import runtime

__all__ = ["flow", "task"]

# When a flow run is scheduled to start; tests set another source of time.
now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


class _FailedState:
    def __init__(self, exc: BaseException) -> None:
        self._exc = exc

    def result(self) -> Any:
        raise self._exc


def task(
    fn: Callable[..., Any] | None = None,
    *,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    retry_condition_fn: Callable[[Any, Any, Any], bool] | None = None,
    **_: Any,
) -> Any:
    def decorate(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        async def run(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(retries + 1):
                run.attempts += 1  # type: ignore[attr-defined]
                try:
                    return await fn(*args, **kwargs)
                except Exception as exc:
                    allowed = retry_condition_fn is None or retry_condition_fn(
                        run, None, _FailedState(exc)
                    )
                    if attempt == retries or not allowed:
                        raise
                    run.delays.append(retry_delay_seconds)  # type: ignore[attr-defined]
            raise AssertionError("unreachable")

        run.attempts = 0  # type: ignore[attr-defined]
        run.delays = []  # type: ignore[attr-defined]
        run.retries = retries  # type: ignore[attr-defined]
        return run

    return decorate(fn) if fn is not None else decorate


def flow(fn: Callable[..., Any] | None = None, **_: Any) -> Any:
    def decorate(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        async def run(*args: Any, **kwargs: Any) -> Any:
            runtime.flow_run.scheduled_start_time = now()
            try:
                return await fn(*args, **kwargs)
            finally:
                runtime.flow_run.scheduled_start_time = None

        return run

    return decorate(fn) if fn is not None else decorate
