"""Bad input raises `ValidationError` naming the field, and nothing is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

import aep_ais
from aep_ais._validation import wire_path
from tests.conftest import AUDIENCE_ID, BASE_URL, ORG_ID, RUN_ID, SAMPLES, TOKEN, spec

F = aep_ais.AudienceField


@pytest.fixture
def guard() -> Iterator[respx.Route]:
    """A catch-all route on the API: a test asserts it was never called."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router.route(name="anything").respond(500)


@pytest.fixture
async def ais(
    guard: respx.Route, make_client: Callable[..., aep_ais.AISClient]
) -> AsyncIterator[aep_ais.AISClient]:
    async with make_client() as client:
        yield client


async def assert_refused(
    guard: respx.Route, call: Awaitable[Any], field: str, *words: str
) -> aep_ais.ValidationError:
    with pytest.raises(aep_ais.ValidationError) as info:
        await call
    err = info.value
    assert isinstance(err, ValueError)
    assert err.field == field
    # The message names the field as Python spells it and, where that differs, as the
    # wire (and a CLI spec file) does.
    assert err.wire_name in (field, wire_path(field))
    named = field if err.wire_name == field else f"{field} ({err.wire_name})"
    assert str(err).startswith(f"{named}: ")
    for word in words:
        assert word in str(err)
    assert guard.call_count == 0, "a request left the client"
    return err


def identity(name: str = "ppid") -> aep_ais.AudienceField:
    return F(name=name, type="string", identity_ns="email")


def plain(n: int) -> list[aep_ais.AudienceField]:
    return [F(name=f"col_{i}", type="string") for i in range(n)]


def source(**kw: Any) -> aep_ais.SourceSpec:
    return aep_ais.SourceSpec(**({"path": "activation/x/y.csv", "cloud_type": "DLZ"} | kw))


# The guard works: a valid spec does reach the API.
async def test_a_valid_spec_is_sent(guard: respx.Route, ais: aep_ais.AISClient) -> None:
    guard.respond(202, json=SAMPLES["create_response"])
    await ais.create_audience(spec(fields=[identity(), *plain(40)]))
    assert guard.call_count == 1


