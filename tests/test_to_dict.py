"""`to_dict` / `from_dict`: the API's JSON shape of every public model, an exact round trip.

Strategies are built from the models' own attrs fields and type hints, so a model that
gains an attribute, or a new model exported from `_models`, is covered without a change
here.
"""

from __future__ import annotations

import enum
import json
import types
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, Union, get_args, get_origin

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aep_ais
from aep_ais import _models
from tests.conftest import AUDIENCE_ID, RUN_ID, SAMPLES

PUBLIC_MODELS = sorted(
    (cls for name in _models.__all__ if attrs.has(cls := getattr(_models, name))),
    key=lambda cls: cls.__name__,
)

# Whole seconds (the wire carries epoch seconds), any fixed offset, and years the wire
# reads as seconds (from 5138 on, a number that big is read as milliseconds).
_OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_DATETIMES = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(5000, 1, 1), timezones=_OFFSETS
).map(lambda dt: dt.replace(microsecond=0))


def strategy(t: Any) -> st.SearchStrategy[Any]:
    """Values of the annotation `t`, derived from the type alone."""
    if attrs.has(t):
        return st.builds(t, **{a.name: strategy(a.type) for a in attrs.fields(t)})
    origin, args = get_origin(t), get_args(t)
    if origin in (Union, types.UnionType):
        return st.one_of(*(strategy(a) for a in args))
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(strategy(args[0]), max_size=3)
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return st.sampled_from(list(t))
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=12),
        int: st.integers(),
        bool: st.booleans(),
        type(None): st.none(),
        datetime: _DATETIMES,
    }
    if t in simple:
        return simple[t]
    raise AssertionError(f"no strategy for {t!r}: teach tests/test_to_dict.py about it")


