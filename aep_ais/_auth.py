"""Token providers: where the bearer token for each request comes from.

A provider is anything with `async get_token(ctx) -> str` and `invalidate(token)`. The
transport asks for a token before each request and calls `invalidate` with the token that
the API refused (401), then asks again once. `ctx` gives a provider what it may need to
fetch a token (a clock, and a way to post a form) without it touching HTTP itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any, Protocol, runtime_checkable

import anyio
import anyio.lowlevel
from attrs import field, frozen

from ._errors import APIConnectionError, APITimeoutError, TokenError, ValidationError
from ._policies import Clock

__all__ = [
    "DEFAULT_SCOPES",
    "IMS_TOKEN_URL",
    "AuthContext",
    "BearerAuth",
    "FormResponse",
    "OAuthServerToServer",
    "StaticToken",
    "TokenProvider",
    "TokenStore",
    "check_secure_url",
    "is_loopback_host",
]

IMS_TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
DEFAULT_SCOPES = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"

logger = logging.getLogger("aep_ais")

# An IMS hiccup (no answer, 429, 5xx) is retried after these waits, so that a long wait
# does not die of one failed refresh; a refusal (4xx) or an unusable answer is final.
_TOKEN_RETRY_DELAYS = (1.0, 4.0)
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def is_loopback_host(host: str) -> bool:
    """Whether `host` names this machine: `localhost` itself or a literal loopback address.

    Not `*.localhost`: resolvers outside the machine may answer for such names.
    """
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_secure_url(url: object, what: str) -> str:
    """`url` if it is https, or plain http to a loopback host; else `ValidationError`.

    Credentials and tokens travel to these URLs, so plain http is allowed only where
    nothing leaves the machine (an emulator on localhost).
    """
    if not isinstance(url, str):
        raise ValidationError(what, "must be a URL string")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(what, f"{url[:200]!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValidationError(what, "must not carry credentials in the URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValidationError(
            what, "plain http is allowed only for loopback hosts: credentials must not leak"
        )
    return url


@frozen
class FormResponse:
    """What a form post answered: status and raw body (never shown: it may hold a token)."""

    status_code: int
    content: bytes = field(repr=False)


@frozen
class AuthContext:
    """What the transport lends a token provider: its clock and a form poster.

    `deadline` (a `clock.now()` reading, or `None`) is the end of the wait the token is
    for: a provider sends nothing, and starts no backoff, that would end after it.
    """

    clock: Clock
    post_form: Callable[[str, Mapping[str, str]], Awaitable[FormResponse]]
    deadline: float | None = None


@runtime_checkable
class TokenProvider(Protocol):
    """Gives bearer tokens; told when one was refused."""

    async def get_token(self, ctx: AuthContext) -> str:
        """A bearer token for the next request; raise `TokenError` if none can be had."""
        ...

    def invalidate(self, token: str) -> None:
        """`token` was refused (401): stop handing it out, if it is still the current one."""
        ...


_BEARER = "Bearer "


class BearerAuth:
    """The auth step of one call: httpx's `Auth.async_auth_flow`, unrolled into two awaits.

    Before each send, `sign(headers)` puts the provider's token on the request. After it,
    `resend(headers, status)` is told the answer's status and says whether to send the
    same request again (the flow's second `yield`): on the call's first 401 (before the
    deadline) the server did not act, so the refused token is invalidated, `headers` are
    signed with a fresh one and the answer is `True`. A provider that cannot refresh (it
    hands back the refused token) makes it `False`: the 401 stands. A 401 that comes
    after the deadline raises `APITimeoutError` (transient: a wait ends as timed out, not
    as a refused credential). Make one per call:
    the refresh happens at most once in a call. (Plain methods rather than an async
    generator: asyncio tracks every async generator, which costs each request.)
    """

    __slots__ = ("_ctx", "_provider", "_refreshed")

    def __init__(self, provider: TokenProvider, ctx: AuthContext) -> None:
        self._provider = provider
        self._ctx = ctx
        self._refreshed = False

    async def sign(self, headers: MutableMapping[str, str]) -> None:
        """Put a bearer token on `headers` for the next send."""
        token = await self._provider.get_token(self._ctx)
        headers["Authorization"] = _BEARER + token
        del token  # kept in `headers` only, which the transport scrubs on any failure

    async def resend(self, headers: MutableMapping[str, str], status: int) -> bool:
        """Whether the request just answered `status` is to be sent again, re-signed."""
        if status != 401 or self._refreshed:
            return False
        if self._past_deadline():
            # The server did not act, and no fresh token may be tried after the wait's
            # deadline: the wait ran out of time; the credential is not known to be bad.
            raise APITimeoutError(
                "the deadline passed before the request could be sent again with a fresh token",
                server_may_have_acted=False,
            )
        self._refreshed = True
        # Only a hash is kept: a traceback through this frame must not hold the token.
        refused = hash(headers["Authorization"])
        self._provider.invalidate(headers["Authorization"].removeprefix(_BEARER))
        await self.sign(headers)
        return hash(headers["Authorization"]) != refused  # the same would be refused again

    def _past_deadline(self) -> bool:
        deadline = self._ctx.deadline
        return deadline is not None and self._ctx.clock.now() >= deadline


class TokenStore(Protocol):
    """Where `OAuthServerToServer` keeps tokens beyond one process (the CLI's disk cache).

    `key` names the credential (a hash of the token URL, client id, scopes and secret,
    never the secret itself); `expires_at` is wall-clock epoch seconds. A store must not
    raise: a store that cannot read or write answers `None` or does nothing.
    """

    def load(self, key: str) -> tuple[str, float] | None:
        """The token kept for `key` and when it expires, or `None`."""
        ...

    def save(self, key: str, token: str, expires_at: float) -> None:
        """Keep `token` for `key` until `expires_at`."""
        ...

    def drop(self, key: str) -> None:
        """Forget the token kept for `key` (it was refused)."""
        ...


def _check_token_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(what, "must be a non-empty string")
    value = value.strip()
    # These values end up in HTTP headers or forms: no line breaks or spaces inside.
    if any(ch.isspace() or ch == "\0" for ch in value):
        raise ValidationError(what, "must not contain spaces or line breaks")
    # A header carries ASCII only: anything else would fail every request, not this call.
    if not all("!" <= ch <= "~" for ch in value):
        raise ValidationError(what, "must be printable ASCII")
    return value


class StaticToken:
    """A pre-issued access token, used as is. It cannot be refreshed.

    Pass `api_key` to the client as well: a static token carries no client id.
    """

    def __init__(self, token: str) -> None:
        self._token = _check_token_text(token, "token")

    async def get_token(self, ctx: AuthContext) -> str:
        """The token given at construction."""
        return self._token

    def invalidate(self, token: str) -> None:
        """Does nothing: a refused static token makes the next 401 an `AuthenticationError`."""
        return None

    def __repr__(self) -> str:
        return "StaticToken(token=***)"


class _Secret:
    """Holds a secret so that neither `repr` nor `vars()` of its owner shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"


def _scope_text(scopes: str | Sequence[str]) -> str:
    items = scopes.split(",") if isinstance(scopes, str) else scopes
    if isinstance(items, (bytes, bytearray)) or not isinstance(items, Sequence):
        raise ValidationError("scopes", "must be a comma-separated string or a list of strings")
    cleaned: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationError("scopes", "must be a comma-separated string or a list of strings")
        item = item.strip()
        if not item:
            continue
        if any(ch.isspace() or ch in ",\0" for ch in item):
            raise ValidationError("scopes", f"{item[:64]!r} is not a single scope name")
        cleaned.append(item)
    if not cleaned:
        raise ValidationError("scopes", "at least one scope is required")
    return ",".join(cleaned)


class OAuthServerToServer:
    """Adobe IMS OAuth server-to-server credentials (the client-credentials grant).

    A token is requested on first use, then reused until `refresh_margin` seconds before
    it expires (at most half its lifetime early). However many requests need a token at
    once, only one token request goes out; a token the API refuses (401) is dropped and
    replaced once. A token request that gets no answer, a 429 or a 5xx is tried again
    twice (after 1 s and 4 s on the client's clock). `client_id` is also the client's
    default `x-api-key`.

    `scopes` is a comma-separated string or a sequence of scope names. `token_url` must be
    https (plain http only to a loopback host, for an emulator). Raises `ValidationError`
    for bad arguments; `get_token` raises `TokenError` when IMS refuses or cannot be
    reached. Neither `repr` nor any error shows the secret or a token. `token_store`
    (settable) keeps tokens across processes: it is asked before IMS, told of each new
    token, and told to drop a refused one.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        scopes: str | Sequence[str] = DEFAULT_SCOPES,
        token_url: str = IMS_TOKEN_URL,
        refresh_margin: float = 300.0,
        token_store: TokenStore | None = None,
    ) -> None:
        self.token_store = token_store
        self.client_id = _check_token_text(client_id, "client_id")
        if not isinstance(client_secret, str) or not client_secret.strip():
            raise ValidationError("client_secret", "must be a non-empty string")
        self._secret = _Secret(client_secret.strip())
        self.scopes = _scope_text(scopes)
        self.token_url = check_secure_url(token_url, "token_url")
        if (
            isinstance(refresh_margin, bool)
            or not isinstance(refresh_margin, int | float)
            or not 0 <= refresh_margin < math.inf
        ):
            raise ValidationError("refresh_margin", "must be a non-negative number of seconds")
        self.refresh_margin = float(refresh_margin)
        self._token: _Secret | None = None
        self._refresh_at = -math.inf
        # The single-flight lock, with the event loop it was made in: a lock belongs to one
        # loop (and backend), and the same provider may be used under asyncio.run twice, or
        # under asyncio and then trio. A refresh in flight in an old loop cannot matter.
        self._lock: tuple[object, anyio.Lock] | None = None
        # Counts finished token requests; a waiter that sees it move while it waited, with
        # a failure recorded, shares that failure instead of asking IMS once more.
        self._fetches = 0
        self._failure: TokenError | None = None
        self._cut_short = False  # the current fetch ended at its caller's deadline

    def __repr__(self) -> str:
        return (
            f"OAuthServerToServer(client_id={self.client_id!r}, client_secret=***, "
            f"scopes={self.scopes!r}, token_url={self.token_url!r})"
        )

    def _cached(self, clock: Clock) -> str | None:
        if self._token is not None and clock.now() < self._refresh_at:
            return self._token.reveal()
        return None

    async def get_token(self, ctx: AuthContext) -> str:
        """A valid access token, from the cache or freshly issued by IMS.

        Raises `TokenError` when IMS refuses, answers with something unreadable, or
        cannot be reached.
        """
        token = self._cached(ctx.clock)
        if token is not None:
            return token
        loop = _current_loop()
        if self._lock is None or self._lock[0] != loop:
            self._lock = (loop, anyio.Lock())
        lock = self._lock[1]
        seen = self._fetches
        async with lock:
            token = self._cached(ctx.clock)
            if token is not None:
                return token
            if self._fetches != seen and self._failure is not None:
                failure = self._failure
                raise TokenError(
                    failure.message,
                    status_code=failure.status_code,
                    error_code=failure.error_code,
                )
            self._failure = None
            token = self._stored(ctx.clock)
            if token is not None:
                return token
            self._cut_short = False
            try:
                token = await self._fetch(ctx)
            except TokenError as exc:
                # A fetch its caller's own deadline cut short says nothing about IMS:
                # callers queued behind it (later deadlines, or none) ask for themselves.
                if not self._cut_short:
                    self._failure = exc
                raise
            finally:
                self._fetches += 1
            return token

    def invalidate(self, token: str) -> None:
        """Drop the cached token if it is `token` (a newer one is kept)."""
        if self._token is not None and token == self._token.reveal():
            self._token = None
            self._refresh_at = -math.inf
            if self.token_store is not None:
                self.token_store.drop(self.store_key)

    @property
    def store_key(self) -> str:
        """The `TokenStore` key of these credentials: a hash, from which nothing is learnt."""
        secret = hashlib.sha256(self._secret.reveal().encode()).hexdigest()
        parts = "\n".join((self.token_url, self.client_id, self.scopes, secret))
        return hashlib.sha256(parts.encode()).hexdigest()

    def _stored(self, clock: Clock) -> str | None:
        found = self.token_store.load(self.store_key) if self.token_store is not None else None
        if found is None:
            return None
        token, expires_at = found
        left = expires_at - clock.time()
        if left <= self.refresh_margin:
            return None
        self._token = _Secret(token)
        self._refresh_at = clock.now() + left - self.refresh_margin
        return token

    async def _fetch(self, ctx: AuthContext) -> str:
        deadline = ctx.deadline
        for delay in (*_TOKEN_RETRY_DELAYS, None):
            try:
                return await self._fetch_once(ctx)
            except TokenError as exc:
                if deadline is not None and ctx.clock.now() + (delay or 0.0) >= deadline:
                    self._cut_short = True  # no retry (or no send) past the wait's deadline
                transient = exc.status_code is None or exc.status_code in _TRANSIENT_STATUSES
                if delay is None or not transient or self._cut_short:
                    raise
                what = "no answer" if exc.status_code is None else f"HTTP {exc.status_code}"
                logger.debug("token request failed (%s); retrying in %g s", what, delay)
                await ctx.clock.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch_once(self, ctx: AuthContext) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret.reveal(),
            "scope": self.scopes,
        }
        logger.debug("token requested from %s", self.token_url)
        started = ctx.clock.now()
        try:
            response = await ctx.post_form(self.token_url, form)
        except APIConnectionError as exc:
            raise TokenError(f"could not reach the token endpoint {self.token_url}: {exc}") from exc
        finally:
            # A traceback keeps this frame's locals alive: the form holds the secret.
            del form
        if response.status_code != 200:
            raise self._refusal(response)
        try:
            token, expires_in = self._read_token(response)
        finally:
            del response  # it holds the token too
        lifetime = max(0.0, expires_in)
        margin = min(self.refresh_margin, lifetime / 2)
        self._token = _Secret(token)
        self._refresh_at = started + lifetime - margin
        if self.token_store is not None:
            self.token_store.save(self.store_key, token, ctx.clock.time() + lifetime)
        logger.debug("token issued (expires in %d s)", int(lifetime))
        return token

    def _redact(self, text: str) -> str:
        # Whole values only: a short secret must not garble words that contain it.
        secret = re.escape(self._secret.reveal())
        return re.sub(rf"(?<!\w){secret}(?!\w)", "***", text)

    def _refusal(self, response: FormResponse) -> TokenError:
        body = _json_object(response.content)
        error = _short(body.get("error")) if body else None
        description = _short(body.get("error_description")) if body else None
        text = f"the token endpoint refused to issue a token for client {self.client_id}"
        if error or description:
            text += ": " + ", ".join(x for x in (error, description) if x)
        hint = (
            "; check the client id, secret and scopes"
            if 400 <= response.status_code < 500
            else "; IMS failed, try again later"
        )
        return TokenError(
            self._redact(text + hint),
            status_code=response.status_code,
            error_code=self._redact(error) if error else None,
        )

    def _read_token(self, response: FormResponse) -> tuple[str, float]:
        status = response.status_code
        found = _token_from(response.content)
        del response  # raised errors keep their frames: none of them may hold the token
        if isinstance(found, str):
            raise TokenError(f"the token endpoint answered with {found}", status_code=status)
        return found


def _current_loop() -> object:
    """A value equal only to itself for the running event loop, whatever its backend."""
    return anyio.lowlevel.current_token()


def _token_from(content: bytes) -> tuple[str, float] | str:
    """`(access_token, expires_in)` from an IMS answer, or what is wrong with it.

    It returns rather than raises, so no traceback ever holds this frame and its token.
    """
    body = _json_object(content)
    if body is None:
        return "something that is not a JSON object"
    token = body.get("access_token")
    if not isinstance(token, str) or not token or any(ch.isspace() for ch in token):
        return "no usable access_token"
    token_type = body.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return "a token_type other than bearer"
    expires_in = body.get("expires_in")
    if isinstance(expires_in, str):
        try:
            expires_in = float(expires_in)
        except ValueError:
            expires_in = None
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or not 0 < expires_in < math.inf
    ):
        return "no usable expires_in"
    # Clamp absurd lifetimes (a day is usual) so the arithmetic stays finite.
    return token, float(min(expires_in, 10**9))


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _short(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return "".join(ch if ch.isprintable() else " " for ch in value[:300])


for _cls in (AuthContext, FormResponse, OAuthServerToServer, StaticToken, TokenProvider):
    _cls.__module__ = "aep_ais"
