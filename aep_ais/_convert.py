"""The one cattrs converter that owns the wire format.

- attribute names are snake_case in Python, camelCase on the wire, renamed for every attrs
  class by one generated hook (no hand-written table per class);
- timestamps are epoch seconds on the wire, timezone-aware `datetime`s in Python;
- `UNSET` attributes are left out of what is sent, `None` is sent as `null`;
- reading is lenient: unknown keys are ignored, unknown status strings are kept as plain
  strings, `ttlInDays` may be an int or a numeric string, `sourceSpec` may come with or
  without its `params` wrapper, and `encryption` is found inside `params`, beside it, or
  at the top level of the body (where older API revisions put it);
- a value that does not fit is said in JSON's terms by the hooks (`_WrongValueError`:
  `expected an array, got a number`), and `from_dict` names where, in the data's own names.

`to_dict` and `from_dict` are the public face of this converter, for state kept as JSON.
"""

from __future__ import annotations

import functools
import logging
import operator
import re
import sys
import types
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin

import attrs

from . import _models
from ._errors import ValidationError
from ._models import (
    UNSET,
    AudienceSpec,
    Encryption,
    ExternalAudience,
    Operation,
    OperationStatus,
    RunStatus,
    SourceSpec,
    Unset,
    _RunListing,
    _UnsetType,
)

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "from_dict",
    "run_list_query",
    "structure",
    "to_dict",
    "to_epoch",
    "unstructure",
]

T = TypeVar("T")

logger = logging.getLogger("aep_ais")

# Wire names that a plain camelCase rename does not give.
_RENAMES: dict[tuple[type, str], str] = {
    (_RunListing, "page"): "_page",
    (Operation, "details"): "operationDetails",
}

# Models that answers only echo back (an operation's `operationDetails`): one that does not
# fit is read as `None` rather than making the whole answer unreadable.
_ECHOES: frozenset[type] = frozenset({AudienceSpec})

# Bodies that older API revisions gave a top-level `encryption`; the newest revision has it
# inside `sourceSpec.params`, where it is read into `SourceSpec.encryption`.
_OLD_ENCRYPTION_PLACE: frozenset[type] = frozenset({AudienceSpec, ExternalAudience})

