"""Client-side checks: bad input raises `ValidationError` before any request is sent."""

from __future__ import annotations

import math
import re
from datetime import datetime

from ._convert import _MILLISECONDS_FROM, _camel, _shown, to_epoch
from ._errors import ValidationError
from ._models import UNSET, AudienceField, AudienceSpec, AudienceUpdate, Encryption, SourceSpec

__all__ = [
    "check_aware",
    "check_epoch",
    "check_header_value",
    "check_id",
    "check_int_range",
    "check_run_window",
    "check_spec",
    "check_update",
    "wire_path",
]

FIELD_TYPES = frozenset({"string", "number", "long", "integer", "date", "datetime", "boolean"})
SOURCE_TYPES = frozenset({"file", "folder"})
CLOUD_TYPES = frozenset({"S3", "DLZ", "GCS", "Azure", "SFTP"})
CLOUD_TYPES_NEEDING_CONNECTION = frozenset({"S3", "GCS", "SFTP"})
CLOUD_TYPES_REFUSING_CONNECTION = frozenset({"DLZ", "Azure"})
MAX_FIELDS = 41
TTL_RANGE = range(1, 91)

_MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
_CUSTOM_ID = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
# `\s` in a str pattern is exactly `str.isspace`, without a Python call per character.
_SPACE = re.compile(r"\s")
# An id goes into a URL path: plain identifier characters only, so no value can change
# which resource a request addresses.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@~-]*")


def check_id(value: object, what: str) -> str:
    """`value` if it is a plain identifier that is safe in a URL path."""
    if not isinstance(value, str) or not value:
        raise ValidationError(what, "must be a non-empty string")
    if len(value) > 256 or not _ID.fullmatch(value) or ".." in value:
        raise ValidationError(what, f"{value[:64]!r} is not a plain identifier")
    return value


