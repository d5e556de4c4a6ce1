"""Strict reading of a spec file: a key the SDK does not know is an error, with its path.

The SDK reads the platform's answers leniently (the platform may add keys at any time),
so a misspelt key in a person's file (`"lables"`, `"ttlIndays"`) would be dropped without
a word. Here the spec read from the file is written back by the SDK's own converter, and
each level of the file is compared with what came back: a key of the file that did not
survive the round trip is unknown.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

import attrs

from .._convert import _ALIASES, _wire_name, unstructure
from .._models import AudienceSpec, SourceSpec

__all__ = ["unknown_key"]


def unknown_key(data: dict[str, Any], spec: AudienceSpec) -> str | None:
    """The first key of `data` that `spec` (read from it) does not hold, or `None`.

    The answer reads `fields[0].lables: unknown key; did you mean labels?`.
    """
    return _check(data, unstructure(spec), AudienceSpec, "")


def _check(given: Any, written: Any, cls: type, path: str) -> str | None:
    if not isinstance(given, dict) or not isinstance(written, dict):
        return None
    if cls is SourceSpec:
        # The SDK always writes `params`; a file may have it, or the flat form.
        inner = written.get("params", written)
        if isinstance(given.get("params"), dict):
            known = {_wire_name(cls, a.name) for a in attrs.fields(cls)}
            for key in given:
                if key in known:
                    return f"{_join(path, key)}: unknown key beside params; move it into params"
                if key != "params":
                    return _unknown(path, key, ["params"])
            return _check_object(given["params"], inner, cls, _join(path, "params"))
        return _check_object(given, inner, cls, path)
    return _check_object(given, written, cls, path)


def _check_object(
    given: dict[str, Any], written: dict[str, Any], cls: type, path: str
) -> str | None:
    hints = typing.get_type_hints(cls)
    attributes = {_wire_name(cls, a.name): a.name for a in attrs.fields(cls)}
    aliases = {
        alias: _wire_name(cls, name)
        for (owner, name), alts in _ALIASES.items()
        if owner is cls
        for alias in alts
    }
    for key, value in given.items():
        target = aliases.get(key, key)
        if cls is AudienceSpec and key == "encryption":
            # Older API revisions had it here; the newest has it in the source.
            return (
                f"{_join(path, key)}: belongs in sourceSpec.params since the API's newest "
                "revision; move it there"
            )
        if target not in written or target not in attributes:
            return _unknown(path, key, list(attributes))
        model, many = _model_of(hints[attributes[target]])
        if model is None:
            continue
        if not many:
            found = _check(value, written[target], model, _join(path, key))
        elif isinstance(value, list) and isinstance(written[target], list):
            found = next(
                (
                    problem
                    for i, (item, back) in enumerate(zip(value, written[target], strict=False))
                    if (problem := _check(item, back, model, f"{_join(path, key)}[{i}]"))
                ),
                None,
            )
        else:
            found = None
        if found is not None:
            return found
    return None


def _model_of(hint: Any) -> tuple[type | None, bool]:
    """The model class a hint holds (`X`, `list[X]`, `X | Unset`), and whether a list."""
    if isinstance(hint, type) and attrs.has(hint):
        return hint, False
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint) or (None,)
        return (item, True) if isinstance(item, type) and attrs.has(item) else (None, False)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            model = _model_of(arg)
            if model[0] is not None:
                return model
    return None, False


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _unknown(path: str, key: str, known: list[str]) -> str:
    # Compared without case and underscores, so `ttl_in_days` finds `ttlInDays` too.
    by_norm = {_norm(k): k for k in known}
    close = difflib.get_close_matches(_norm(key), list(by_norm), n=1)
    hint = f"; did you mean {by_norm[close[0]]}?" if close else ""
    return f"{_join(path, key)}: unknown key{hint}"


def _norm(key: str) -> str:
    return key.replace("_", "").lower()
