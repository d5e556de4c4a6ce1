"""The API's request rules, checked on raw JSON as it arrives over the wire.

Every check raises `Problem` with the documented platform code: malformed or rule-breaking
input is `100910-400`. Unknown keys are refused too, which is stricter than the platform
may be, on purpose: a client that sends `ttl_in_days` or milliseconds has a wire bug, and
an emulator that silently ignored it would hide that bug.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._wire import BAD_REQUEST, Problem

__all__ = ["RunFilter", "check_create", "check_list_query", "check_patch", "check_run_body"]

FIELD_TYPES = frozenset({"string", "number", "long", "integer", "date", "datetime", "boolean"})
CLOUD_TYPES = frozenset({"S3", "DLZ", "GCS", "Azure", "SFTP"})
NEEDS_CONNECTION = frozenset({"S3", "GCS", "SFTP"})
# "otherwise you must not include" a base connection (the newest docs revision).
REFUSES_CONNECTION = CLOUD_TYPES - NEEDS_CONNECTION
MAX_FIELDS = 41
DEFAULT_TTL = 30
DEFAULT_NAMESPACE = "CustomerAudienceUpload"
# Epoch seconds past this are surely milliseconds: year 5138 in seconds.
MAX_EPOCH_SECONDS = 10**11

_CUSTOM_ID = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_CREATE_KEYS = frozenset(
    {
        "name",
        "description",
        "customAudienceId",
        "fields",
        "sourceSpec",
        "ttlInDays",
        "audienceType",
        "originName",
        "namespace",
        "labels",
        "tags",
        "expressActivation",
    }
)
_FIELD_KEYS = frozenset({"name", "type", "identityNs", "labels"})
_SOURCE_KEYS = frozenset(
    {"path", "type", "sourceType", "cloudType", "baseConnectionId", "encryption"}
)
_ENCRYPTION_KEYS = frozenset({"publicKeyId", "signVerificationKeyId", "signVerificationId"})
_PATCH_KEYS = frozenset({"description", "labels", "fields", "ttlInDays"})
_RUN_KEYS = frozenset({"dataFilterStartTime", "dataFilterEndTime"})
_SORT_KEYS = frozenset({"name", "-name", "createdAt", "-createdAt"})


def _bad(detail: str) -> Problem:
    return Problem(BAD_REQUEST, detail)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be a JSON object")
    return value


def _no_unknown(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _bad(f"{where}: unknown property {unknown[0]!r}")


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and key not in obj and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{where}{key} must be a non-empty string")
    return value


def _labels(obj: dict[str, Any], key: str, where: str) -> list[str] | None:
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise _bad(f"{where}{key} must be an array of non-empty strings")
    return list(value)


def _ttl(value: Any) -> int:
    # The documentation's own sample sends "40", so a numeric string is accepted.
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 90:
        raise _bad(f"ttlInDays must be a whole number of days from 1 to 90, got {value!r}")
    return value


def _epoch(value: Any, key: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(f"{key} must be epoch seconds (a non-negative integer), got {value!r}")
    if value >= MAX_EPOCH_SECONDS:
        raise _bad(f"{key} looks like milliseconds ({value}); the API takes epoch seconds")
    return value


def _field(value: Any, where: str, *, for_create: bool) -> dict[str, Any]:
    obj = _object(value, where)
    _no_unknown(obj, _FIELD_KEYS, where)
    out: dict[str, Any] = {"name": _text(obj, "name", f"{where}.", required=True)}
    if for_create or "type" in obj:
        kind = obj.get("type")
        if kind not in FIELD_TYPES:
            raise _bad(f"{where}.type {kind!r} is not one of {', '.join(sorted(FIELD_TYPES))}")
        out["type"] = kind
    if "identityNs" in obj:
        out["identityNs"] = _text(obj, "identityNs", f"{where}.")
    labels = _labels(obj, "labels", f"{where}.")
    if labels is not None:
        out["labels"] = labels
    return out


def _fields(value: Any, *, for_create: bool) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _bad("fields must be an array of objects")
    fields = [_field(f, f"fields[{i}]", for_create=for_create) for i, f in enumerate(value)]
    names = [f["name"] for f in fields]
    if len(set(names)) != len(names):
        raise _bad("fields: field names must be unique")
    return fields


def _source(value: Any) -> dict[str, Any]:
    obj = _object(value, "sourceSpec")
    # Requests wrap the source in `params`; audience answers show it bare. Take both, but
    # nothing beside `params` (`encryption` too belongs inside it).
    if "params" in obj:
        _no_unknown(obj, frozenset({"params"}), "sourceSpec (beside params)")
        obj = _object(obj["params"], "sourceSpec.params")
    _no_unknown(obj, _SOURCE_KEYS, "sourceSpec")
    path = _text(obj, "path", "sourceSpec.", required=True)
    assert path is not None
    if any(ch.isspace() for ch in path):
        raise _bad("sourceSpec.path must not contain spaces")
    out: dict[str, Any] = {"path": path}
    kind = obj.get("type")
    if kind not in ("file", "folder"):
        raise _bad(f"sourceSpec.type must be 'file' or 'folder', got {kind!r}")
    out["type"] = kind
    for key in ("sourceType", "cloudType", "baseConnectionId"):
        text = _text(obj, key, "sourceSpec.")
        if text is not None:
            out[key] = text
    cloud = out.get("cloudType")
    kinds = ", ".join(sorted(CLOUD_TYPES))
    if cloud is None:
        raise _bad(f"sourceSpec.cloudType is required: one of {kinds}")
    if cloud not in CLOUD_TYPES:
        raise _bad(f"sourceSpec.cloudType {cloud!r} is not one of {kinds}")
    if cloud in NEEDS_CONNECTION and "baseConnectionId" not in out:
        raise _bad(f"sourceSpec.baseConnectionId is required when cloudType is {cloud}")
    if cloud in REFUSES_CONNECTION and "baseConnectionId" in out:
        raise _bad(f"sourceSpec.baseConnectionId must not be included when cloudType is {cloud}")
    if "encryption" in obj:
        enc = _object(obj["encryption"], "sourceSpec.params.encryption")
        _no_unknown(enc, _ENCRYPTION_KEYS, "sourceSpec.params.encryption")
        _text(enc, "publicKeyId", "sourceSpec.params.encryption.", required=True)
        for key in ("signVerificationKeyId", "signVerificationId"):
            _text(enc, key, "sourceSpec.params.encryption.")
        out["encryption"] = dict(enc)
    return out


def check_create(body: Any) -> dict[str, Any]:
    """The create request, normalised (defaults filled in); raises `Problem` if invalid."""
    obj = _object(body, "the request body")
    _no_unknown(obj, _CREATE_KEYS, "the request body")
    out: dict[str, Any] = {"name": _text(obj, "name", "", required=True)}
    if "description" in obj:
        if not isinstance(obj["description"], str):
            raise _bad("description must be a string")
        out["description"] = obj["description"]
    cid = obj.get("customAudienceId")
    if "customAudienceId" in obj:
        if not isinstance(cid, str) or not _CUSTOM_ID.fullmatch(cid):
            raise _bad("customAudienceId must start with a letter, '_' or '$'")
        out["customAudienceId"] = cid
    if "fields" not in obj:
        raise _bad("fields is required")
    fields = _fields(obj["fields"], for_create=True)
    if not 1 <= len(fields) <= MAX_FIELDS:
        raise _bad(f"fields must hold 1 to {MAX_FIELDS} fields, got {len(fields)}")
    # "One of the fields must be an identity field": at least one, and several may be.
    if not any("identityNs" in f for f in fields):
        raise _bad("one of the fields must carry identityNs (an identity field), found none")
    out["fields"] = fields
    if "sourceSpec" not in obj:
        raise _bad("sourceSpec is required")
    out["sourceSpec"] = {"params": _source(obj["sourceSpec"])}
    out["ttlInDays"] = _ttl(obj["ttlInDays"]) if "ttlInDays" in obj else DEFAULT_TTL
    for key in ("labels", "tags"):
        labels = _labels(obj, key, "")
        if labels is not None:
            out[key] = labels
    audience_type = _text(obj, "audienceType", "") or "people"
    if audience_type != "people":
        raise _bad(f"audienceType must be 'people', got {audience_type!r}")
    out["audienceType"] = audience_type
    if "originName" not in obj:
        raise _bad("originName is required")
    out["originName"] = _text(obj, "originName", "", required=True)
    out["namespace"] = _text(obj, "namespace", "") or DEFAULT_NAMESPACE
    if "expressActivation" in obj:
        if not isinstance(obj["expressActivation"], bool):
            raise _bad("expressActivation must be true or false")
        out["expressActivation"] = obj["expressActivation"]
    return out


def check_patch(body: Any) -> dict[str, Any]:
    """The update request, normalised; raises `Problem` if invalid or empty."""
    obj = _object(body, "the request body")
    unknown = sorted(set(obj) - _PATCH_KEYS)
    if unknown:
        raise _bad(f"{unknown[0]!r} cannot be updated; only {', '.join(sorted(_PATCH_KEYS))}")
    if not obj:
        raise _bad("nothing to update")
    out: dict[str, Any] = {}
    if "description" in obj:
        if obj["description"] is not None and not isinstance(obj["description"], str):
            raise _bad("description must be a string or null")
        out["description"] = obj["description"]
    labels = _labels(obj, "labels", "")
    if labels is not None:
        out["labels"] = labels
    if "fields" in obj:
        out["fields"] = _fields(obj["fields"], for_create=False)
    if "ttlInDays" in obj:
        out["ttlInDays"] = _ttl(obj["ttlInDays"])
    return out


def check_run_body(body: Any) -> tuple[int, int | None]:
    """`(dataFilterStartTime, dataFilterEndTime)` of a start-run request."""
    obj = _object(body, "the request body")
    _no_unknown(obj, _RUN_KEYS, "the request body")
    if "dataFilterStartTime" not in obj:
        raise _bad("dataFilterStartTime is required")
    start = _epoch(obj["dataFilterStartTime"], "dataFilterStartTime")
    end = None
    if "dataFilterEndTime" in obj:
        end = _epoch(obj["dataFilterEndTime"], "dataFilterEndTime")
        if end < start:
            raise _bad("dataFilterEndTime must not be before dataFilterStartTime")
    return start, end


@dataclass(frozen=True)
class RunFilter:
    """One `property` filter of a run listing."""

    prop: str
    op: str
    value: str

    def matches(self, run: dict[str, Any]) -> bool:
        """Whether a run (as wire JSON) passes this filter."""
        if self.prop == "createdAt":
            created = run.get("createdAt", 0)
            bound = float(self.value)
            if bound >= MAX_EPOCH_SECONDS:
                bound /= 1000.0  # the documentation's example filters in milliseconds
            compare: dict[str, Callable[[float, float], bool]] = {
                ">=": float.__ge__,
                "<=": float.__le__,
                ">": float.__gt__,
                "<": float.__lt__,
            }
            return compare[self.op](float(created), bound)
        actual = str(run.get("audienceName" if self.prop == "name" else "status", ""))
        if self.op in ("=contains", "!=contains"):
            hit = self.value.lower() in actual.lower()
        else:
            hit = actual == self.value
        return hit if self.op.startswith("=") else not hit


_FILTER = re.compile(r"(name|status|createdAt)(!=|>=|<=|=|>|<)(.*)", re.DOTALL)


def _filter(text: str) -> RunFilter:
    match = _FILTER.fullmatch(text)
    if match is None:
        raise _bad(f"property filter {text!r}: use name, status or createdAt with an operator")
    prop, op, value = match.groups()
    if prop == "createdAt":
        if op not in (">=", "<=", ">", "<"):
            raise _bad(f"property filter {text!r}: createdAt takes >= or <=")
        try:
            float(value)
        except ValueError:
            raise _bad(f"property filter {text!r}: createdAt needs epoch seconds") from None
        return RunFilter(prop, op, value)
    if op not in ("=", "!="):
        raise _bad(f"property filter {text!r}: {prop} takes =, !=, =contains or !=contains")
    if value.startswith("contains"):
        return RunFilter(prop, op + "contains", value[len("contains") :])
    return RunFilter(prop, op, value)


def check_list_query(
    query: Sequence[tuple[str, str]],
) -> tuple[int, str, list[RunFilter]]:
    """`(limit, sortBy, filters)` of a run listing, with the documented defaults."""
    limit, sort_by, filters = 20, "-createdAt", []
    for key, value in query:
        if key == "limit":
            if not value.isdigit() or not 1 <= int(value) <= 40:
                raise _bad(f"limit must be a whole number from 1 to 40, got {value!r}")
            limit = int(value)
        elif key == "sortBy":
            if value not in _SORT_KEYS:
                raise _bad(f"sortBy must be name or createdAt, '-' first for descending: {value!r}")
            sort_by = value
        elif key == "property":
            filters.append(_filter(value))
        else:
            raise _bad(f"unknown query parameter {key!r}")
    return limit, sort_by, filters
