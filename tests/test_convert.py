"""The one converter: camelCase, epoch seconds, UNSET vs null, lenient reading, round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aep_ais
from aep_ais import UNSET
from aep_ais._convert import structure, to_epoch, unstructure
from aep_ais._models import _RunListing, _RunRequest
from tests.conftest import AUDIENCE_ID, RUN_ID, SAMPLES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 6, 7, 19, 24, 8, tzinfo=UTC), 1749324248),
        (datetime(2025, 6, 7, 21, 24, 8, tzinfo=timezone(timedelta(hours=2))), 1749324248),
        (datetime(2025, 6, 7, 19, 24, 8), 1749324248),
        (datetime(2025, 6, 7, 19, 24, 8, 999_999, tzinfo=UTC), 1749324248),
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (1749324248, 1749324248),
        (1749324248.9, 1749324248),
        (0, 0),
    ],
)
def test_to_epoch(value: datetime | int | float, expected: int) -> None:
    assert to_epoch(value) == expected
    assert type(to_epoch(value)) is int


def test_to_epoch_refuses_a_bool() -> None:
    with pytest.raises(TypeError):
        to_epoch(True)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (1749324248, datetime(2025, 6, 7, 19, 24, 8, tzinfo=UTC)),
        (1749324248.5, datetime(2025, 6, 7, 19, 24, 8, 500_000, tzinfo=UTC)),
        ("1749324248", datetime(2025, 6, 7, 19, 24, 8, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_timestamps_are_read_as_aware_utc(wire: Any, expected: datetime) -> None:
    run = structure({"runId": RUN_ID, "createdAt": wire}, aep_ais.IngestionRun)
    assert run.created_at == expected
    assert run.created_at is not None
    assert run.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("wire", "expected"),
    [(40, 40), ("40", 40), (" 40 ", 40), (40.0, 40), ("-5", -5), (None, None)],
)
def test_ttl_in_days_int_or_numeric_string(wire: Any, expected: int | None) -> None:
    audience = structure({"audienceId": AUDIENCE_ID, "ttlInDays": wire}, aep_ais.ExternalAudience)
    assert audience.ttl_in_days == expected


@pytest.mark.parametrize("wire", [40.5, "forty", "4x", "", True, [40], {"days": 40}])
def test_ttl_in_days_that_is_not_a_whole_number_is_refused(wire: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        structure({"audienceId": AUDIENCE_ID, "ttlInDays": wire}, aep_ais.ExternalAudience)


@pytest.mark.parametrize("wrapped", [True, False], ids=["params", "flat"])
def test_source_spec_with_or_without_params(wrapped: bool) -> None:
    flat = {
        "path": "a/b.csv",
        "type": "folder",
        "sourceType": "Cloud Storage",
        "cloudType": "S3",
        "baseConnectionId": "c-1",
        "futureKey": 1,
    }
    wire = {"params": flat} if wrapped else flat
    assert structure(wire, aep_ais.SourceSpec) == aep_ais.SourceSpec(
        path="a/b.csv",
        type="folder",
        source_type="Cloud Storage",
        cloud_type="S3",
        base_connection_id="c-1",
    )


def test_source_spec_is_always_sent_wrapped_in_params() -> None:
    assert unstructure(aep_ais.SourceSpec(path="a/b.csv")) == {
        "params": {"path": "a/b.csv", "type": "file"}
    }


def test_encryption_reads_both_spellings_of_the_signature_key() -> None:
    for key in ("signVerificationKeyId", "signVerificationId"):
        enc = structure({"publicKeyId": "pk", key: "sk"}, aep_ais.Encryption)
        assert enc == aep_ais.Encryption(public_key_id="pk", sign_verification_key_id="sk")
    assert unstructure(aep_ais.Encryption(public_key_id="pk", sign_verification_key_id="sk")) == {
        "publicKeyId": "pk",
        "signVerificationKeyId": "sk",
    }


_ENC = aep_ais.Encryption(public_key_id="pk", sign_verification_key_id="sk")
_PLACES = {
    # The newest docs revision: inside `params`.
    "in params": lambda src, enc: {"sourceSpec": {"params": {**src, "encryption": enc}}},
    # An answer with a flat source.
    "in a flat source": lambda src, enc: {"sourceSpec": {**src, "encryption": enc}},
    "beside params": lambda src, enc: {"sourceSpec": {"params": src, "encryption": enc}},
    # Older revisions: the top level of the body.
    "top level, params": lambda src, enc: {"sourceSpec": {"params": src}, "encryption": enc},
    "top level, flat": lambda src, enc: {"sourceSpec": src, "encryption": enc},
}


@pytest.mark.parametrize("place", list(_PLACES))
@pytest.mark.parametrize("key", ["signVerificationKeyId", "signVerificationId"])
@pytest.mark.parametrize("cls", [aep_ais.AudienceSpec, aep_ais.ExternalAudience])
def test_encryption_is_read_wherever_a_revision_put_it(place: str, key: str, cls: type) -> None:
    source = {"path": "a/b.csv", "type": "file", "cloudType": "DLZ"}
    body = {
        "name": "n",
        "audienceId": "a-1",
        "fields": [{"name": "e", "type": "string", "identityNs": "email"}],
        **_PLACES[place](source, {"publicKeyId": "pk", key: "sk"}),
    }
    read = structure(body, cls)
    assert read.source_spec.encryption == _ENC


def test_the_sources_own_encryption_wins_over_an_old_top_level_one() -> None:
    body = {
        "name": "n",
        "fields": [],
        "sourceSpec": {"params": {"path": "p", "encryption": {"publicKeyId": "new"}}},
        "encryption": {"publicKeyId": "old"},
    }
    read = structure(body, aep_ais.AudienceSpec)
    assert read.source_spec.encryption == aep_ais.Encryption(public_key_id="new")


@pytest.mark.parametrize("value", ["k", [1], 3, None])
def test_an_encryption_that_is_not_an_object_is_not_read_as_an_empty_one(value: Any) -> None:
    with pytest.raises(TypeError):
        structure({"path": "p", "encryption": value}, aep_ais.SourceSpec)


def test_an_encryption_without_its_key_is_read_from_an_answer() -> None:
    source = structure({"path": "p", "encryption": {"signVerificationId": "s"}}, aep_ais.SourceSpec)
    assert source.encryption == aep_ais.Encryption(sign_verification_key_id="s")


def test_encryption_is_written_inside_params_and_express_activation_at_the_top() -> None:
    spec = aep_ais.AudienceSpec(
        name="n",
        fields=[],
        source_spec=aep_ais.SourceSpec(path="p", cloud_type="DLZ", encryption=_ENC),
        express_activation=False,
    )
    wire = unstructure(spec)
    assert wire["sourceSpec"] == {
        "params": {
            "path": "p",
            "type": "file",
            "cloudType": "DLZ",
            "encryption": {"publicKeyId": "pk", "signVerificationKeyId": "sk"},
        }
    }
    assert wire["expressActivation"] is False
    assert "encryption" not in wire
    assert "expressActivation" not in unstructure(attrs.evolve(spec, express_activation=UNSET))


def test_unknown_keys_are_ignored_everywhere() -> None:
    body = SAMPLES["run"] | {"newTopLevel": {"a": 1}}
    body["details"] = [d | {"extra": [1]} for d in body["details"]]
    run = structure(body, aep_ais.IngestionRun)
    assert run.run_id == RUN_ID
    assert len(run.details) == 2


def test_statuses_known_become_enum_members_unknown_stay_strings() -> None:
    op = structure({"operationId": "o", "status": "PROCESSING"}, aep_ais.Operation)
    assert op.status is aep_ais.OperationStatus.PROCESSING
    op = structure({"operationId": "o", "status": "ARCHIVED"}, aep_ais.Operation)
    assert op.status == "ARCHIVED"
    assert not isinstance(op.status, aep_ais.OperationStatus)
    assert op.done is False
    run = structure({"runId": "r", "status": "QUEUED"}, aep_ais.IngestionRun)
    assert run.status is aep_ais.RunStatus.QUEUED
    assert run.done is False
    run = structure({"runId": "r", "status": "success"}, aep_ais.IngestionRun)
    assert run.status == "success"
    assert run.done is False


def test_operation_details_and_page_renames() -> None:
    op = structure(SAMPLES["operation"], aep_ais.Operation)
    assert op.details is not None
    assert unstructure(op)["operationDetails"]["name"] == "Sample external audience"
    listing = structure({"runs": [], "_page": SAMPLES["page"]}, _RunListing)
    assert listing.page == aep_ais.Page(limit=20, count=2, total_count=2)
    assert unstructure(listing) == {"runs": [], "_page": {"limit": 20, "count": 2, "totalCount": 2}}


def test_missing_or_null_lists_are_empty() -> None:
    audience = structure({"audienceId": AUDIENCE_ID}, aep_ais.ExternalAudience)
    assert (audience.fields, audience.labels, audience.tags) == ([], [], [])
    assert structure({"runId": RUN_ID}, aep_ais.IngestionRun).details == []
    nulls = {"audienceId": AUDIENCE_ID, "fields": None, "labels": None, "tags": None}
    audience = structure(nulls, aep_ais.ExternalAudience)
    assert (audience.fields, audience.labels, audience.tags) == ([], [], [])
    assert structure({"runId": RUN_ID, "details": None}, aep_ais.IngestionRun).details == []
    assert structure({"runs": None}, _RunListing).runs == []


def test_update_sends_only_what_is_set_and_null_to_clear() -> None:
    assert unstructure(aep_ais.AudienceUpdate()) == {}
    assert unstructure(aep_ais.AudienceUpdate(description=None)) == {"description": None}
    assert unstructure(
        aep_ais.AudienceUpdate(
            ttl_in_days=7, fields=[aep_ais.AudienceField(name="a", labels=["core/C1"])]
        )
    ) == {"ttlInDays": 7, "fields": [{"name": "a", "labels": ["core/C1"]}]}


def test_run_request_sends_epoch_seconds_and_omits_an_unset_end() -> None:
    start = datetime(2025, 6, 7, 19, 24, 8, tzinfo=UTC)
    assert unstructure(_RunRequest(data_filter_start_time=start)) == {
        "dataFilterStartTime": 1749324248
    }
    assert unstructure(
        _RunRequest(data_filter_start_time=start, data_filter_end_time=start + timedelta(days=1))
    ) == {"dataFilterStartTime": 1749324248, "dataFilterEndTime": 1749410648}


def test_spec_defaults_always_sent() -> None:
    spec = aep_ais.AudienceSpec(name="n", fields=[], source_spec=aep_ais.SourceSpec(path="p.csv"))
    assert spec.origin_name == "CUSTOM_UPLOAD"
    assert spec.audience_type == "people"
    wire = unstructure(spec)
    assert wire["originName"] == "CUSTOM_UPLOAD"
    assert wire["audienceType"] == "people"
    assert "description" not in wire
    assert "ttlInDays" not in wire


def test_unset_is_a_falsy_singleton() -> None:
    assert not aep_ais.UNSET
    assert repr(aep_ais.UNSET) == "UNSET"
    assert aep_ais.AudienceUpdate().description is aep_ais.UNSET


def test_run_list_is_a_list_with_a_page() -> None:
    run = aep_ais.IngestionRun(run_id=RUN_ID)
    page = aep_ais.Page(limit=1, count=1, total_count=5)
    runs = aep_ais.RunList([run], page)
    assert runs == [run]
    assert runs.page is page
    assert aep_ais.RunList([]).page is None


# Round trips ------------------------------------------------------------------------

_words = st.text(min_size=1, max_size=12)
_maybe = st.one_of(st.just(aep_ais.UNSET), _words)
_labels = st.one_of(st.just(aep_ais.UNSET), st.lists(_words, max_size=3))

_fields = st.builds(
    aep_ais.AudienceField,
    name=_words,
    type=st.one_of(
        st.just(aep_ais.UNSET),
        st.sampled_from(["string", "number", "long", "integer", "date", "datetime", "boolean"]),
    ),
    identity_ns=_maybe,
    labels=_labels,
)
_sources = st.builds(
    aep_ais.SourceSpec,
    path=_words,
    type=st.sampled_from(["file", "folder"]),
    source_type=_maybe,
    cloud_type=st.one_of(st.just(aep_ais.UNSET), st.sampled_from(["S3", "DLZ", "GCS", "Azure"])),
    base_connection_id=_maybe,
    encryption=st.one_of(
        st.just(aep_ais.UNSET),
        st.builds(aep_ais.Encryption, public_key_id=_maybe, sign_verification_key_id=_maybe),
    ),
)
_specs = st.builds(
    aep_ais.AudienceSpec,
    name=_words,
    fields=st.lists(_fields, max_size=5),
    source_spec=_sources,
    description=_maybe,
    custom_audience_id=_maybe,
    ttl_in_days=st.one_of(st.just(aep_ais.UNSET), st.integers(1, 90)),
    labels=_labels,
    tags=_labels,
    namespace=_maybe,
    express_activation=st.one_of(st.just(aep_ais.UNSET), st.booleans()),
    audience_type=_words,
    origin_name=_words,
)


@given(_specs)
def test_audience_spec_round_trips(spec: aep_ais.AudienceSpec) -> None:
    wire = unstructure(spec)
    assert "originName" in wire
    assert all(value is not aep_ais.UNSET for value in wire.values())
    assert structure(wire, aep_ais.AudienceSpec) == spec


@given(_specs)
def test_audience_spec_round_trips_through_a_flat_source_and_string_ttl(
    spec: aep_ais.AudienceSpec,
) -> None:
    # The shapes the platform answers with must read back to the same spec.
    wire = unstructure(spec)
    wire["sourceSpec"] = wire["sourceSpec"]["params"]
    if "ttlInDays" in wire:
        wire["ttlInDays"] = str(wire["ttlInDays"])
    assert structure(wire, aep_ais.AudienceSpec) == spec


_stamps = st.integers(min_value=0, max_value=4_102_444_800).map(
    lambda s: datetime.fromtimestamp(s, tz=UTC)
)


@given(
    st.builds(
        aep_ais.IngestionRun,
        run_id=_words,
        audience_id=st.one_of(st.none(), _words),
        status=st.one_of(st.none(), st.sampled_from(list(aep_ais.RunStatus)), _words),
        differential_ingestion=st.one_of(st.none(), st.booleans()),
        data_filter_start_time=st.one_of(st.none(), _stamps),
        data_filter_end_time=st.one_of(st.none(), _stamps),
        created_at=st.one_of(st.none(), _stamps),
        details=st.lists(
            st.builds(aep_ais.StageStatus, stage=_words, status=st.one_of(st.none(), _words))
        ),
    )
)
def test_ingestion_run_round_trips(run: aep_ais.IngestionRun) -> None:
    wire = unstructure(run)
    if run.created_at is not None:
        assert wire["createdAt"] == int(run.created_at.timestamp())
    assert structure(wire, aep_ais.IngestionRun) == run


def test_numbers_where_strings_belong_are_read_as_strings() -> None:
    run = structure({"runId": 12345, "createdBy": 7.5}, aep_ais.IngestionRun)
    assert (run.run_id, run.created_by) == ("12345", "7.5")
    with pytest.raises(TypeError):
        structure({"runId": True}, aep_ais.IngestionRun)


@pytest.mark.parametrize(
    "details",
    [{"name": "x"}, {"fields": "none"}, "not an object", [1, 2]],
    ids=["partial", "wrong-type-inside", "string", "list"],
)
def test_an_operation_whose_details_do_not_fit_is_still_read(details: Any) -> None:
    # The details only echo the create request; a poll must not fail because of them.
    operation = structure(
        {"operationId": "op", "status": "PROCESSING", "operationDetails": details},
        aep_ais.Operation,
    )
    assert operation.status == aep_ais.OperationStatus.PROCESSING
    assert operation.details is None


@pytest.mark.parametrize(
    ("wire", "seconds"),
    [(1683669114, 1683669114), (1683669114845, 1683669114.845), ("1683669114845", 1683669114.845)],
    ids=["seconds", "milliseconds", "milliseconds-string"],
)
def test_timestamps_in_milliseconds_are_read_as_milliseconds(wire: Any, seconds: float) -> None:
    run = structure({"runId": "r", "createdAt": wire}, aep_ais.IngestionRun)
    assert run.created_at is not None
    assert run.created_at.timestamp() == pytest.approx(seconds)


def test_request_models_show_only_what_is_set_in_their_repr() -> None:
    spec = aep_ais.AudienceSpec(
        name="n",
        fields=[aep_ais.AudienceField(name="ppid", type="string", identity_ns="email")],
        source_spec=aep_ais.SourceSpec(path="a/b.csv"),
    )
    assert repr(spec) == (
        "AudienceSpec(name='n', fields=[AudienceField(name='ppid', type='string', "
        "identity_ns='email')], source_spec=SourceSpec(path='a/b.csv', type='file'), "
        "audience_type='people', origin_name='CUSTOM_UPLOAD')"
    )
    # None is shown: it is sent (as null), unlike UNSET.
    assert repr(aep_ais.AudienceUpdate(description=None)) == "AudienceUpdate(description=None)"
