"""Stub of `prefect.runtime` (see `tests/stubs/prefect/__init__.py`)."""

from . import flow_run

__all__ = ["flow_run"]
