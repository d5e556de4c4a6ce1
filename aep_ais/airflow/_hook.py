"""`AEPHook`: an `AISClient` built from an Airflow connection of type `aep_ais`.

One token provider is kept per connection (and per set of credentials) for the whole
process, so every client the hook builds in a worker or a triggerer shares one cached
OAuth token: hundreds of triggers waiting in one triggerer mint one token, not hundreds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from airflow.sdk import BaseHook, Connection

import aep_ais
from aep_ais import AISClient, AISError, OAuthServerToServer, StaticToken, TokenProvider

from ._provider import CONN_TYPE, DEFAULT_CONN_ID, HOOK_NAME

__all__ = ["AEPHook", "run_sync"]

T = TypeVar("T")

# Where each setting lives in the connection, to name it in an error.
_WHERE = {
    "client_id": "login",
    "client_secret": "password",
    "token": "extra.access_token",
    "base_url": "host",
}

# (conn id, hash of the credentials) -> the process's one token provider for them.
_PROVIDERS: dict[tuple[str, str], TokenProvider] = {}
_PROVIDERS_LOCK = threading.Lock()


class AEPHook(BaseHook):
    """Builds `AISClient`s from the Airflow connection `aep_conn_id` (type `aep_ais`).

    The connection holds the OAuth server-to-server credential: login = client id,
    password = client secret, host = the API's base URL when it is not Adobe's, and in
    its extra `org_id` (required), `sandbox` (default `prod`), `scopes`, `token_url`,
    `access_token` (a pre-issued token instead of the client credential) and `api_key`
    (default: the client id). `client_options` go to every `AISClient` the hook builds
    (`poll`, `retry`, `timeout`, `clock`, `transport`, ...).

    Use `async with await hook.aget_conn() as ais:` in async code (triggers) and
    `get_conn()` elsewhere; a bad connection raises `aep_ais.ValidationError` naming the
    connection field, never showing a secret.
    """

    conn_name_attr = "aep_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(
        self,
        aep_conn_id: str = DEFAULT_CONN_ID,
        *,
        client_options: Mapping[str, Any] | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.aep_conn_id = aep_conn_id
        self.client_options = dict(client_options or {})

    def get_conn(self) -> AISClient:
        """A new client for the connection (close it, or use it in `async with`)."""
        return self.client_for(self.get_connection(self.aep_conn_id))

    async def aget_conn(self) -> AISClient:
        """`get_conn` for async code: reads the connection without blocking the loop."""
        return self.client_for(await self.aget_connection(self.aep_conn_id))

    def client_for(self, conn: Connection) -> AISClient:
        """A new client for `conn`, sharing the process's token provider for it."""
        settings = _settings(conn)
        try:
            auth = _token_provider(conn.conn_id, settings)
            return AISClient(
                org_id=settings["org_id"],
                sandbox=settings["sandbox"],
                auth=auth,
                api_key=settings["api_key"] or settings["client_id"],
                base_url=settings["base_url"] or aep_ais.DEFAULT_BASE_URL,
                **self.client_options,
            )
        except aep_ais.ValidationError as exc:
            raise _connection_error(conn.conn_id, exc.field, exc.problem) from None

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a token and ask the API about an operation that does not exist.

        A "not found" answer means the credentials, org and sandbox were accepted.
        """
        try:
            ais = self.get_conn()
        except AISError as exc:
            return False, str(exc)

        async def probe() -> None:
            async with ais:
                await ais.get_operation("aep-ais-connection-test")

        try:
            run_sync(probe)
        except aep_ais.NotFoundError:
            pass
        except AISError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected: {ais.base_url} accepted the credentials ({ais.sandbox})"


def run_sync(fn: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine `fn()` to its end from sync code, inside a running loop or not."""

    async def main() -> T:
        return await fn()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # Called from async code (an API server, a notebook): a loop of its own, in a thread.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aep-ais") as pool:
        return pool.submit(asyncio.run, main()).result()


def _connection_error(conn_id: str, field: str, problem: str) -> aep_ais.ValidationError:
    where = _WHERE.get(field, f"extra.{field}")
    return aep_ais.ValidationError(f"connection {conn_id!r} {where}", problem)


def _settings(conn: Connection) -> dict[str, Any]:
    """The connection's settings by SDK name; empty strings count as unset."""
    extra = conn.extra_dejson

    def pick(name: str) -> Any:
        # The form may store a field under its prefixed name.
        value = extra.get(name, extra.get(f"extra__{CONN_TYPE}__{name}"))
        if isinstance(value, str):
            value = value.strip() or None
        return value

    def text(value: object) -> str | None:
        return (value.strip() or None) if isinstance(value, str) else None

    org_id = pick("org_id")
    if org_id is None:
        raise _connection_error(conn.conn_id, "org_id", "is required")
    return {
        "org_id": org_id,
        "sandbox": pick("sandbox") or "prod",
        "scopes": pick("scopes"),
        "token_url": pick("token_url"),
        "access_token": pick("access_token"),
        "api_key": pick("api_key"),
        "client_id": text(conn.login),
        "client_secret": text(conn.password),
        "base_url": _base_url(conn.host, conn.port),
    }


def _base_url(host: str | None, port: int | None) -> str | None:
    host = (host or "").strip()
    if not host:
        return None
    url = host if "://" in host else f"https://{host}"
    parts = urllib.parse.urlsplit(url)
    if port and parts.port is None and parts.hostname:
        netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        url = urllib.parse.urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))
    return url


def _token_provider(conn_id: str, settings: Mapping[str, Any]) -> TokenProvider:
    """The process's one token provider for this connection and these credentials."""
    credentials = [
        settings[name]
        for name in ("client_id", "client_secret", "scopes", "token_url", "access_token")
    ]
    # A digest, so the cache's keys never hold a secret; new credentials get a new entry.
    digest = hashlib.sha256(json.dumps(credentials).encode()).hexdigest()
    key = (conn_id, digest)
    with _PROVIDERS_LOCK:
        provider = _PROVIDERS.get(key)
        if provider is None:
            provider = _new_provider(settings)
            _PROVIDERS[key] = provider
        return provider


def _new_provider(settings: Mapping[str, Any]) -> TokenProvider:
    token, client_id, secret = (
        settings["access_token"],
        settings["client_id"],
        settings["client_secret"],
    )
    if token is not None:
        if secret is not None:
            raise aep_ais.ValidationError(
                "token", "give an access token or a client secret (password), not both"
            )
        return StaticToken(token)
    if client_id is None or secret is None:
        raise aep_ais.ValidationError(
            "client_secret" if client_id is not None else "client_id",
            "is required: give a client id (login) and secret (password), or extra.access_token",
        )
    options: dict[str, Any] = {}
    if settings["scopes"] is not None:
        options["scopes"] = settings["scopes"]
    if settings["token_url"] is not None:
        options["token_url"] = settings["token_url"]
    return OAuthServerToServer(client_id, secret, **options)


AEPHook.__module__ = "aep_ais.airflow"