def check_aware(value: object, what: str) -> datetime | None:
    """`value` if it is `None` or a timezone-aware `datetime` (a naive one is refused)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(what, f"must be an aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            what, "must be an aware datetime (a naive one has no time zone to read it in)"
        )
    return value


def _is_one_of(value: object, allowed: frozenset[str]) -> bool:
    # A membership test alone would raise TypeError for an unhashable value.
    return isinstance(value, str) and value in allowed


def _check_text(value: object, where: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(where, "must be a non-empty string")


def _check_labels(labels: object, where: str) -> None:
    if labels is UNSET:
        return
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise ValidationError(where, "must be a list of non-empty strings")


def _check_ttl(ttl: object, where: str) -> None:
    if ttl is UNSET:
        return
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl not in TTL_RANGE:
        raise ValidationError(
            where, f"must be a whole number of days from 1 to 90, got {_shown(ttl)}"
        )


def _valid_field(f: object, *, for_create: bool) -> bool:
    """The common case, a valid field, checked without naming anything (fast)."""
    return (
        isinstance(f, AudienceField)
        and isinstance(f.name, str)
        and bool(f.name.strip())
        and (_is_one_of(f.type, FIELD_TYPES) if (for_create or f.type is not UNSET) else True)
        and (
            f.identity_ns is UNSET
            or (isinstance(f.identity_ns, str) and bool(f.identity_ns.strip()))
        )
        and (
            f.labels is UNSET
            or (isinstance(f.labels, list) and all(isinstance(x, str) and x for x in f.labels))
        )
    )


def _check_field(f: object, where: str, *, for_create: bool) -> AudienceField:
    """`f` if valid; otherwise the `ValidationError` that names what is wrong."""
    if not isinstance(f, AudienceField):
        raise ValidationError(where, "must be an AudienceField")
    _check_text(f.name, f"{where}.name")
    if (for_create or f.type is not UNSET) and not _is_one_of(f.type, FIELD_TYPES):
        allowed = ", ".join(sorted(FIELD_TYPES))
        raise ValidationError(f"{where}.type", f"{_shown(f.type)} is not one of {allowed}")
    if f.identity_ns is not UNSET:
        _check_text(f.identity_ns, f"{where}.identity_ns")
    _check_labels(f.labels, f"{where}.labels")
    return f


def _check_encryption(encryption: object, where: str) -> None:
    if not isinstance(encryption, Encryption):
        raise ValidationError(where, "must be an Encryption")
    if encryption.public_key_id is UNSET:
        raise ValidationError(f"{where}.public_key_id", "is required")
    _check_text(encryption.public_key_id, f"{where}.public_key_id")
    if encryption.sign_verification_key_id is not UNSET:
        _check_text(encryption.sign_verification_key_id, f"{where}.sign_verification_key_id")


def _check_source(source: object) -> None:
    where = "source_spec"
    if not isinstance(source, SourceSpec):
        raise ValidationError(where, "must be a SourceSpec")
    _check_text(source.path, f"{where}.path")
    if _SPACE.search(source.path):
        raise ValidationError(f"{where}.path", "must not contain spaces")
    if not _is_one_of(source.type, SOURCE_TYPES):
        raise ValidationError(
            f"{where}.type", f"must be 'file' or 'folder', got {_shown(source.type)}"
        )
    for name in ("source_type", "base_connection_id"):
        if getattr(source, name) is not UNSET:
            _check_text(getattr(source, name), f"{where}.{name}")
    allowed = ", ".join(sorted(CLOUD_TYPES))
    if source.cloud_type is UNSET:
        raise ValidationError(f"{where}.cloud_type", f"is required: one of {allowed}")
    if not _is_one_of(source.cloud_type, CLOUD_TYPES):
        raise ValidationError(
            f"{where}.cloud_type", f"{_shown(source.cloud_type)} is not one of {allowed}"
        )
    if source.cloud_type in CLOUD_TYPES_NEEDING_CONNECTION and not source.base_connection_id:
        raise ValidationError(
            f"{where}.base_connection_id", f"is required when cloud_type is {source.cloud_type}"
        )
    if source.cloud_type in CLOUD_TYPES_REFUSING_CONNECTION and source.base_connection_id:
        raise ValidationError(
            f"{where}.base_connection_id",
            f"must be left out when cloud_type is {source.cloud_type}",
        )
    if source.encryption is not UNSET:
        _check_encryption(source.encryption, f"{where}.encryption")


def _check_fields(fields: object, *, for_create: bool) -> list[AudienceField]:
    if not isinstance(fields, list):
        raise ValidationError("fields", "must be a list of AudienceField")
    checked = [
        f
        if _valid_field(f, for_create=for_create)
        else _check_field(f, f"fields[{i}]", for_create=for_create)
        for i, f in enumerate(fields)
    ]
    names = [f.name for f in checked]
    if len(set(names)) != len(names):
        raise ValidationError("fields", "field names must be unique")
    return checked


def wire_path(where: str) -> str:
    """The wire spelling of a checked attribute's path, as a spec file would have it.

    `ttl_in_days` is `ttlInDays`; a source attribute sits in `params`:
    `source_spec.encryption.public_key_id` is `sourceSpec.params.encryption.publicKeyId`.
    """
    parts: list[str] = []
    for part in where.split("."):
        name, bracket, rest = part.partition("[")
        parts.append(_camel(name) + bracket + rest)
        if name == "source_spec" and not bracket:
            parts.append("params")
    return ".".join(parts)


def _named_on_the_wire(exc: ValidationError) -> ValidationError:
    """`exc` again, its message naming the field by its wire name as well."""
    return ValidationError(exc.field, exc.problem, wire_name=wire_path(exc.field))


def check_spec(spec: object) -> AudienceSpec:
    """Check `spec` offline against every documented rule for a create request; return it.

    The same check `create_audience` makes before sending. Nothing is sent: a broken spec
    raises `ValidationError`, whose `field` names the culprit by its Python path
    (`fields[0].identity_ns`) and `wire_name` as a request body or spec file spells it
    (`fields[0].identityNs`). Use it to vet specs before a batch, a deploy or a DAG run.
    """
    try:
        return _check_spec(spec)
    except ValidationError as exc:
        # Raised afresh, on the failure path only, so each check stays a plain raise.
        raise _named_on_the_wire(exc) from None


def _check_spec(spec: object) -> AudienceSpec:
    if not isinstance(spec, AudienceSpec):
        raise ValidationError("spec", "must be an AudienceSpec")
    _check_text(spec.name, "name")
    if spec.description is not UNSET and not isinstance(spec.description, str):
        raise ValidationError("description", "must be a string")
    fields = _check_fields(spec.fields, for_create=True)
    if not fields:
        raise ValidationError("fields", "at least one field is required")
    if len(fields) > MAX_FIELDS:
        raise ValidationError(
            "fields", f"at most {MAX_FIELDS} fields are allowed, got {len(fields)}"
        )
    if all(f.identity_ns is UNSET for f in fields):
        raise ValidationError(
            "fields", "at least one field must carry identity_ns (an identity field), found none"
        )
    _check_source(spec.source_spec)
    _check_ttl(spec.ttl_in_days, "ttl_in_days")
    cid = spec.custom_audience_id
    if cid is not UNSET and (not isinstance(cid, str) or not _CUSTOM_ID.fullmatch(cid)):
        raise ValidationError(
            "custom_audience_id",
            "must start with a letter, '_' or '$' and hold only letters, digits, '_' and '$'",
        )
    _check_labels(spec.labels, "labels")
    _check_labels(spec.tags, "tags")
    _check_text(spec.origin_name, "origin_name")
    _check_text(spec.audience_type, "audience_type")
    if spec.namespace is not UNSET:
        _check_text(spec.namespace, "namespace")
    if spec.express_activation is not UNSET and not isinstance(spec.express_activation, bool):
        raise ValidationError("express_activation", "must be True or False")
    return spec


def check_update(update: object) -> AudienceUpdate:
    """`update` if it is a valid, non-empty partial update."""
    try:
        return _check_update(update)
    except ValidationError as exc:
        raise _named_on_the_wire(exc) from None


def _check_update(update: object) -> AudienceUpdate:
    if not isinstance(update, AudienceUpdate):
        raise ValidationError("update", "must be an AudienceUpdate")
    if all(
        v is UNSET for v in (update.description, update.labels, update.fields, update.ttl_in_days)
    ):
        raise ValidationError("update", "nothing to update: set at least one attribute")
    if update.description not in (UNSET, None) and not isinstance(update.description, str):
        raise ValidationError("description", "must be a string or None")
    _check_labels(update.labels, "labels")
    if update.fields is not UNSET:
        _check_fields(update.fields, for_create=False)
    _check_ttl(update.ttl_in_days, "ttl_in_days")
    return update


def check_epoch(value: object, what: str) -> int:
    """Epoch seconds for a `datetime` or a number of seconds from 1970 to the year 9999."""
    if isinstance(value, bool) or not isinstance(value, datetime | int | float):
        raise ValidationError(what, "must be a datetime or epoch seconds")
    # NaN, infinities and out-of-range values would otherwise escape as ValueError,
    # OverflowError or OSError when the epoch is turned back into a datetime.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(what, "must be a finite number of epoch seconds")
    if isinstance(value, datetime) and value.utcoffset() is None:
        # Python reads a naive datetime as local time, the platform's epochs are UTC:
        # guessing either way would shift the window without a word.
        raise ValidationError(
            what, "must be timezone-aware, e.g. datetime.now(UTC) or .replace(tzinfo=UTC)"
        )
    epoch = to_epoch(value)
    if epoch >= _MILLISECONDS_FROM and not isinstance(value, datetime):
        raise ValidationError(what, f"{_shown(value)} looks like milliseconds: give epoch seconds")
    if not 0 <= epoch <= _MAX_EPOCH:
        raise ValidationError(what, "must lie between 1970 and the year 9999")
    return epoch


def check_run_window(start: object, end: object) -> None:
    """Both ends are timestamps and the window does not end before it starts."""
    try:
        _check_run_window(start, end)
    except ValidationError as exc:
        raise _named_on_the_wire(exc) from None


def _check_run_window(start: object, end: object) -> None:
    bounds: list[int] = []
    for name, value in (("data_filter_start_time", start), ("data_filter_end_time", end)):
        if value is None and name == "data_filter_end_time":
            continue
        bounds.append(check_epoch(value, name))
    if len(bounds) == 2 and bounds[1] < bounds[0]:
        raise ValidationError("data_filter_end_time", "must not be before data_filter_start_time")


def check_header_value(value: object, what: str) -> str:
    """`value` if it can travel in a header or query: printable ASCII, no edge spaces."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(what, "must be a non-empty string")
    if value != value.strip() or not all(" " <= ch <= "~" for ch in value):
        raise ValidationError(
            what, "must be printable ASCII without line breaks or surrounding spaces"
        )
    return value


def check_int_range(value: int, what: str, low: int, high: int) -> int:
    """`value` if it is a whole number from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(what, f"must be a whole number from {low} to {high}")
    return value
