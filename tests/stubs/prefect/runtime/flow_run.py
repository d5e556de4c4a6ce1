"""Stub of `prefect.runtime.flow_run`: set by the stub's `flow` while one runs."""

from __future__ import annotations

from datetime import datetime

scheduled_start_time: datetime | None = None
