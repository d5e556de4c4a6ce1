"""The in-process httpx transport: requests go straight to the emulator, no socket."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["EmulatorTransport"]


class EmulatorTransport(httpx.AsyncBaseTransport):
    """Answers every request from an `Emulator`, whatever the host.

    A `drop` fault raises what a real network would: `httpx.ConnectError` when it hits
    before the request is handled (nothing reached the server), `httpx.ReadError` when
    it hits after (the server acted, the answer was lost).
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        query = urllib.parse.parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw}
        reply = await self.emulator.handle(request.method, request.url.path, query, headers, body)
        if reply.drop == "before":
            raise httpx.ConnectError("emulated fault: connection refused", request=request)
        if reply.drop == "after":
            raise httpx.ReadError("emulated fault: connection lost after sending", request=request)
        return httpx.Response(
            reply.status, headers=reply.headers, content=reply.body, request=request
        )
