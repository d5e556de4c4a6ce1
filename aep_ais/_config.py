"""Client settings from the environment or from a JSON config file.

Both sources are read into one `_Settings` value, checked once (missing org, no
credentials, contradictory credentials), and turned into `AISClient` keyword arguments.
Keyword overrides given by the caller win over what the source says. No error message
ever quotes a secret or a token: they name the setting, never its value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from attrs import define

from ._auth import DEFAULT_SCOPES, IMS_TOKEN_URL, OAuthServerToServer, StaticToken
from ._errors import ValidationError

__all__ = [
    "CONFIG_FILE_JWT_KEYS",
    "CONFIG_FILE_KEYS",
    "ENV_VARS",
    "FILE_KEYS",
    "JWT_KEYS",
    "client_kwargs_from_env",
    "client_kwargs_from_file",
]

ENV_VARS: Mapping[str, str] = MappingProxyType(
    {
        "org_id": "AEP_ORG_ID",
        "sandbox": "AEP_SANDBOX",
        "client_id": "AEP_CLIENT_ID",
        "client_secret": "AEP_CLIENT_SECRET",
        "scopes": "AEP_SCOPES",
        "access_token": "AEP_ACCESS_TOKEN",
        "api_key": "AEP_API_KEY",
        "base_url": "AEP_BASE_URL",
        "token_url": "AEP_TOKEN_URL",
    }
)
"""The environment variable `AISClient.from_env()` reads for each setting, by setting name.

`{"org_id": "AEP_ORG_ID", "sandbox": "AEP_SANDBOX", ...}`; the setting names are the
`AISClient` keyword arguments (and `client_secret`, `scopes`, `access_token`,
`token_url` for the credential). Read-only.
"""

# Config-file keys (lower case, `-` read as `_`) and the setting each one fills. The
# layout is the one other AEP Python tools write: `org_id`, `client_id`, `secret`,
# `scopes`, `sandbox-name`, ...; keys not listed here (`tech_id`, `environment`, ...) are
# ignored unless handled below.
FILE_KEYS = {
    "org_id": "org_id",
    "ims_org_id": "org_id",
    "client_id": "client_id",
    "secret": "client_secret",
    "client_secret": "client_secret",
    "scopes": "scopes",
    "scope": "scopes",
    "sandbox_name": "sandbox",
    "sandbox": "sandbox",
    "access_token": "access_token",
    "api_key": "api_key",
    "base_url": "base_url",
    "token_url": "token_url",
    "ims_token_url": "token_url",
}
JWT_KEYS = frozenset({"private_key", "pathtokey", "path_to_key", "private_key_path"})

# The file tables' public names (read-only views).
CONFIG_FILE_KEYS: Mapping[str, str] = MappingProxyType(FILE_KEYS)
"""The keys `AISClient.from_config_file()` reads, each with the setting it fills.

Keys are matched lower case, `-` read as `_` (`sandbox-name` is `sandbox_name`); several
spellings fill one setting (`secret` and `client_secret`). Other keys are ignored,
except `CONFIG_FILE_JWT_KEYS`. Read-only.
"""

CONFIG_FILE_JWT_KEYS: frozenset[str] = JWT_KEYS
"""Config-file keys of a JWT (service account) credential, which the SDK does not support.

