"""The emulator as a plain ASGI 3 application (no web framework needed)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["EmulatorApp"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class EmulatorApp:
    """ASGI 3 callable serving an `Emulator` (HTTP and lifespan scopes).

    A socket cannot refuse a connection it has already accepted, so a `drop` fault,
    before or after, is approximated: the answer is started and never finished, and the
    server (uvicorn) closes the connection. Clients see a lost connection
    (`httpx.RemoteProtocolError`); the emulator's state still tells whether it acted.
    """

    def __init__(self, emulator: Emulator, *, trickle: float | None = None) -> None:
        self.emulator = emulator
        # Seconds between the bytes of each answer's body (real time: this is a socket).
        self.trickle = trickle

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            raise RuntimeError(f"the emulator serves HTTP only, not {scope['type']!r}")
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        query = urllib.parse.parse_qsl(
            scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
        )
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        reply = await self.emulator.handle(
            scope["method"], scope["path"], query, headers, b"".join(chunks)
        )
        if reply.drop:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"1")],
                }
            )
            return
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        raw_headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        if self.trickle is None or not reply.body:
            await send({"type": "http.response.body", "body": reply.body})
            return
        # A slow server: the answer comes a byte at a time (the client may give up first).
        for i in range(len(reply.body)):
            await anyio.sleep(self.trickle)
            last = i == len(reply.body) - 1
            await send(
                {"type": "http.response.body", "body": reply.body[i : i + 1], "more_body": not last}
            )