@pytest.mark.parametrize("cls", PUBLIC_MODELS, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_model_round_trips_through_json(cls: type, data: st.DataObject) -> None:
    model = data.draw(strategy(cls))
    as_dict = aep_ais.to_dict(model)
    text = json.dumps(as_dict)  # json-safe as it is, no `default=`
    assert json.loads(text) == as_dict
    back = aep_ais.from_dict(cls, json.loads(text))
    assert back == model
    assert type(back) is cls
    # What `to_dict` writes has no key a strict reading refuses.
    assert aep_ais.from_dict(cls, json.loads(text), strict=True) == model


def test_the_shape_is_the_apis_own(sample: Any) -> None:
    run = aep_ais.from_dict(aep_ais.IngestionRun, sample("run"))
    assert run.status is aep_ais.RunStatus.SUCCESS
    assert run.created_at == datetime(2025, 6, 7, 19, 24, 8, tzinfo=UTC)
    assert aep_ais.to_dict(run) == SAMPLES["run"]
    as_dict = aep_ais.to_dict(run)
    assert type(as_dict["status"]) is str and type(as_dict["createdAt"]) is int


def test_unset_is_left_out_and_none_is_kept() -> None:
    update = aep_ais.AudienceUpdate(description=None, ttl_in_days=7)
    assert aep_ais.to_dict(update) == {"description": None, "ttlInDays": 7}
    assert aep_ais.from_dict(aep_ais.AudienceUpdate, {"ttlInDays": 7}).description is aep_ais.UNSET
    assert aep_ais.from_dict(aep_ais.AudienceUpdate, {"description": None}).description is None


def test_an_aware_datetime_elsewhere_comes_back_as_the_same_instant_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    start = datetime(2026, 6, 1, 10, 0, 0, tzinfo=paris)
    run = aep_ais.IngestionRun(run_id=RUN_ID, data_filter_start_time=start)
    back = aep_ais.from_dict(aep_ais.IngestionRun, aep_ais.to_dict(run))
    assert back == run
    assert back.data_filter_start_time == start
    assert back.data_filter_start_time is not None
    assert back.data_filter_start_time.tzinfo is UTC
    assert back.data_filter_start_time.hour == 8


def test_sub_seconds_are_dropped_and_a_naive_datetime_is_utc() -> None:
    precise = datetime(2026, 6, 1, 10, 0, 0, 750_000, tzinfo=UTC)
    run = aep_ais.IngestionRun(run_id=RUN_ID, created_at=precise)
    assert aep_ais.to_dict(run)["createdAt"] == int(precise.replace(microsecond=0).timestamp())
    back = aep_ais.from_dict(aep_ais.IngestionRun, aep_ais.to_dict(run))
    assert back.created_at == precise.replace(microsecond=0)
    naive = aep_ais.IngestionRun(run_id=RUN_ID, created_at=datetime(2026, 6, 1, 10, 0, 0))
    again = aep_ais.from_dict(aep_ais.IngestionRun, aep_ais.to_dict(naive))
    assert again.created_at == datetime(2026, 6, 1, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [{"runId": RUN_ID}, aep_ais.PollPolicy(), aep_ais.RunList([]), None, "text", 3],
    ids=["dict", "policy", "run-list", "none", "str", "int"],
)
def test_to_dict_takes_public_models_only(value: Any) -> None:
    with pytest.raises(aep_ais.ValidationError, match="expected a public aep_ais model") as info:
        aep_ais.to_dict(value)
    assert info.value.field == "model"


@pytest.mark.parametrize(
    "cls",
    [aep_ais.PollPolicy, aep_ais.RetryPolicy, _models._RunRequest, dict, "IngestionRun", None],
    ids=["PollPolicy", "RetryPolicy", "private", "dict", "str", "none"],
)
def test_from_dict_takes_public_model_classes_only(cls: Any) -> None:
    with pytest.raises(aep_ais.ValidationError, match="expected a public aep_ais model") as info:
        aep_ais.from_dict(cls, {"runId": RUN_ID})
    assert info.value.field == "cls"


@pytest.mark.parametrize(
    ("cls", "data", "where", "problem"),
    [
        (aep_ais.IngestionRun, {}, "IngestionRun", "missing key 'runId'"),
        (
            aep_ais.IngestionRun,
            {"runId": RUN_ID, "details": [{"stage": "A"}, {"stage": "B", "flowRunId": {}}]},
            "IngestionRun.details[1].flowRunId",
            "expected a string, got an object",
        ),
        (
            aep_ais.IngestionRun,
            {"runId": RUN_ID, "createdAt": "yesterday"},
            "IngestionRun.createdAt",
            "expected epoch seconds, got 'yesterday'",
        ),
        (
            aep_ais.IngestionRun,
            {"runId": RUN_ID, "details": "x"},
            "IngestionRun.details",
            "expected an array, got a string",
        ),
        (
            aep_ais.AudienceSpec,
            {**SAMPLES["create_request"], "fields": [{"name": "a", "labels": ["ok", {}]}]},
            "AudienceSpec.fields[0].labels[1]",
            "expected a string, got an object",
        ),
        (
            aep_ais.Operation,
            {"operationId": "o", "status": 7},
            "Operation.status",
            "expected a status string, got a number",
        ),
        (aep_ais.IngestionRun, [RUN_ID], "IngestionRun", "expected an object, got an array"),
    ],
)
def test_malformed_data_names_the_path(cls: type, data: Any, where: str, problem: str) -> None:
    for strict in (False, True):
        with pytest.raises(aep_ais.ValidationError) as info:
            aep_ais.from_dict(cls, data, strict=strict)
        assert (info.value.field, info.value.problem) == (where, problem)
        # The user sees the SDK's error alone: no cattrs exception behind it.
        assert info.value.__cause__ is None and info.value.__context__ is None
        assert info.value.extra_key is None


def _body(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(SAMPLES["create_request"]))
    body.update(change)
    return body


@pytest.mark.parametrize(
    ("cls", "data", "where", "problem"),
    [
        (
            aep_ais.AudienceSpec,
            _body(ttlInDays="soon"),
            "AudienceSpec.ttlInDays",
            "expected an integer, got 'soon'",
        ),
        (
            aep_ais.AudienceSpec,
            _body(sourceSpec="s3://bucket/a.csv"),
            "AudienceSpec.sourceSpec",
            "expected an object, got a string",
        ),
        (
            aep_ais.AudienceSpec,
            _body(fields=3),
            "AudienceSpec.fields",
            "expected an array, got a number",
        ),
        (
            aep_ais.AudienceSpec,
            _body(fields=[{"name": "a"}, 7]),
            "AudienceSpec.fields[1]",
            "expected an object, got a number",
        ),
        (
            aep_ais.AudienceSpec,
            _body(fields=[{"type": "string"}]),
            "AudienceSpec.fields[0]",
            "missing key 'name'",
        ),
        (aep_ais.AudienceSpec, {}, "AudienceSpec", "missing key 'name'"),
        (
            aep_ais.AudienceSpec,
            _body(sourceSpec={"params": {"type": "file"}}),
            "AudienceSpec.sourceSpec",
            "missing key 'path'",
        ),
        (
            aep_ais.AudienceSpec,
            _body(name=["x"]),
            "AudienceSpec.name",
            "expected a string, got an array",
        ),
        (
            aep_ais.AudienceSpec,
            _body(expressActivation="yes"),
            "AudienceSpec.expressActivation",
            "expected a boolean, got 'yes'",
        ),
        (
            aep_ais.IngestionRun,
            {"runId": RUN_ID, "createdAt": "12x"},
            "IngestionRun.createdAt",
            "expected epoch seconds, got '12x'",
        ),
        (
            aep_ais.Operation,
            {"operationId": "o", "updatedAt": [1]},
            "Operation.updatedAt",
            "expected epoch seconds, got an array",
        ),
        (
            aep_ais.Operation,
            {"operationId": "o", "createdAt": "inf"},
            "Operation.createdAt",
            "expected epoch seconds, got 'inf'",
        ),
    ],
)
def test_from_dict_says_what_is_wrong_in_json_terms(
    cls: type, data: Any, where: str, problem: str
) -> None:
    for strict in (False, True):
        with pytest.raises(aep_ais.ValidationError) as info:
            aep_ais.from_dict(cls, data, strict=strict)
        assert (info.value.field, info.value.problem) == (where, problem), strict
        assert info.value.extra_key is None
        assert info.value.__cause__ is None and info.value.__context__ is None


def test_a_value_inside_params_is_named_there_by_a_strict_reading() -> None:
    # A lenient reading takes the source with or without its wrapper, and names the
    # attribute of the source; a strict one names the key where the file has it.
    data = _body(sourceSpec={"params": {"path": "a.csv", "encryption": "k"}})
    expected = [
        (False, "AudienceSpec.sourceSpec.encryption"),
        (True, "AudienceSpec.sourceSpec.params.encryption"),
    ]
    for strict, where in expected:
        with pytest.raises(aep_ais.ValidationError) as info:
            aep_ais.from_dict(aep_ais.AudienceSpec, data, strict=strict)
        assert (info.value.field, info.value.problem) == (where, "expected an object, got a string")


def _spec(change: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(SAMPLES["create_request"]))
    change(body)
    return body


def _set(where: list[str | int], key: str, value: Any = "x") -> Any:
    def change(body: dict[str, Any]) -> None:
        target: Any = body
        for step in where:
            target = target[step]
        target[key] = value

    return change


ENCRYPTION = {"publicKeyId": "k", "signVerificationKeyId": "s"}


@pytest.mark.parametrize(
    ("cls", "data", "where", "problem"),
    [
        (
            aep_ais.AudienceSpec,
            _spec(_set([], "ttlIndays", 30)),
            "AudienceSpec.ttlIndays",
            "unknown key; did you mean ttlInDays?",
        ),
        (
            aep_ais.AudienceSpec,
            _spec(_set([], "ttl_in_days", 30)),
            "AudienceSpec.ttl_in_days",
            "unknown key; did you mean ttlInDays?",
        ),
        (aep_ais.AudienceSpec, _spec(_set([], "colour")), "AudienceSpec.colour", "unknown key"),
        (
            aep_ais.AudienceSpec,
            _spec(_set(["fields", 1], "lables", [])),
            "AudienceSpec.fields[1].lables",
            "unknown key; did you mean labels?",
        ),
        (
            aep_ais.AudienceSpec,
            _spec(_set(["sourceSpec", "params"], "cloud_tpye", "S3")),
            "AudienceSpec.sourceSpec.params.cloud_tpye",
            "unknown key; did you mean cloudType?",
        ),
        (
            aep_ais.AudienceSpec,
            _spec(lambda b: b.update(sourceSpec={"path": "a.csv", "tpye": "file"})),
            "AudienceSpec.sourceSpec.tpye",
            "unknown key; did you mean type?",
        ),
        (
            aep_ais.AudienceSpec,
            _spec(_set(["sourceSpec", "params"], "encryption", {**ENCRYPTION, "publicKey": "x"})),
            "AudienceSpec.sourceSpec.params.encryption.publicKey",
            "unknown key; did you mean publicKeyId?",
        ),
        (
            aep_ais.AudienceSpec,
            _spec(_set(["sourceSpec"], "path", "a.csv")),
            "AudienceSpec.sourceSpec.path",
            "unknown key beside params; move it into params",
        ),
        (
            aep_ais.AudienceSpec,
            _spec(_set(["sourceSpec"], "parms", {})),
            "AudienceSpec.sourceSpec.parms",
            "unknown key; did you mean params?",
        ),
        (
            aep_ais.AudienceSpec,
            _spec(_set(["sourceSpec"], "encryption", ENCRYPTION)),
            "AudienceSpec.sourceSpec.encryption",
            "unknown key beside params; move it into params",
        ),
        (
            aep_ais.AudienceSpec,
            _spec(_set([], "encryption", ENCRYPTION)),
            "AudienceSpec.encryption",
            "belongs in sourceSpec.params since the API's newest revision; move it there",
        ),
        (
            aep_ais.IngestionRun,
            {"runId": RUN_ID, "details": [{"stage": "A"}, {"stage": "B", "flowRunID": "f"}]},
            "IngestionRun.details[1].flowRunID",
            "unknown key; did you mean flowRunId?",
        ),
    ],
)
def test_a_strict_reading_names_an_unknown_key_by_its_path(
    cls: type, data: Any, where: str, problem: str
) -> None:
    assert type(aep_ais.from_dict(cls, data)) is cls  # a lenient reading ignores the key
    with pytest.raises(aep_ais.ValidationError) as info:
        aep_ais.from_dict(cls, data, strict=True)
    assert (info.value.field, info.value.problem) == (where, problem)
    assert info.value.extra_key == where.rpartition(".")[2]
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize(
    "change",
    [
        lambda b: None,
        lambda b: b.update(sourceSpec=b["sourceSpec"]["params"]),  # without `params`
        lambda b: b.update(ttlInDays="30"),  # a numeric string
        lambda b: b["sourceSpec"]["params"].update(encryption=ENCRYPTION),
        lambda b: b["sourceSpec"]["params"].update(
            encryption={"publicKeyId": "k", "signVerificationId": "s"}  # the other spelling
        ),
    ],
    ids=["sample", "flat source", "ttl as a string", "encryption", "other key id spelling"],
)
def test_a_strict_reading_accepts_every_form_the_platform_accepts(change: Any) -> None:
    data = _spec(change)
    strict = aep_ais.from_dict(aep_ais.AudienceSpec, data, strict=True)
    assert strict == aep_ais.from_dict(aep_ais.AudienceSpec, data)


def test_a_strict_reading_checks_values_as_a_lenient_one_does() -> None:
    data = {"runId": RUN_ID, "createdAt": "yesterday"}
    for strict in (False, True):
        with pytest.raises(aep_ais.ValidationError) as info:
            aep_ais.from_dict(aep_ais.IngestionRun, data, strict=strict)
        assert info.value.field == "IngestionRun.createdAt"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@pytest.mark.parametrize("cls", PUBLIC_MODELS, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_from_dict_gives_a_model_or_a_validation_error(cls: type, data: st.DataObject) -> None:
    # The model's own keys with random values, or random JSON altogether.
    keys = st.sampled_from(list(aep_ais.to_dict(data.draw(strategy(cls))).keys()) or ["x"])
    value = data.draw(st.dictionaries(keys, _JSON, max_size=4) | _JSON)
    try:
        result = aep_ais.from_dict(cls, value, strict=data.draw(st.booleans()))
    except aep_ais.ValidationError as exc:
        assert exc.__context__ is None
        assert str(exc).startswith(cls.__name__)
    else:
        assert type(result) is cls


def test_a_workflow_step_keeps_a_run_as_json() -> None:
    run = aep_ais.IngestionRun(
        run_id=RUN_ID,
        audience_id=AUDIENCE_ID,
        status="QUEUED_FOR_LATER",  # an unknown status is kept as it came
        details=[aep_ais.StageStatus(stage="DATASET_INGEST", status=aep_ais.RunStatus.PROCESSING)],
    )
    state = json.dumps({"run": aep_ais.to_dict(run)})
    assert aep_ais.from_dict(aep_ais.IngestionRun, json.loads(state)["run"]) == run


# What a message shows of the data is bounded: a key or a value of any length, or a number
# past Python's limit on the digits of a conversion to text, is cut short (40 characters).
_LONG_KEY = "k" * 5000


@pytest.mark.parametrize(
    ("where", "body"),
    [([], _body()), (["fields", 0], _body()), (["sourceSpec"], _body(sourceSpec={"path": "a"}))],
    ids=["top", "field", "source"],
)
def test_a_long_unknown_key_is_cut_short_in_the_path_but_kept_whole(
    where: list[str | int], body: dict[str, Any]
) -> None:
    target: Any = body
    for step in where:
        target = target[step]
    target[_LONG_KEY] = 1
    with pytest.raises(aep_ais.ValidationError) as info:
        aep_ais.from_dict(aep_ais.AudienceSpec, body, strict=True)
    assert info.value.field.endswith("." + "k" * 40 + "...")
    assert len(str(info.value)) < 150
    assert info.value.extra_key == _LONG_KEY


@pytest.mark.parametrize(
    ("data", "where", "problem"),
    [
        (
            {"runId": RUN_ID, "createdAt": 10**400},
            "IngestionRun.createdAt",
            "expected epoch seconds, got " + "1" + "0" * 39 + "...",
        ),
        (
            {"runId": RUN_ID, "createdAt": 10**5000},
            "IngestionRun.createdAt",
            "expected epoch seconds, got a number of more than 4300 digits",
        ),
        (
            {"runId": RUN_ID, "createdAt": -(10**5000)},
            "IngestionRun.createdAt",
            "expected epoch seconds, got a number of more than 4300 digits",
        ),
        (
            {"runId": RUN_ID, "details": [{"stage": "A", "flowRunId": 10**5000}]},
            "IngestionRun.details[0].flowRunId",
            "expected a string, got a number of more than 4300 digits",
        ),
        (
            {"runId": RUN_ID, "createdAt": "9" * 5000},
            "IngestionRun.createdAt",
            "expected epoch seconds, got '" + "9" * 40 + "...'",
        ),
    ],
)
def test_a_huge_number_is_shown_cut_short(data: Any, where: str, problem: str) -> None:
    for strict in (False, True):
        with pytest.raises(aep_ais.ValidationError) as info:
            aep_ais.from_dict(aep_ais.IngestionRun, data, strict=strict)
        assert (info.value.field, info.value.problem) == (where, problem)
        assert info.value.__context__ is None


@pytest.mark.parametrize("ttl", ["--4", "-", "²", "٤", "4-", "+4", "4.0", "1_000", "9" * 5000])
def test_a_ttl_string_is_a_whole_number_in_ascii_digits_or_an_error(ttl: str) -> None:
    for strict in (False, True):
        with pytest.raises(aep_ais.ValidationError) as info:
            aep_ais.from_dict(aep_ais.AudienceSpec, _body(ttlInDays=ttl), strict=strict)
        shown = ttl if len(ttl) <= 40 else ttl[:40] + "..."
        assert (info.value.field, info.value.problem) == (
            "AudienceSpec.ttlInDays",
            f"expected an integer, got {shown!r}",
        )


@pytest.mark.parametrize("ttl", ["4", "-4", " 40 ", "0040"])
def test_a_ttl_string_of_ascii_digits_is_read(ttl: str) -> None:
    spec = aep_ais.from_dict(aep_ais.AudienceSpec, _body(ttlInDays=ttl), strict=True)
    assert spec.ttl_in_days == int(ttl)


@pytest.mark.parametrize(
    ("extra", "where", "key"),
    [
        ({1: 2}, [], "1"),
        ({1: 2, "x": 3}, [], "1"),
        ({None: 2}, ["fields", 0], "None"),
        ({(1, 2): 2}, ["sourceSpec", "params"], "(1, 2)"),
    ],
    ids=["int", "int and str", "None in a field", "tuple in params"],
)
def test_a_key_that_is_no_string_is_a_validation_error(
    extra: dict[Any, Any], where: list[str | int], key: str
) -> None:
    body = _body()
    target: Any = body
    for step in where:
        target = target[step]
    target.update(extra)
    with pytest.raises(aep_ais.ValidationError) as info:
        aep_ais.from_dict(aep_ais.AudienceSpec, body, strict=True)
    assert info.value.field.endswith(f".{key}")
    assert (info.value.problem, info.value.extra_key) == ("unknown key", key)
    # A lenient reading ignores it, as any unknown key.
    assert type(aep_ais.from_dict(aep_ais.AudienceSpec, body)) is aep_ais.AudienceSpec


def test_a_key_that_is_an_int_too_long_to_show_is_a_validation_error() -> None:
    with pytest.raises(aep_ais.ValidationError) as info:
        aep_ais.from_dict(aep_ais.AudienceSpec, _body() | {10**5000: 2}, strict=True)
    shown = "a number of more than 4300 digits"
    assert (info.value.field, info.value.extra_key) == (f"AudienceSpec.{shown}", shown)


def test_a_key_that_is_no_string_beside_params_is_a_validation_error() -> None:
    body = _body(sourceSpec={"params": {"path": "a"}, 7: "x"})
    with pytest.raises(aep_ais.ValidationError) as info:
        aep_ais.from_dict(aep_ais.AudienceSpec, body, strict=True)
    assert (info.value.field, info.value.extra_key) == ("AudienceSpec.sourceSpec.7", "7")


# `_first_problem` pairs each message of `cattrs.transform_error` with what its own
# `format_exception` learnt while making it: this holds only while cattrs calls that once
# per message, in the order of its output (problems with a path before those without).
@pytest.mark.parametrize(
    ("data", "stricts", "where", "problem"),
    [
        (  # a wrong value, then an unknown key (strict) or nothing (lenient)
            _body(ttlInDays="soon", colour="red"),
            (False, True),
            "AudienceSpec.ttlInDays",
            "expected an integer, got 'soon'",
        ),
        (  # a wrong value, then a missing key
            _body(name=["x"], fields=[{"type": "string"}]),
            (False, True),
            "AudienceSpec.name",
            "expected a string, got an array",
        ),
        (  # a missing key, then a wrong value
            _body(fields=[{"type": "string"}], ttlInDays="soon"),
            (False, True),
            "AudienceSpec.fields[0]",
            "missing key 'name'",
        ),
        (  # an unknown key, then a wrong value deeper in the body
            _body(fields=[{"name": "a", "lables": []}], ttlInDays="soon"),
            (True,),
            "AudienceSpec.fields[0].lables",
            "unknown key; did you mean labels?",
        ),
    ],
)
def test_the_first_of_two_problems_is_said_with_its_own_path(
    data: Any, stricts: tuple[bool, ...], where: str, problem: str
) -> None:
    for strict in stricts:
        with pytest.raises(aep_ais.ValidationError) as info:
            aep_ais.from_dict(aep_ais.AudienceSpec, data, strict=strict)
        assert (info.value.field, info.value.problem) == (where, problem), strict