SPEC_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("empty-name", {"name": ""}, "name"),
    ("blank-name", {"name": "   "}, "name"),
    ("name-not-str", {"name": None}, "name"),
    ("ttl-0", {"ttl_in_days": 0}, "ttl_in_days"),
    ("ttl-91", {"ttl_in_days": 91}, "ttl_in_days"),
    ("ttl-negative", {"ttl_in_days": -1}, "ttl_in_days"),
    ("ttl-string", {"ttl_in_days": "40"}, "ttl_in_days"),
    ("ttl-bool", {"ttl_in_days": True}, "ttl_in_days"),
    ("ttl-float", {"ttl_in_days": 30.5}, "ttl_in_days"),
    ("no-fields", {"fields": []}, "fields"),
    ("42-fields", {"fields": [identity(), *plain(41)]}, "fields"),
    ("no-identity", {"fields": plain(3)}, "fields"),
    ("duplicate-names", {"fields": [identity("a"), F(name="a", type="string")]}, "fields"),
    ("unknown-type", {"fields": [identity(), F(name="x", type="text")]}, "fields[1].type"),
    ("missing-type", {"fields": [identity(), F(name="x")]}, "fields[1].type"),
    ("empty-field-name", {"fields": [identity(), F(name="", type="string")]}, "fields[1].name"),
    (
        "blank-identity-ns",
        {"fields": [F(name="p", type="string", identity_ns="")]},
        "fields[0].identity_ns",
    ),
    ("field-not-a-field", {"fields": [identity(), {"name": "x"}]}, "fields[1]"),
    ("fields-not-list", {"fields": (identity(),)}, "fields"),
    ("source-type-directory", {"source_spec": source(type="directory")}, "source_spec.type"),
    ("source-type-empty", {"source_spec": source(type="")}, "source_spec.type"),
    ("path-with-space", {"source_spec": source(path="activation/my file.csv")}, "source_spec.path"),
    ("path-with-tab", {"source_spec": source(path="a\tb.csv")}, "source_spec.path"),
    ("empty-path", {"source_spec": source(path="")}, "source_spec.path"),
    ("cloud-type-aws", {"source_spec": source(cloud_type="AWS")}, "source_spec.cloud_type"),
    ("cloud-type-lowercase", {"source_spec": source(cloud_type="s3")}, "source_spec.cloud_type"),
    (
        "s3-no-connection",
        {"source_spec": source(cloud_type="S3")},
        "source_spec.base_connection_id",
    ),
    (
        "gcs-no-connection",
        {"source_spec": source(cloud_type="GCS")},
        "source_spec.base_connection_id",
    ),
    (
        "sftp-no-connection",
        {"source_spec": source(cloud_type="SFTP")},
        "source_spec.base_connection_id",
    ),
    (
        "s3-empty-connection",
        {"source_spec": source(cloud_type="S3", base_connection_id="")},
        "source_spec.base_connection_id",
    ),
    ("source-not-a-spec", {"source_spec": {"path": "a.csv"}}, "source_spec"),
    ("custom-id-digit", {"custom_audience_id": "1abc"}, "custom_audience_id"),
    ("custom-id-dash", {"custom_audience_id": "-abc"}, "custom_audience_id"),
    ("custom-id-inner-dash", {"custom_audience_id": "ab-c"}, "custom_audience_id"),
    ("custom-id-space", {"custom_audience_id": "a b"}, "custom_audience_id"),
    ("custom-id-empty", {"custom_audience_id": ""}, "custom_audience_id"),
    ("labels-not-list", {"labels": "core/C1"}, "labels"),
    ("labels-empty-string", {"labels": [""]}, "labels"),
    ("tags-not-strings", {"tags": [1]}, "tags"),
    ("empty-origin", {"origin_name": ""}, "origin_name"),
    ("empty-audience-type", {"audience_type": ""}, "audience_type"),
    ("description-not-str", {"description": 5}, "description"),
    (
        "encryption-not-a-model",
        {"source_spec": source(encryption={"publicKeyId": "pk"})},
        "source_spec.encryption",
    ),
    (
        "encryption-empty-key",
        {"source_spec": source(encryption=aep_ais.Encryption(public_key_id=""))},
        "source_spec.encryption.public_key_id",
    ),
    (
        "encryption-without-key",
        {"source_spec": source(encryption=aep_ais.Encryption(sign_verification_key_id="s"))},
        "source_spec.encryption.public_key_id",
    ),
    (
        "encryption-empty-signature-key",
        {
            "source_spec": source(
                encryption=aep_ais.Encryption(public_key_id="pk", sign_verification_key_id="")
            )
        },
        "source_spec.encryption.sign_verification_key_id",
    ),
    ("no-cloud-type", {"source_spec": source(cloud_type=aep_ais.UNSET)}, "source_spec.cloud_type"),
    (
        "dlz-with-connection",
        {"source_spec": source(cloud_type="DLZ", base_connection_id="c-1")},
        "source_spec.base_connection_id",
    ),
    (
        "azure-with-connection",
        {"source_spec": source(cloud_type="Azure", base_connection_id="c-1")},
        "source_spec.base_connection_id",
    ),
    ("express-activation-not-bool", {"express_activation": "yes"}, "express_activation"),
    ("express-activation-int", {"express_activation": 1}, "express_activation"),
]


@pytest.mark.parametrize(
    ("overrides", "field"), [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES]
)
async def test_create_audience_refuses_bad_specs(
    guard: respx.Route, ais: aep_ais.AISClient, overrides: dict[str, Any], field: str
) -> None:
    await assert_refused(guard, ais.create_audience(spec(**overrides)), field)


