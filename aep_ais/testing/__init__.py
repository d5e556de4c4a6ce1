"""Test support for users of `aep_ais`: virtual time and an emulator of the API."""

from ._clock import FakeClock
from ._emulator import Emulator
from ._faults import Fault, FaultPlan
from ._records import AudienceRecord, OperationRecord, RunRecord
from ._server import running_server, serve
from ._tokens import TokenRecord

__all__ = [
    "AudienceRecord",
    "Emulator",
    "FakeClock",
    "Fault",
    "FaultPlan",
    "OperationRecord",
    "RunRecord",
    "TokenRecord",
    "running_server",
    "serve",
]
