"""The emulator's routes: each has a name (the handler) and a key such as
`"POST /external-audience/"` that fault scripts and counters refer to."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["AIS_PREFIX", "ROUTES", "TOKEN_PATH", "Route", "canonical_key", "match", "strip_prefix"]

AIS_PREFIX = "/data/core/ais"
TOKEN_PATH = "/ims/token/v3"
_ID = r"(?P<{}>[^/]+)"


@dataclass(frozen=True)
class Route:
    """One endpoint: HTTP method, path pattern, handler name and fault-script key."""

    method: str
    pattern: re.Pattern[str]
    name: str
    key: str


def _route(method: str, template: str, name: str, pattern: str) -> Route:
    return Route(method, re.compile(pattern), name, f"{method} {template}")


ROUTES: tuple[Route, ...] = (
    _route("POST", TOKEN_PATH, "token", re.escape(TOKEN_PATH) + "/?"),
    _route("POST", "/external-audience/", "create", r"/external-audience/?"),
    # The spec spells the operations path both ways; both answer, under one key.
    _route(
        "GET",
        "/external-audience/operations/{id}",
        "get_operation",
        r"/external-audiences?/operations/" + _ID.format("operation_id") + "/?",
    ),
    _route(
        "POST",
        "/external-audience/extend-ttl/{id}",
        "extend_ttl",
        r"/external-audience/extend-ttl/" + _ID.format("audience_id") + "/?",
    ),
    _route(
        "POST",
        "/external-audience/{id}/runs",
        "start_run",
        r"/external-audience/" + _ID.format("audience_id") + "/runs/?",
    ),
    _route(
        "GET",
        "/external-audience/{id}/runs",
        "list_runs",
        r"/external-audience/" + _ID.format("audience_id") + "/runs/?",
    ),
    _route(
        "GET",
        "/external-audience/{id}/runs/{run_id}",
        "get_run",
        r"/external-audience/" + _ID.format("audience_id") + "/runs/" + _ID.format("run_id") + "/?",
    ),
    _route(
        "PATCH",
        "/external-audience/{id}",
        "update",
        r"/external-audience/" + _ID.format("audience_id") + "/?",
    ),
    _route(
        "DELETE",
        "/external-audience/{id}",
        "delete",
        r"/external-audience/" + _ID.format("audience_id") + "/?",
    ),
)


def strip_prefix(path: str) -> str:
    """The path without the AIS base path (`/data/core/ais`), which is optional."""
    if path == AIS_PREFIX or path.startswith(AIS_PREFIX + "/"):
        return path[len(AIS_PREFIX) :] or "/"
    return path


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """`(route, path parameters, path exists for some method)` for a request."""
    path = strip_prefix(path)
    exists = False
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found is None:
            continue
        if route.method == method.upper():
            return route, found.groupdict(), True
        exists = True
    return None, {}, exists


def canonical_key(text: str) -> str:
    """The route key for `"METHOD /path"`, the path a template or a concrete one.

    Raises `ValueError` when no route answers it.
    """
    method, _, path = text.strip().partition(" ")
    path = path.strip()
    for route in ROUTES:
        if route.key == f"{method.upper()} {path}":
            return route.key
    found, _, _ = match(method, path)
    if found is None:
        raise ValueError(f"no emulator route answers {text!r}")
    return found.key
