"""Strict reading of a spec file: a key the SDK does not know is an error, with its path.

The SDK reads the platform's answers leniently (the platform may add keys at any time),
so a misspelt key in a person's file (`"lables"`, `"ttlIndays"`) would be dropped without
a word. A file is read with `aep_ais.from_dict(..., strict=True)` instead, which names
such a key by its path and the closest known key.
"""

from __future__ import annotations

from typing import Any

from aep_ais import AudienceSpec, ValidationError, from_dict

__all__ = ["unknown_key"]

_PREFIX = f"{AudienceSpec.__name__}."


def unknown_key(data: dict[str, Any]) -> str | None:
    """What a strict reading of `data` (a create body the SDK reads leniently) finds, or `None`.

    The answer reads `fields[0].lables: unknown key; did you mean labels?`.
    """
    try:
        from_dict(AudienceSpec, data, strict=True)
    except ValidationError as exc:
        return f"{exc.field.removeprefix(_PREFIX)}: {exc.problem}"
    return None