# Where the wire spells a name more than one way, these are read as well.
_ALIASES: dict[tuple[type, str], tuple[str, ...]] = {
    (Encryption, "sign_verification_key_id"): ("signVerificationId",),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _wire_name(cls: type, name: str) -> str:
    return _RENAMES.get((cls, name), _camel(name))


def to_epoch(value: datetime | int | float) -> int:
    """Epoch seconds for a `datetime` (naive means UTC) or a number of seconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp())
    if isinstance(value, bool):
        raise TypeError("a timestamp must be a datetime or epoch seconds, not a bool")
    return int(value)


# Epoch seconds reach this only in the year 5138; a larger number is milliseconds (the
# platform's own docs show millisecond `createdAt` values in one place).
_MILLISECONDS_FROM = 100_000_000_000


class _WrongValueError(TypeError):
    """A value that does not fit, said in JSON's terms: the message is the whole problem."""


def _kind(value: Any) -> str:
    """What `value` is in JSON's terms: `an object`, `a string`, `null`, ..."""
    if value is None:
        return "null"
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    for cls, kind in kinds.items():
        if isinstance(value, cls):
            return kind
    return "a number" if isinstance(value, int | float) else f"a {type(value).__name__}"


def _cut(text: str) -> str:
    """`text`, or its first 40 characters and `...`: what a message shows of the data."""
    return text if len(text) <= 40 else f"{text[:40]}..."


def _shown(value: Any) -> str:
    """A string or number as it is (a long one cut short), anything else by its kind."""
    if isinstance(value, str):
        return repr(_cut(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _cut(repr(value))
        except ValueError:
            # An int past Python's limit on the digits of a conversion to text.
            return f"a number of more than {sys.get_int_max_str_digits()} digits"
    return _kind(value)


def _key_text(key: Any) -> str:
    """A key as text: a dict from Python may have keys that are no strings (`{1: 2}`)."""
    if isinstance(key, str):
        return key
    try:
        return str(key)
    except ValueError:  # an int with more digits than Python converts
        return _shown(key)


def _not_an_object(value: Any) -> _WrongValueError:
    return _WrongValueError(f"expected an object, got {_kind(value)}")


def _structure_datetime(value: Any, _: type) -> datetime:
    try:
        if value.__class__ is int and -_MILLISECONDS_FROM < value < _MILLISECONDS_FROM:
            return datetime.fromtimestamp(value, tz=UTC)  # the usual case: no checks below
        if isinstance(value, str):
            seconds = float(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value
        else:
            raise _WrongValueError(f"expected epoch seconds, got {_kind(value)}")
        if abs(seconds) >= _MILLISECONDS_FROM:
            seconds = seconds / 1000
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        # Not a number ("x"), or no date at all ("inf", years past 9999).
        raise _WrongValueError(f"expected epoch seconds, got {_shown(value)}") from None


# A whole number as a string: ASCII digits only (`int()` takes `²`-like digits too).
_INTEGER = re.compile(r"\s*-?[0-9]+\s*")


def _structure_int(value: Any, _: type) -> int:
    # Lenient: the platform sends `ttlInDays` both as 40 and as "40".
    if isinstance(value, bool):
        raise _WrongValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # more digits than Python converts
            pass
    raise _WrongValueError(f"expected an integer, got {_shown(value)}")


def _structure_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return str(value)
        except ValueError:  # an int with more digits than Python converts
            raise _WrongValueError(f"expected a string, got {_shown(value)}") from None
    raise _WrongValueError(f"expected a string, got {_kind(value)}")


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise _WrongValueError(f"expected a boolean, got {_shown(value)}")


def _status_hook(enum_cls: type[OperationStatus] | type[RunStatus]) -> Any:
    members = {m.value: m for m in enum_cls}

    def structure(value: Any, _: type) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _WrongValueError(f"expected a status string, got {_kind(value)}")
        # Unknown statuses are kept as they came: they mean "still going".
        return members.get(value, value)

    return structure


def _equals(expected: Any) -> Any:
    def predicate(t: Any) -> bool:
        return bool(t == expected)

    return predicate


# Values that cattrs unstructures as themselves.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _encryption_into_source(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with an old-style top-level `encryption` moved into its `sourceSpec`.

    One the source holds already (inside `params` or beside it) wins.
    """
    body = dict(body)
    encryption = body.pop("encryption")
    source = body.get("sourceSpec")
    if not isinstance(source, dict):
        return body
    params = source.get("params")
    inner = params if isinstance(params, dict) else source
    if "encryption" in inner or "encryption" in source:
        return body
    if isinstance(params, dict):
        body["sourceSpec"] = {**source, "params": {**params, "encryption": encryption}}
    else:
        body["sourceSpec"] = {**source, "encryption": encryption}
    return body


class _MisplacedKeyError(Exception):
    """A known key in the wrong place of a strictly read body: `key` of `cls`, and why."""

    def __init__(self, cls: type, key: str, problem: str) -> None:
        super().__init__(problem)
        self.cl, self.key, self.problem = cls, key, problem


def _make_converter(*, detailed: bool = False, strict: bool = False) -> cattrs.Converter:
    """The converter; `detailed` makes its errors say where in the data they are (slower).

    `strict` (which implies `detailed`) makes a key that no model knows an error (cattrs'
    `ForbiddenExtraKeysError`) and leaves out the leniencies meant for the platform's
    answers only: an `encryption` beside `sourceSpec.params` or at the top of a create body.
    """
    # Imported here: see `_get_converter`.
    import cattrs
    from cattrs.errors import (
        AttributeValidationNote,
        ClassValidationError,
        IterableValidationError,
        IterableValidationNote,
    )
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    detailed = detailed or strict
    conv = cattrs.Converter(detailed_validation=detailed)
    # cattrs >= 24.1 names this; older releases only have the dispatcher behind it.
    get_hook: Any = getattr(conv, "get_structure_hook", None) or conv._structure_func.dispatch

    def lazy_hook(t: Any) -> Any:
        """The hook for `t`, looked up once (a dispatch per value is slow).

        For a model it is looked up on first use: doing it while the outer hook is being
        made could recurse through nested models.
        """
        if not attrs.has(t):
            return get_hook(t)
        found: list[Any] = []

        def structure(value: Any, _: type) -> Any:
            if not found:
                found.append(get_hook(t))
            return found[0](value, t)

        return structure

    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, to_epoch)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_unstructure_hook(_UnsetType, lambda _: None)
    # A plain string on the wire (and in `to_dict`), not the enum member.
    conv.register_unstructure_hook(OperationStatus, operator.attrgetter("value"))
    conv.register_unstructure_hook(RunStatus, operator.attrgetter("value"))

    def list_factory(t: Any) -> Any:
        item = get_args(t)[0] if get_args(t) else Any
        # Looked up once, on first use for a model (see `lazy_hook`), not once per item.
        item_hook = None if attrs.has(item) else get_hook(item)

        def structure_list(value: Any, _: type) -> list[Any]:
            nonlocal item_hook
            # Lenient: a list the platform sends as null is an empty one.
            if value is None:
                return []
            # cattrs would split a string into characters, or a dict into its keys.
            if not isinstance(value, list):
                raise _WrongValueError(f"expected an array, got {_kind(value)}")
            if item_hook is None:
                item_hook = get_hook(item)
            if detailed:
                return structure_items(value, item_hook)
            return [item_hook(v, item) for v in value]

        def structure_items(value: list[Any], hook: Any) -> list[Any]:
            # What cattrs' own list hook does with detailed validation: name the index.
            out: list[Any] = []
            errors: list[Exception] = []
            for i, v in enumerate(value):
                try:
                    out.append(hook(v, item))
                except Exception as exc:  # noqa: BLE001 - collected and raised below
                    exc.__notes__ = [
                        *getattr(exc, "__notes__", []),
                        IterableValidationNote(f"Structuring {t} @ index {i}", i, item),
                    ]
                    errors.append(exc)
            if errors:
                raise IterableValidationError(f"While structuring {t!r}", errors, t)
            return out

        return structure_list

    def is_list(t: Any) -> bool:
        return get_origin(t) is list

    conv.register_structure_hook_factory(is_list, list_factory)

    for enum_cls in (OperationStatus, RunStatus):
        hook = _status_hook(enum_cls)
        for union in (enum_cls | str | None, enum_cls | str):
            conv.register_structure_hook_func(_equals(union), hook)

    def is_unset_union(t: Any) -> bool:
        return get_origin(t) in (Union, types.UnionType) and Unset in get_args(t)

    def unset_union_factory(t: Any) -> Any:
        # A key that is present is never UNSET: read it as the rest of the union.
        rest = [a for a in get_args(t) if a is not Unset]
        inner = rest[0] if len(rest) == 1 else functools.reduce(operator.or_, rest)
        return lazy_hook(inner)

    def unstructure_unset_union(value: Any) -> Any:
        # What cattrs does for a union (dispatch on the value's class), minus the dispatch
        # for the plain values that nearly every such attribute holds.
        if value.__class__ in _PLAIN:
            return value
        return conv.unstructure(value)

    conv.register_structure_hook_factory(is_unset_union, unset_union_factory)
    conv.register_unstructure_hook_func(is_unset_union, unstructure_unset_union)

    def is_optional(t: Any) -> bool:
        args = get_args(t)
        return get_origin(t) in (Union, types.UnionType) and len(args) == 2 and type(None) in args

    def optional_factory(t: Any) -> Any:
        # cattrs' own hook for `X | None` looks up the hook of `X` on every value.
        inner = next(a for a in get_args(t) if a is not type(None))
        if inner is str or inner is bool:
            plain_hook = get_hook(inner)

            # Most optional attributes are strings: keep those without a further call.
            def structure_optional_plain(value: Any, _: type) -> Any:
                if value is None or value.__class__ is inner:
                    return value
                return plain_hook(value, inner)

            return structure_optional_plain
        inner_hook = None if attrs.has(inner) else get_hook(inner)

        def structure_optional(value: Any, _: type) -> Any:
            nonlocal inner_hook
            if value is None:
                return None
            if inner_hook is None:
                inner_hook = get_hook(inner)
            return inner_hook(value, inner)

        if inner not in _ECHOES or strict:
            return structure_optional

        def structure_echo(value: Any, t: type) -> Any:
            try:
                return structure_optional(value, t)
            except Exception:
                # An echo of what was sent is informational: one that does not fit must
                # not make the answer (and a wait polling it) fail.
                logger.debug("ignoring an unreadable %s echo", inner.__name__, exc_info=True)
                return None

        return structure_echo

    conv.register_structure_hook_factory(is_optional, optional_factory)

    def structure_factory(cls: type) -> Any:
        overrides: dict[str, Any] = {}
        for a in attrs.fields(cls):
            overrides[a.name] = override(rename=_wire_name(cls, a.name))
        fn: Any = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=strict, **overrides)
        aliases = {
            wire: alias
            for (owner, name), alts in _ALIASES.items()
            if owner is cls
            for alias in alts
            for wire in (_wire_name(cls, name),)
        }
        if cls is SourceSpec and strict:
            # Either form, but nothing beside `params`; what is wrong inside it is named
            # with `params` in its path.
            def structure_source_strict(value: Any, t: type) -> Any:
                if not isinstance(value, dict):
                    raise _not_an_object(value)
                if "params" not in value:
                    return fn(value, t)
                beside = [k for k in value if k != "params"]
                if beside:
                    raise _MisplacedKeyError(cls, _key_text(beside[0]), "beside params")
                try:
                    if not isinstance(value["params"], dict):
                        raise _not_an_object(value["params"])
                    return fn(value["params"], t)
                except Exception as exc:  # noqa: BLE001 - given its path, raised below
                    exc.__notes__ = [
                        *getattr(exc, "__notes__", []),
                        AttributeValidationNote("Structuring params", "params", dict),
                    ]
                    message = f"While structuring {cls.__name__}"
                    raise ClassValidationError(message, [exc], cls) from None

            return structure_source_strict
        if cls is SourceSpec:
            # Create requests wrap the source in `params`; audience answers do not. An
            # `encryption` beside `params` is read as if inside it.
            def structure_source(value: Any, t: type) -> Any:
                if not isinstance(value, dict):
                    raise _not_an_object(value)
                if isinstance(value.get("params"), dict):
                    params = value["params"]
                    if "encryption" in value and "encryption" not in params:
                        params = {**params, "encryption": value["encryption"]}
                    value = params
                return fn(value, t)

            return structure_source
        if cls in _OLD_ENCRYPTION_PLACE:

            def structure_body(value: Any, t: type) -> Any:
                if not isinstance(value, dict):
                    raise _not_an_object(value)
                if "encryption" in value:
                    if strict and cls is AudienceSpec:
                        raise _MisplacedKeyError(cls, "encryption", "moved")
                    value = _encryption_into_source(value)
                return fn(value, t)

            return structure_body
        if aliases:

            def structure_aliased(value: Any, t: type) -> Any:
                if not isinstance(value, dict):
                    # With every attribute optional, a string would read as an empty model.
                    raise _not_an_object(value)
                for wire, alias in aliases.items():
                    if wire not in value and alias in value:
                        value = {**value, wire: value[alias]}
                        if strict:
                            del value[alias]
                return fn(value, t)

            return structure_aliased

        def structure_checked(value: Any, t: type) -> Any:
            if not isinstance(value, dict):
                raise _not_an_object(value)
            return fn(value, t)

        return structure_checked

    def unstructure_factory(cls: type) -> Any:
        overrides: dict[str, Any] = {}
        for a in attrs.fields(cls):
            omit = a.default is UNSET
            overrides[a.name] = override(rename=_wire_name(cls, a.name), omit_if_default=omit)
        fn: Any = make_dict_unstructure_fn(cls, conv, **overrides)
        if cls is SourceSpec:
            return lambda value: {"params": fn(value)}
        return fn

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


_converter: cattrs.Converter | None = None
_detailed_converter: cattrs.Converter | None = None
_strict_converter: cattrs.Converter | None = None


def _get_converter() -> cattrs.Converter:
    # Built on first use: importing cattrs and building the converter is some 8 ms, a
    # sizeable share of `import aep_ais`, which a program that never converts (a CLI's
    # `--help`, a module that only names the types) need not pay; the first request does.
    global _converter
    if _converter is None:
        _converter = _make_converter()
    return _converter


def __getattr__(name: str) -> Any:
    # `converter` stays importable from here, built when first asked for.
    if name == "converter":
        return _get_converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def structure(data: Any, cls: type[T]) -> T:
    """Build a model from decoded JSON (lenient); raises on data that does not fit."""
    return (_converter or _get_converter()).structure(data, cls)


def unstructure(value: Any) -> Any:
    """The JSON-ready form of a model, `UNSET` attributes left out."""
    return (_converter or _get_converter()).unstructure(value)


def run_list_query(
    *,
    limit: int | None,
    sort_by: str | None,
    status: str | None,
    name: str | None,
    created_after: int | None,
    created_before: int | None,
    properties: Sequence[str],
) -> list[tuple[str, str]]:
    """The query string of a run listing, in the API's own words (checked values only).

    Filters go as repeated `property` parameters: `status=X`, `name=X`, `createdAt>=T`
    and `createdAt<=T` (epoch seconds, bounds included), after any raw `properties`.
    """
    query: list[tuple[str, str]] = []
    if limit is not None:
        query.append(("limit", str(limit)))
    if sort_by is not None:
        query.append(("sortBy", sort_by))
    filters = list(properties)
    if status is not None:
        filters.append(f"status={status}")
    if name is not None:
        filters.append(f"name={name}")
    if created_after is not None:
        filters.append(f"createdAt>={created_after}")
    if created_before is not None:
        filters.append(f"createdAt<={created_before}")
    query.extend(("property", f) for f in filters)
    return query


# The models `to_dict` and `from_dict` take: every attrs class `_models` exports, so a model
# added there is covered without a change here.
_PUBLIC_MODELS: frozenset[type] = frozenset(
    cls for name in _models.__all__ if attrs.has(cls := getattr(_models, name))
)


def _check_model_class(cls: Any, what: str) -> None:
    if not (isinstance(cls, type) and cls in _PUBLIC_MODELS):
        shown = cls.__qualname__ if isinstance(cls, type) else type(cls).__qualname__
        names = ", ".join(sorted(c.__name__ for c in _PUBLIC_MODELS))
        raise ValidationError(what, f"expected a public aep_ais model ({names}), got {shown}")


def to_dict(model: Any) -> dict[str, Any]:
    """The API's own JSON shape of a model: a plain dict that `json.dumps` takes as it is.

    Keys are the API's camelCase names, timestamps epoch seconds, `UNSET` attributes left
    out and `None` kept as `null`. The wire carries whole seconds: sub-second parts of a
    `datetime` are dropped (as in a request), a naive one is taken as UTC, and `from_dict`
    gives every timestamp back in UTC, the same instant (aware datetimes compare by
    instant). So `from_dict(type(m), to_dict(m)) == m` for every model whose datetimes are
    aware and whole seconds. Raises `ValidationError` for anything but a public model.
    """
    _check_model_class(type(model), "model")
    result: dict[str, Any] = unstructure(model)
    return result


def from_dict(cls: type[T], data: Any, *, strict: bool = False) -> T:
    """The model `cls` from its JSON shape (what `to_dict`, or the API, gives).

    Reading is as lenient as reading an answer (unknown keys are ignored, unknown status
    strings kept). Raises `ValidationError` for a `cls` that is not a public model, or for
    data that does not fit, naming where in the API's names and what is wrong in JSON's
    terms: `AudienceSpec.ttlInDays: expected an integer, got 'soon'`,
    `AudienceSpec.fields: expected an array, got a number`; a missing key is named at the
    object it is missing from: `AudienceSpec.fields[0]: missing key 'name'`.

    With `strict=True` (for data a person wrote, such as a spec file) a key that no model
    knows is an error too, named by its path with the closest known key, and the error's
    `extra_key` is that key (whole; the path cuts a long one short):
    `AudienceSpec.fields[0].lables: unknown key; did you mean labels?`. The forms the
    platform itself accepts stay accepted (`sourceSpec` with or without its `params`
    wrapper, `ttlInDays` as a string of ASCII digits, either spelling of the signature key id);
    an `encryption` beside `params`, or at the top of an `AudienceSpec` (where older API
    revisions had it), is an error saying where it goes.
    """
    _check_model_class(cls, "cls")
    if not isinstance(data, dict):
        raise ValidationError(cls.__name__, f"expected an object, got {_kind(data)}")
    if strict:
        model, found = _strict_reading(cls, data)
        if found is None:
            return model  # type: ignore[no-any-return]
    else:
        try:
            return structure(data, cls)
        except Exception as exc:  # noqa: BLE001 - the hooks' and cattrs' errors alike
            # Read it again, slowly, to learn where it does not fit.
            found = _where(cls, data, exc)
    # Raised here, outside the handler: the cattrs error is no `__context__` of it.
    field, problem, key = found
    raise ValidationError(field, problem, extra_key=key)


# Where in the data (in its own names), what is wrong, and the key refused if that is it.
_Problem = tuple[str, str, str | None]


def _strict_reading(cls: type, data: dict[str, Any]) -> tuple[Any, _Problem | None]:
    """`(model, None)` when `data` reads strictly as `cls`, else `(None, problem)`."""
    global _strict_converter
    if _strict_converter is None:
        _strict_converter = _make_converter(strict=True)
    try:
        return _strict_converter.structure(data, cls), None
    except Exception as exc:  # noqa: BLE001 - turned into the path and problem
        return None, _first_problem(cls, exc)


def _first_problem(cls: type, exc: BaseException) -> _Problem:
    """The first problem that a detailed converter's error `exc` holds, in the data's terms.

    Our hooks' `_WrongValueError`s are said as they are, a missing key at the object it
    is missing from, an unknown or misplaced key (strict readings) at its own path with
    the closest known key; anything else in cattrs' own words.
    """
    import cattrs
    from cattrs.v import format_exception

    # For each message `transform_error` makes, in its order: the key refused, if any,
    # and whether the problem is named at the parent of the path (a missing key). This
    # pairs `said[i]` with message `i`, so it relies on `transform_error` calling
    # `format_exception` once per message, in the order of its output, as cattrs does
    # since 23.1: `test_the_first_of_two_problems_is_said_with_its_own_path` pins it.
    said: list[tuple[str | None, bool]] = []

    def problem(error: BaseException, t: Any) -> str:
        key, up = None, False
        if isinstance(error, _WrongValueError):
            text = str(error)
        elif isinstance(error, KeyError) and error.args:
            text, up = f"missing key {error.args[0]!r}", True
        elif isinstance(error, cattrs.ForbiddenExtraKeysError):
            key = min(_key_text(k) for k in error.extra_fields)
            text = _unknown_key(error.cl, key)
        elif isinstance(error, _MisplacedKeyError):
            key = error.key
            if error.problem == "moved":
                text = "belongs in sourceSpec.params since the API's newest revision; move it there"
            elif error.key in _wire_names(error.cl):
                text = "unknown key beside params; move it into params"
            else:
                text = _unknown_key(error.cl, error.key, ["params"])
        else:
            text = format_exception(error, t)
        said.append((key, up))
        return text

    found = cattrs.transform_error(exc, path=cls.__name__, format_exception=problem)
    if not found:
        return cls.__name__, str(exc), None
    text, _, where = found[0].rpartition(" @ ")
    key, up = said[0]
    path = _wire_path(cls, where, parent=up)
    # The key whole in `extra_key`, cut short in the path (it may be of any length).
    return (path if key is None else f"{path}.{_cut(key)}"), text, key


def _wire_names(cls: type) -> list[str]:
    return [_wire_name(cls, a.name) for a in attrs.fields(cls)]


def _unknown_key(cls: type, key: str, known: Sequence[str] | None = None) -> str:
    """`unknown key`, with the closest of `cls`'s keys (case and `_` aside) as a hint."""
    import difflib

    by_norm = {_norm(k): k for k in (_wire_names(cls) if known is None else known)}
    close = difflib.get_close_matches(_norm(key), list(by_norm), n=1)
    return f"unknown key; did you mean {by_norm[close[0]]}?" if close else "unknown key"


def _norm(key: str) -> str:
    # Compared without case and underscores, so `ttl_in_days` finds `ttlInDays` too.
    return key.replace("_", "").lower()


def _where(cls: type, data: Any, first: Exception) -> _Problem:
    global _detailed_converter
    if _detailed_converter is None:
        _detailed_converter = _make_converter(detailed=True)
    try:
        _detailed_converter.structure(data, cls)
    except Exception as exc:  # noqa: BLE001 - turned into the path and problem
        return _first_problem(cls, exc)
    return cls.__name__, f"does not fit: {first}", None


def _inner(t: Any) -> Any:
    """The model or list type inside `X | None`, `X | Unset`, if there is one."""
    if get_origin(t) in (Union, types.UnionType):
        return next((a for a in get_args(t) if attrs.has(a) or get_origin(a) is list), None)
    return t


def _wire_path(cls: type, path: str, *, parent: bool = False) -> str:
    """`IngestionRun.details[1].flow_run_id` in the data's own names: `...[1].flowRunId`.

    With `parent`, the path of the object holding the last key (a source's `params`
    wrapper left out: its keys are the source's).
    """
    out = [cls.__name__]
    wrapper_at = -1
    current: Any = cls
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", path[len(cls.__name__) :]):
        if index:
            out.append(f"[{index}]")
            current = (
                get_args(current)[0] if get_origin(current) is list and get_args(current) else None
            )
        elif current is SourceSpec and name == "params":
            out.append(".params")  # the wrapper of a create body's source: still the source
            wrapper_at = len(out) - 1
            continue
        elif attrs.has(current) and name in attrs.fields_dict(current):
            out.append(f".{_wire_name(current, name)}")
            current = _inner(attrs.fields_dict(current)[name].type)
        else:
            out.append(f".{name}")
            current = None
        current = _inner(current) if current is not None else None
    if parent and len(out) > 1:
        out.pop()
        if wrapper_at == len(out) - 1:
            out.pop()
    return "".join(out)


to_dict.__module__ = from_dict.__module__ = "aep_ais"
