"""Test support for users of `aep_ais`: virtual time and an emulator of the API.

`Emulator` is a stateful fake of the External Audiences API and its IMS token endpoint.
Use it in-process (`AISClient(..., transport=emulator.transport())`), as an ASGI app
(`emulator.app`) or on a socket (`serve`, or `running_server` in tests), on real time or
on a `FakeClock`. `FaultPlan` injects errors, lost connections and slow answers.
"""

from ._clock import FakeClock
from ._emulator import Emulator
from ._faults import Fault, FaultPlan
from ._records import AudienceRecord, OperationRecord, RunRecord
from ._server import bind_socket, running_server, serve
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
    "bind_socket",
    "running_server",
    "serve",
]