@pytest.mark.parametrize(
    "overrides",
    [
        {"source_spec": source(cloud_type="DLZ")},
        {"source_spec": source(cloud_type="Azure")},
        {"source_spec": source(cloud_type="S3", base_connection_id="c-1")},
        {"source_spec": source(type="folder")},
        {"source_spec": source(cloud_type="GCS", base_connection_id="c-1")},
        {"source_spec": source(cloud_type="SFTP", base_connection_id="c-1")},
        {"source_spec": source(encryption=aep_ais.Encryption(public_key_id="pk"))},
        {"fields": [identity("a"), identity("b")]},
        {"fields": [identity("a"), identity("b"), identity("c"), *plain(2)]},
        {"express_activation": True},
        {"express_activation": False},
        {"custom_audience_id": "_x"},
        {"custom_audience_id": "$x1_$"},
        {"custom_audience_id": "Abc123"},
        {"ttl_in_days": 1},
        {"ttl_in_days": 90},
        {"fields": [F(name="p", type=t, identity_ns="ECID") for t in ["date"]]},
    ],
)
async def test_create_audience_accepts_the_edges(
    guard: respx.Route, ais: aep_ais.AISClient, overrides: dict[str, Any]
) -> None:
    guard.respond(202, json=SAMPLES["create_response"])
    await ais.create_audience(spec(**overrides))
    assert guard.call_count == 1


@pytest.mark.parametrize(
    "field_type", ["string", "number", "long", "integer", "date", "datetime", "boolean"]
)
async def test_every_documented_field_type_is_accepted(
    guard: respx.Route, ais: aep_ais.AISClient, field_type: str
) -> None:
    guard.respond(202, json=SAMPLES["create_response"])
    await ais.create_audience(spec(fields=[identity(), F(name="x", type=field_type)]))
    assert guard.call_count == 1


async def test_create_audience_refuses_what_is_not_a_spec(
    guard: respx.Route, ais: aep_ais.AISClient
) -> None:
    await assert_refused(guard, ais.create_audience({"name": "x"}), "spec")  # type: ignore[arg-type]


# Updates ------------------------------------------------------------------------------

U = aep_ais.AudienceUpdate


@pytest.mark.parametrize(
    ("update", "field"),
    [
        (U(), "update"),
        (U(ttl_in_days=0), "ttl_in_days"),
        (U(ttl_in_days=91), "ttl_in_days"),
        (U(labels="core/C1"), "labels"),  # type: ignore[arg-type]
        (U(description=3), "description"),  # type: ignore[arg-type]
        (U(fields=[F(name="x", type="text")]), "fields[0].type"),
        (U(fields=[F(name="")]), "fields[0].name"),
        ({"description": "x"}, "update"),
    ],
    ids=[
        "empty",
        "ttl-0",
        "ttl-91",
        "labels-str",
        "description-int",
        "field-type",
        "field-name",
        "dict",
    ],
)
async def test_update_audience_refuses_bad_updates(
    guard: respx.Route, ais: aep_ais.AISClient, update: Any, field: str
) -> None:
    await assert_refused(guard, ais.update_audience(AUDIENCE_ID, update), field)


# Runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (1_700_000_100, 1_700_000_000, "data_filter_end_time"),
        (
            datetime(2025, 6, 2, tzinfo=UTC),
            datetime(2025, 6, 1, tzinfo=UTC),
            "data_filter_end_time",
        ),
        (datetime(2025, 6, 2, tzinfo=UTC), 1_700_000_000, "data_filter_end_time"),
        ("2025-06-01", None, "data_filter_start_time"),
        (None, None, "data_filter_start_time"),
        (True, None, "data_filter_start_time"),
        (-1, None, "data_filter_start_time"),
        (1_700_000_000, "tomorrow", "data_filter_end_time"),
        (1_700_000_000, -5, "data_filter_end_time"),
        (datetime(2025, 6, 1), None, "data_filter_start_time"),
        (1_700_000_000, datetime(2025, 6, 1), "data_filter_end_time"),
        (1_700_000_000_000, None, "data_filter_start_time"),
    ],
    ids=[
        "end-before-start",
        "end-before-start-datetime",
        "mixed",
        "start-string",
        "start-none",
        "start-bool",
        "start-negative",
        "end-string",
        "end-negative",
        "start-naive",
        "end-naive",
        "start-milliseconds",
    ],
)
async def test_start_run_refuses_bad_windows(
    guard: respx.Route, ais: aep_ais.AISClient, start: Any, end: Any, field: str
) -> None:
    call = ais.start_run(AUDIENCE_ID, data_filter_start_time=start, data_filter_end_time=end)
    await assert_refused(guard, call, field)