A file that sets one of them and neither a client secret nor an access token is refused
with a `ValidationError` naming the key, rather than read as a file without a credential.
"""
_CLIENT_SETTINGS = frozenset({"org_id", "sandbox", "api_key", "base_url"})


@define
class _Settings:
    org_id: str | None = None
    sandbox: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: str | list[str] | None = None
    access_token: str | None = None
    api_key: str | None = None
    base_url: str | None = None
    token_url: str | None = None


def client_kwargs_from_env(
    environ: Mapping[str, str] | None, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """`AISClient` keyword arguments from `AEP_*` variables (empty ones count as unset)."""
    env = os.environ if environ is None else environ
    settings = _Settings()
    for name, var in ENV_VARS.items():
        value = env.get(var)
        if value is not None and value.strip():
            setattr(settings, name, value.strip())
    return _client_kwargs(settings, overrides, source="the environment", names=ENV_VARS)


def client_kwargs_from_file(
    path: str | os.PathLike[str], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """`AISClient` keyword arguments from a JSON config file (keys matched case-insensitively)."""
    where = os.fspath(path)
    try:
        text = Path(where).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ValidationError("config_file", f"cannot read {where!r}: {reason}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # The message says where, never what: the file holds secrets.
        line = getattr(exc, "lineno", None)
        at = f" (line {line})" if line else ""
        raise ValidationError("config_file", f"{where!r} is not valid JSON{at}") from None
    if not isinstance(data, dict):
        raise ValidationError("config_file", f"{where!r} must hold a JSON object")
    settings = _Settings()
    seen: dict[str, str] = {}
    keys = {str(k).strip().lower().replace("-", "_"): (str(k), v) for k, v in data.items()}
    if keys.get("environment", ("", "prod"))[1] not in ("prod", None, ""):
        raise ValidationError(
            "environment", "only the production environment ('prod') is supported"
        )
    for key, (original, value) in keys.items():
        name = FILE_KEYS.get(key)
        if name is None or value is None or value == "":
            continue
        value = _file_value(name, original, value)
        if name in seen and getattr(settings, name) != value:
            raise ValidationError(
                original, f"contradicts {seen[name]!r}: give the {name} only once"
            )
        seen[name] = original
        setattr(settings, name, value)
    if settings.client_secret is None and settings.access_token is None:
        jwt = sorted(original for key, (original, _) in keys.items() if key in JWT_KEYS)
        if jwt:
            raise ValidationError(
                jwt[0],
                "JWT (service account) credentials are retired; "
                "create OAuth server-to-server credentials and put their secret in 'secret'",
            )
    return _client_kwargs(settings, overrides, source=repr(where), names=seen)


def _file_value(name: str, key: str, value: object) -> str | list[str]:
    if name == "scopes" and isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ValidationError(key, "must be a string or a list of strings")
        return value
    if not isinstance(value, str):
        raise ValidationError(key, "must be a string")
    return value.strip()


def _client_kwargs(
    settings: _Settings, overrides: Mapping[str, Any], *, source: str, names: Mapping[str, str]
) -> dict[str, Any]:
    def named(setting: str) -> str:
        return names.get(setting, setting)

    kwargs: dict[str, Any] = {}
    for setting in sorted(_CLIENT_SETTINGS):
        value = getattr(settings, setting)
        if value is not None:
            kwargs[setting] = value
    if "org_id" not in kwargs and "org_id" not in overrides:
        raise ValidationError(named("org_id"), f"is required but not set in {source}")
    if "auth" not in overrides:
        kwargs["auth"] = _auth(settings, source, named)
        if "api_key" not in kwargs and settings.client_id is not None:
            kwargs["api_key"] = settings.client_id
    kwargs.update(overrides)
    if kwargs.get("api_key") is None and getattr(kwargs.get("auth"), "client_id", None) is None:
        raise ValidationError(
            named("api_key"),
            f"is required with an access token: set it, or the client id, in {source}",
        )
    return kwargs


def _auth(
    settings: _Settings, source: str, named: Callable[[str], str]
) -> OAuthServerToServer | StaticToken:
    credentials = _credentials(settings, source, named)
    try:
        if isinstance(credentials, str):
            return StaticToken(credentials)
        client_id, secret = credentials
        return OAuthServerToServer(
            client_id,
            secret,
            scopes=DEFAULT_SCOPES if settings.scopes is None else settings.scopes,
            token_url=settings.token_url or IMS_TOKEN_URL,
        )
    except ValidationError as exc:
        # The auth classes say what is wrong with a value, not where it came from.
        field = named("access_token" if exc.field == "token" else exc.field)
        raise ValidationError(field, f"{exc.problem} (in {source})") from None


def _credentials(
    settings: _Settings, source: str, named: Callable[[str], str]
) -> str | tuple[str, str]:
    """The access token, or the client id and secret, that `settings` hold, exactly one."""
    secret, token = settings.client_secret, settings.access_token
    if secret is not None and token is not None:
        raise ValidationError(
            named("access_token"),
            f"{source} holds both an access token and a client secret: keep one of them",
        )
    if token is not None:
        for unused in ("scopes", "token_url"):
            if getattr(settings, unused) is not None:
                raise ValidationError(
                    named(unused),
                    f"applies only to OAuth client credentials, but {source} gives an access token",
                )
        return token
    if secret is None:
        if settings.client_id is None:
            raise ValidationError(
                named("client_secret"),
                f"no credentials in {source}: give a client id and secret, or an access token",
            )
        raise ValidationError(named("client_secret"), f"is required but not set in {source}")
    if settings.client_id is None:
        raise ValidationError(named("client_id"), f"is required with a client secret in {source}")
    return settings.client_id, secret
