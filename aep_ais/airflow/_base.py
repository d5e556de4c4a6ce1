"""What both operators share: how an SDK error or a trigger event ends a task, the
data-window bounds a template gives, and the base operator (hook, deadline, policy).

How a failure ends the task:

- the operation or run ended `FAILED` (`OperationFailedError`, `RunFailedError`): the
  task fails without retrying (`AirflowFailException`); the message names the stages;
- a wait past its deadline, or any error whose `retryable` is true (connection trouble,
  429, 5xx, a quota that resets): `AirflowException`, so the task's retries apply; a
  retried ingestion task attaches to the run its first try started;
- anything else (validation, other 4xx, a run in progress under `if_active="raise"`):
  `AirflowFailException`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import attrs
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

import aep_ais
from aep_ais import AISClient, AISError, PollPolicy

from ._hook import AEPHook
from ._provider import DEFAULT_CONN_ID
from ._triggers import poll_fields

__all__ = [
    "FIRST_TRY_KEY",
    "OPERATION_KEY",
    "AEPOperator",
    "as_time",
    "aware",
    "event_error",
    "task_error",
]

# The task state store key (kept across a task's tries) of the first try's start.
FIRST_TRY_KEY = "aep_ais_first_try_started_at"
# ... and of the operation a create task started.
OPERATION_KEY = "aep_ais_operation_id"


def task_error(exc: AISError) -> AirflowException:
    """The Airflow exception that ends a task after `exc`: retried only if that may help."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aep_ais.OperationFailedError | aep_ais.RunFailedError):
        return AirflowFailException(message)
    if exc.retryable:
        return AirflowException(message)
    return AirflowFailException(message)


def event_error(event: Mapping[str, Any]) -> NoReturn:
    """Fail the task after a trigger event that is not a success (retryable or not)."""
    message = str(event.get("message") or f"unexpected trigger event {dict(event)!r}")
    if event.get("status") in ("timeout", "error") and event.get("retryable") is True:
        raise AirflowException(message)
    raise AirflowFailException(message)


def as_time(value: object, name: str) -> datetime | int:
    """A data-window bound from a template: a datetime, epoch seconds or an ISO string."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    raise aep_ais.ValidationError(
        name, f"must be a datetime, epoch seconds or an ISO 8601 string, got {value!r}"
    )


def aware(epoch: float | None) -> datetime | None:
    """Epoch seconds as an aware UTC datetime (`None` stays `None`)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def _seconds(value: float | timedelta | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


class AEPOperator(BaseOperator):
    """What both operators share: the hook, the wait's policy and deadline."""

    def __init__(
        self,
        *,
        aep_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = True,
        poll: PollPolicy | None = None,
        wait_timeout: float | timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aep_conn_id = aep_conn_id
        self.deferrable = deferrable
        self.poll = poll
        self.wait_timeout = _seconds(wait_timeout)
        poll_fields(poll)  # a bad policy fails at parse time, not in the triggerer

    def hook(self) -> AEPHook:
        """The hook that builds this task's clients."""
        return AEPHook(self.aep_conn_id)

    def _client(self) -> AISClient:
        # Read the connection here, in sync code, not from inside the event loop.
        try:
            return self.hook().get_conn()
        except AISError as exc:
            raise task_error(exc) from exc

    def _policy(self, ais: AISClient) -> PollPolicy:
        policy = self.poll or ais.poll
        if self.wait_timeout is not None:
            policy = attrs.evolve(policy, timeout=self.wait_timeout)
        return policy

    def _deadline(self, ais: AISClient) -> float | None:
        """The wait's absolute end (epoch seconds), fixed when the task starts it."""
        timeout = self._policy(ais).timeout
        return None if timeout is None else ais.clock.time() + timeout

    def _remaining(self, ais: AISClient, deadline: float | None) -> PollPolicy:
        left = None if deadline is None else max(0.0, deadline - ais.clock.time())
        return attrs.evolve(self._policy(ais), timeout=left)