async def test_start_run_accepts_an_empty_window(
    guard: respx.Route, ais: aep_ais.AISClient
) -> None:
    guard.respond(200, json=SAMPLES["run_started"])
    await ais.start_run(
        AUDIENCE_ID, data_filter_start_time=1_700_000_000, data_filter_end_time=1_700_000_000
    )
    assert guard.call_count == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 41}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": "20"}, "limit"),
        ({"sort_by": "status"}, "sort_by"),
        ({"sort_by": "createdAt desc"}, "sort_by"),
        ({"status": ""}, "status"),
        ({"name": "x\r\nInjected: 1"}, "name"),
        ({"properties": ["status=SUCCESS", "name=a\nb"]}, "properties[1]"),
        ({"properties": [""]}, "properties[0]"),
        ({"properties": "status=SUCCESS"}, "properties"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": float("nan")}, "created_after"),
        ({"created_after": True}, "created_after"),
        ({"created_before": -1}, "created_before"),
        ({"created_before": 10**20}, "created_before"),
    ],
)
async def test_list_runs_refuses_bad_filters(
    guard: respx.Route, ais: aep_ais.AISClient, kwargs: dict[str, Any], field: str
) -> None:
    await assert_refused(guard, ais.list_runs(AUDIENCE_ID, **kwargs), field)


# IDs that go into URL paths ---------------------------------------------------------

BAD_IDS = [
    "",
    "a/b",
    "/etc",
    "..",
    "a..b",
    "../runs",
    "a b",
    " a",
    "a\t",
    "a\n",
    "a\r",
    "a\x00b",
    "a\x1b",
    "a\x7f",
    "a?b=1",
    "a#frag",
    "a%2Fb",
    "a\\b",
    "x" * 300,
    None,
    42,
]

ID_CALLS: dict[str, tuple[str, Callable[[aep_ais.AISClient, Any], Awaitable[Any]]]] = {
    "get_operation": ("operation_id", lambda c, v: c.get_operation(v)),
    "update_audience": (
        "audience_id",
        lambda c, v: c.update_audience(v, aep_ais.AudienceUpdate(description="d")),
    ),
    "delete_audience": ("audience_id", lambda c, v: c.delete_audience(v)),
    "extend_ttl": ("audience_id", lambda c, v: c.extend_ttl(v)),
    "start_run": (
        "audience_id",
        lambda c, v: c.start_run(v, data_filter_start_time=1_700_000_000),
    ),
    "get_run-audience": ("audience_id", lambda c, v: c.get_run(v, RUN_ID)),
    "get_run-run": ("run_id", lambda c, v: c.get_run(AUDIENCE_ID, v)),
    "list_runs": ("audience_id", lambda c, v: c.list_runs(v)),
}


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=repr)
@pytest.mark.parametrize("endpoint", list(ID_CALLS))
async def test_ids_must_be_plain_identifiers(
    guard: respx.Route, ais: aep_ais.AISClient, endpoint: str, bad_id: Any
) -> None:
    field, call = ID_CALLS[endpoint]
    err = await assert_refused(guard, call(ais, bad_id), field)
    assert TOKEN not in str(err)


@pytest.mark.parametrize(
    "good_id",
    ["60ccea95-1435-4180-97a5-58af4aa285ab", "abc", "A_b.c:d@e~f", "0"],
)
async def test_plain_identifiers_are_accepted(
    guard: respx.Route, ais: aep_ais.AISClient, good_id: str
) -> None:
    guard.respond(204)
    await ais.delete_audience(good_id)
    assert guard.call_count == 1
    assert guard.calls.last.request.url.path == f"/data/core/ais/external-audience/{good_id}"


