"""Serving the emulator on a real socket with uvicorn (the optional `serve` extra)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["bind_socket", "running_server", "serve"]


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError as exc:
        raise RuntimeError(
            "serving the emulator needs uvicorn: pip install 'aep-ais[serve]'"
        ) from exc
    return uvicorn


def _config(emulator: Emulator, trickle: float | None = None, **kwargs: Any) -> Any:
    app = emulator.app
    if trickle is not None:
        from ._asgi import EmulatorApp

        if not trickle > 0:
            raise ValueError(f"trickle must be a number of seconds above 0, got {trickle!r}")
        app = EmulatorApp(emulator, trickle=trickle)
    return _uvicorn().Config(app, lifespan="on", ws="none", http="h11", interface="asgi3", **kwargs)


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket bound to `host:port` and listening, for `serve(..., sock=...)`.

    Binding first lets a caller report a taken port (`OSError`) before it says anything
    else, and learn the real port of `port=0` from `sock.getsockname()[1]`.
    """
    # Naming the protocol matters: asyncio sets TCP_NODELAY only on sockets whose proto is
    # IPPROTO_TCP, and without it Nagle meets delayed ACKs and each answer waits ~40 ms.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening now queues early clients until the server takes over the socket.
        sock.listen()
    except BaseException:
        sock.close()
        raise
    return sock


def serve(
    emulator: Emulator,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    log_level: str = "info",
    sock: socket.socket | None = None,
    trickle: float | None = None,
) -> None:
    """Serve `emulator` over HTTP on `host:port` until interrupted (blocks).

    Point a client at `http://{host}:{port}` (the `/data/core/ais` prefix is optional)
    and its token endpoint at `http://{host}:{port}/ims/token/v3`. With `sock` (see
    `bind_socket`) it serves on that socket instead and leaves `host` and `port` unused.
    With `trickle` (seconds), every answer's body is sent one byte every `trickle` seconds:
    a slow server, to test how a client bounds its waits.
    """
    if sock is None:
        config = _config(emulator, trickle, host=host, port=port, log_level=log_level)
        server = _uvicorn().Server(config)
        server.run()
        return
    server = _uvicorn().Server(_config(emulator, trickle, log_level=log_level))
    server.run(sockets=[sock])


@contextmanager
def running_server(
    emulator: Emulator,
    host: str = "127.0.0.1",
    *,
    port: int = 0,
    start_timeout: float = 10.0,
    trickle: float | None = None,
) -> Iterator[str]:
    """Serve `emulator` in a background thread; yields its base URL, stops on exit.

    `port=0` picks a free port. For tests: `with running_server(emu) as base_url: ...`.
    `trickle` (seconds) sends every answer's body one byte at a time, that far apart.
    """
    config = _config(emulator, trickle, log_config=None, log_level="warning")
    sock = bind_socket(host, port)
    server = _uvicorn().Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="aep-ais-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout
    try:
        # Startup happens on the server's own thread and loop: wait for it to report in.
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.005)
        bound_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound_port}"
    finally:
        server.should_exit = True
        if trickle is not None:
            # A trickling answer in flight would hold a graceful shutdown for minutes.
            server.force_exit = True
        thread.join(start_timeout)
        sock.close()
