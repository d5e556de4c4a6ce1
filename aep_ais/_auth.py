"""Token providers: where the bearer token for each request comes from.

A provider is anything with `async get_token(ctx) -> str` and `invalidate(token)`. The
transport asks for a token before each request and calls `invalidate` with the token that
the API refused (401), then asks again once. `ctx` gives a provider what it may need to
fetch a token (a clock, and a way to post a form) without it touching HTTP itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable

from attrs import frozen

from ._errors import ValidationError
from ._policies import Clock

__all__ = ["AuthContext", "FormResponse", "StaticToken", "TokenProvider"]


@frozen
class FormResponse:
    """What a form post answered: status and raw body."""

    status_code: int
    content: bytes


@frozen
class AuthContext:
    """What the transport lends a token provider: its clock and a form poster."""

    clock: Clock
    post_form: Callable[[str, Mapping[str, str]], Awaitable[FormResponse]]


@runtime_checkable
class TokenProvider(Protocol):
    """Gives bearer tokens; told when one was refused."""

    async def get_token(self, ctx: AuthContext) -> str: ...

    def invalidate(self, token: str) -> None: ...


class StaticToken:
    """A pre-issued access token, used as is. It cannot be refreshed.

    Pass `api_key` to the client as well: a static token carries no client id.
    """

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValidationError("token", "must be a non-empty string")
        self._token = token.strip()

    async def get_token(self, ctx: AuthContext) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        # Nothing to refresh: the transport's second 401 raises AuthenticationError.
        return None

    def __repr__(self) -> str:
        return "StaticToken(token=***)"


StaticToken.__module__ = "aep_ais"