# Client configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://platform.adobe.io/data/core/ais",
        "http://10.0.0.5:8080",
        "http://example.localhost.evil.com",
        "http://127.0.0.1.nip.io",
        "ftp://127.0.0.1/ais",
        "platform.adobe.io/data/core/ais",
        "https://",
        "",
    ],
)
def test_base_url_refused(make_client: Callable[..., aep_ais.AISClient], base_url: str) -> None:
    with pytest.raises(aep_ais.ValidationError) as info:
        make_client(base_url=base_url)
    assert info.value.field == "base_url"


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.2/ais/",
        "http://localhost:8000/data/core/ais",
        "http://[::1]:9000",
        "https://platform.adobe.io/data/core/ais/",
        "https://emulator.internal:8443",
    ],
)
async def test_base_url_allowed(
    make_client: Callable[..., aep_ais.AISClient], base_url: str
) -> None:
    async with make_client(base_url=base_url) as ais:
        assert ais.base_url == base_url.rstrip("/")


async def test_plain_http_loopback_carries_requests(
    make_client: Callable[..., aep_ais.AISClient],
) -> None:
    with respx.mock(base_url="http://127.0.0.1:8000", assert_all_called=True) as local:
        route = local.delete(f"/external-audience/{AUDIENCE_ID}", name="delete").respond(204)
        async with make_client(base_url="http://127.0.0.1:8000") as ais:
            await ais.delete_audience(AUDIENCE_ID)
    assert route.call_count == 1
    assert str(route.calls.last.request.url).startswith("http://127.0.0.1:8000/")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"org_id": ""}, "org_id"),
        ({"org_id": f"{ORG_ID}\r\nX: y"}, "org_id"),
        ({"org_id": f" {ORG_ID}"}, "org_id"),
        ({"sandbox": ""}, "sandbox"),
        ({"sandbox": "prod\n"}, "sandbox"),
        ({"api_key": ""}, "api_key"),
        ({"api_key": "k\x00"}, "api_key"),
    ],
)
def test_client_refuses_bad_headers(
    make_client: Callable[..., aep_ais.AISClient], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(aep_ais.ValidationError) as info:
        make_client(**kwargs)
    assert info.value.field == field


def test_static_token_refuses_an_empty_token() -> None:
    with pytest.raises(aep_ais.ValidationError) as info:
        aep_ais.StaticToken("  ")
    assert info.value.field == "token"


async def test_http_client_and_transport_are_exclusive(
    make_client: Callable[..., aep_ais.AISClient],
) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(aep_ais.ValidationError) as info:
            make_client(
                http_client=http, transport=httpx.MockTransport(lambda r: httpx.Response(204))
            )
    assert info.value.field == "transport"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (datetime(2025, 6, 1), "timezone-aware"),
        (1_700_000_000_000, "looks like milliseconds"),
    ],
)
async def test_a_naive_or_millisecond_time_says_what_to_give(
    guard: respx.Route, ais: aep_ais.AISClient, value: Any, words: str
) -> None:
    with pytest.raises(aep_ais.ValidationError) as caught:
        await ais.list_runs(AUDIENCE_ID, created_after=value)
    assert caught.value.field == "created_after"
    assert words in str(caught.value)
    assert guard.call_count == 0


_texts = st.one_of(st.text(max_size=6), st.sampled_from(["string", "number", " ", ""]))
_maybe = st.one_of(st.just(aep_ais.UNSET), st.none(), st.integers(), _texts)


