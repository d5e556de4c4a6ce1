"""The emulator's IMS: OAuth client-credentials tokens, their expiry and revocation."""

from __future__ import annotations

import random
import urllib.parse
from dataclasses import dataclass

from aep_ais._policies import Clock

from ._wire import Reply, gateway_error, json_reply

__all__ = ["TokenIssuer", "TokenRecord"]

INVALID_TOKEN = ("401013", "Oauth token is not valid")


@dataclass
class TokenRecord:
    """A token the emulator issued; `expires_at` is a `clock.now()` reading."""

    client_id: str
    scope: str
    expires_at: float
    revoked: bool = False


def _ims_error(status: int, error: str, description: str) -> Reply:
    return json_reply(status, {"error": error, "error_description": description})


class TokenIssuer:
    """Registered credentials and the tokens issued to them."""

    def __init__(self, *, clock: Clock, rng: random.Random, lifetime: float) -> None:
        self.clock = clock
        self.rng = rng
        self.lifetime = lifetime
        self.credentials: dict[str, str] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.issued = 0

    def issue(self, body: bytes, query: list[tuple[str, str]]) -> Reply:
        """Answer a token request as IMS does (form fields may also come in the query)."""
        try:
            form = dict(query)
            form.update(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            return _ims_error(400, "invalid_request", "the body is not a form")
        if form.get("grant_type") != "client_credentials":
            return _ims_error(400, "unsupported_grant_type", "use grant_type=client_credentials")
        client_id = form.get("client_id", "")
        if client_id not in self.credentials:
            return _ims_error(400, "invalid_client", "invalid client_id parameter")
        if form.get("client_secret") != self.credentials[client_id]:
            return _ims_error(401, "invalid_client", "invalid client_secret parameter")
        token = "emu-at-" + format(self.rng.getrandbits(128), "032x")
        self.tokens[token] = TokenRecord(
            client_id=client_id,
            scope=form.get("scope", ""),
            expires_at=self.clock.now() + self.lifetime,
        )
        self.issued += 1
        # IMS sends whole seconds; a sub-second test lifetime is sent as it is, since
        # rounding it down to 0 would describe a token that is dead on arrival.
        lifetime = int(self.lifetime) if float(self.lifetime).is_integer() else self.lifetime
        return json_reply(
            200, {"access_token": token, "token_type": "bearer", "expires_in": lifetime}
        )

    def revoke(self, token: str) -> None:
        """Make `token` refused from now on (a token never issued is remembered too)."""
        record = self.tokens.setdefault(token, TokenRecord("", "", float("inf")))
        record.revoked = True

    def refusal(self, token: str, *, strict: bool) -> Reply | None:
        """The 401 for a token the gateway would refuse, or `None` to let it through.

        Tokens this emulator issued are refused once expired or revoked. Others are
        refused only when `strict`.
        """
        record = self.tokens.get(token)
        if record is None:
            return gateway_error(401, *INVALID_TOKEN) if strict else None
        if record.revoked or self.clock.now() >= record.expires_at:
            return gateway_error(401, *INVALID_TOKEN)
        return None


TokenRecord.__module__ = "aep_ais.testing"