@given(
    name=st.one_of(_texts, st.none(), st.integers()),
    type_=_maybe,
    identity_ns=_maybe,
    labels=st.one_of(_maybe, st.lists(st.one_of(_texts, st.integers()), max_size=3)),
    for_create=st.booleans(),
)
def test_the_fast_field_check_agrees_with_the_full_one(
    name: Any, type_: Any, identity_ns: Any, labels: Any, for_create: bool
) -> None:
    from aep_ais._validation import _check_field, _valid_field

    field = aep_ais.AudienceField(name=name, type=type_, identity_ns=identity_ns, labels=labels)
    try:
        _check_field(field, "fields[0]", for_create=for_create)
    except aep_ais.ValidationError:
        valid = False
    else:
        valid = True
    assert _valid_field(field, for_create=for_create) is valid


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"ttl_in_days": 91}, "ttl_in_days (ttlInDays): must be a whole number of days from 1"),
        (
            {"source_spec": source(cloud_type=aep_ais.UNSET)},
            "source_spec.cloud_type (sourceSpec.params.cloudType): is required: one of Azure, "
            "DLZ, GCS, S3, SFTP",
        ),
        (
            {"source_spec": source(cloud_type="DLZ", base_connection_id="c-1")},
            "source_spec.base_connection_id (sourceSpec.params.baseConnectionId): must be left "
            "out when cloud_type is DLZ",
        ),
        (
            {"source_spec": source(encryption=aep_ais.Encryption())},
            "source_spec.encryption.public_key_id "
            "(sourceSpec.params.encryption.publicKeyId): is required",
        ),
        (
            {"fields": [identity(), F(name="x", type="text")]},
            "fields[1].type: 'text' is not one of",
        ),
        (
            {"fields": [F(name="p", type="string", identity_ns="")]},
            "fields[0].identity_ns (fields[0].identityNs): must be a non-empty string",
        ),
        ({"express_activation": "yes"}, "express_activation (expressActivation): must be True"),
        ({"fields": plain(2)}, "fields: at least one field must carry identity_ns"),
    ],
)
async def test_messages_name_the_field_by_its_wire_name_too(
    guard: respx.Route, ais: aep_ais.AISClient, overrides: dict[str, Any], words: str
) -> None:
    with pytest.raises(aep_ais.ValidationError) as info:
        await ais.create_audience(spec(**overrides))
    assert str(info.value).startswith(words)
    assert guard.call_count == 0


async def test_an_update_message_names_the_wire_name_too(
    guard: respx.Route, ais: aep_ais.AISClient
) -> None:
    with pytest.raises(aep_ais.ValidationError, match=r"^ttl_in_days \(ttlInDays\): "):
        await ais.update_audience(AUDIENCE_ID, aep_ais.AudienceUpdate(ttl_in_days=0))
    assert guard.call_count == 0


def test_express_activation_is_not_part_of_an_update() -> None:
    with pytest.raises(TypeError):
        aep_ais.AudienceUpdate(express_activation=True)  # type: ignore[call-arg]
    assert "express_activation" not in {a.name for a in attrs.fields(aep_ais.AudienceUpdate)}
    assert "encryption" not in {a.name for a in attrs.fields(aep_ais.AudienceSpec)}


def test_check_spec_is_the_create_check_offline() -> None:
    good = spec()
    assert aep_ais.check_spec(good) is good
    with pytest.raises(aep_ais.ValidationError) as info:
        aep_ais.check_spec(spec(ttl_in_days=0))
    assert (info.value.field, info.value.wire_name) == ("ttl_in_days", "ttlInDays")
    with pytest.raises(aep_ais.ValidationError) as info:
        aep_ais.check_spec({"name": "not a model"})
    assert info.value.field == "spec"


@pytest.mark.parametrize(
    "change",
    [
        {"ttl_in_days": 10**5000},  # past Python's digits limit: repr itself raised
        {"ttl_in_days": 10**200},
        {"source_spec": source(type="x" * 5000)},
        {"source_spec": source(cloud_type="S3" * 2000)},
    ],
)
def test_a_huge_or_long_value_is_named_cut_short(change: dict[str, Any]) -> None:
    with pytest.raises(aep_ais.ValidationError) as caught:
        aep_ais.check_spec(spec(**change))
    assert len(str(caught.value)) < 200
