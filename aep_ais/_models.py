"""Request and response models: attrs classes that know nothing of JSON.

Request models are mutable (`define`); response models are frozen. Optional request
attributes default to `UNSET`, so an update can tell "leave it" (`UNSET`) from "clear it"
(`None`). The wire format lives in `_convert.py` alone.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Final, Literal

import attrs
from attrs import define, field, frozen

__all__ = [
    "UNSET",
    "AudienceField",
    "AudienceSpec",
    "AudienceUpdate",
    "Encryption",
    "ExternalAudience",
    "IngestionRun",
    "Operation",
    "OperationStatus",
    "Page",
    "RunList",
    "RunStatus",
    "SourceSpec",
    "StageStatus",
    "TTLExtension",
    "Unset",
]


class _UnsetType(enum.Enum):
    UNSET = "UNSET"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _UnsetType.UNSET
"""Marks an optional request attribute that is not sent at all."""

Unset = Literal[_UnsetType.UNSET]
"""The type of `UNSET`, for annotations: `str | Unset`."""


def _repr_set(self: attrs.AttrsInstance) -> str:
    """The repr of a request model, leaving out what is `UNSET` (it is not sent either)."""
    shown = ", ".join(
        f"{a.name}={value!r}"
        for a in attrs.fields(type(self))
        if (value := getattr(self, a.name)) is not UNSET
    )
    return f"{type(self).__name__}({shown})"


class OperationStatus(enum.StrEnum):
    """Status of an audience-creation operation."""

    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class RunStatus(enum.StrEnum):
    """Status of an ingestion run or of one of its stages.

    Only `SUCCESS` and `FAILED` are documented as final; any other value, including ones
    this SDK has never seen (kept as plain strings), means the run is still going.
    """

    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


_FINAL = frozenset({"SUCCESS", "FAILED"})


@frozen(kw_only=True, repr=False)
class AudienceField:
    """One column of an external audience.

    At least one field of an audience is an identity field and carries `identity_ns`
    (an identity namespace such as `"email"` or `"ECID"`). `type` is one of `string`,
    `number`, `long`, `integer`, `date`, `datetime`, `boolean`; it may be left `UNSET` in
    an `AudienceUpdate` that only changes labels.
    """

    name: str
    type: str | Unset = UNSET
    identity_ns: str | Unset = UNSET
    labels: list[str] | Unset = UNSET


@frozen(kw_only=True, repr=False)
class Encryption:
    """Keys for an encrypted source file, part of the source (`SourceSpec.encryption`).

    `public_key_id` is required: one left out is a `ValidationError` when the spec is
    checked. It may be missing only in an answer the SDK reads back.
    """

    public_key_id: str | Unset = UNSET
    sign_verification_key_id: str | Unset = UNSET


@frozen(kw_only=True, repr=False)
class SourceSpec:
    """Where the audience data lives: a file or folder in cloud storage.

    `cloud_type` (`S3`, `DLZ`, `GCS`, `Azure` or `SFTP`) is required for a create;
    `base_connection_id` is required for S3, GCS and SFTP and must be left out for DLZ and
    Azure. `encryption` names the keys of an encrypted file (sent inside `params`).
    """

    path: str
    type: str = "file"
    source_type: str | Unset = UNSET
    cloud_type: str | Unset = UNSET
    base_connection_id: str | Unset = UNSET
    encryption: Encryption | Unset = UNSET


@define(kw_only=True, repr=False)
class AudienceSpec:
    """Everything needed to create an external audience (`create_audience`).

    `express_activation` can be set only here, when the audience is created; it is left
    out of the request unless set.
    """

    name: str
    fields: list[AudienceField]
    source_spec: SourceSpec
    description: str | Unset = UNSET
    custom_audience_id: str | Unset = UNSET
    ttl_in_days: int | Unset = UNSET
    labels: list[str] | Unset = UNSET
    tags: list[str] | Unset = UNSET
    namespace: str | Unset = UNSET
    express_activation: bool | Unset = UNSET
    audience_type: str = "people"
    origin_name: str = "CUSTOM_UPLOAD"


@define(kw_only=True, repr=False)
class AudienceUpdate:
    """A partial update (`update_audience`): only attributes that are set are sent.

    Each attribute that is sent replaces the audience's value. `fields` lists only the
    fields whose labels change.
    """

    description: str | Unset | None = UNSET
    labels: list[str] | Unset = UNSET
    fields: list[AudienceField] | Unset = UNSET
    ttl_in_days: int | Unset = UNSET


@define(kw_only=True)
class _RunRequest:
    data_filter_start_time: datetime
    data_filter_end_time: datetime | Unset = UNSET


@frozen(kw_only=True)
class Operation:
    """An audience-creation operation; `audience_id` is set once it has succeeded."""

    operation_id: str
    status: OperationStatus | str | None = None
    details: AudienceSpec | None = None
    audience_id: str | None = None
    audience_name: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def done(self) -> bool:
        """Whether the operation has ended, in success or failure."""
        return self.status in _FINAL


@frozen(kw_only=True)
class ExternalAudience:
    """An external audience as the platform describes it."""

    audience_id: str
    audience_name: str | None = None
    description: str | None = None
    fields: list[AudienceField] = field(factory=list)
    source_spec: SourceSpec | None = None
    ttl_in_days: int | None = None
    labels: list[str] = field(factory=list)
    tags: list[str] = field(factory=list)
    audience_type: str | None = None
    origin_name: str | None = None
    namespace: str | None = None
    express_activation: bool | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None


@frozen(kw_only=True)
class TTLExtension:
    """The answer to `extend_ttl`: which audience had its data expiration extended."""

    audience_id: str
    name: str | None = None


@frozen(kw_only=True)
class StageStatus:
    """One stage of an ingestion run (`DATASET_INGEST`, `PROFILE_STORE_INGEST`)."""

    stage: str
    status: RunStatus | str | None = None
    flow_run_id: str | None = None


@frozen(kw_only=True)
class IngestionRun:
    """An ingestion run of an external audience."""

    run_id: str
    audience_id: str | None = None
    audience_name: str | None = None
    status: RunStatus | str | None = None
    differential_ingestion: bool | None = None
    data_filter_start_time: datetime | None = None
    data_filter_end_time: datetime | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    details: list[StageStatus] = field(factory=list)

    @property
    def done(self) -> bool:
        """Whether the run has ended, in success or failure."""
        return self.status in _FINAL


@frozen(kw_only=True)
class Page:
    """Paging facts that some API revisions add to a run listing (`_page`)."""

    limit: int | None = None
    count: int | None = None
    total_count: int | None = None


@frozen(kw_only=True)
class _RunListing:
    runs: list[IngestionRun] = field(factory=list)
    page: Page | None = None


class RunList(list[IngestionRun]):
    """The runs of one listing, newest first by default; `page` holds `_page` if sent."""

    page: Page | None

    def __init__(self, runs: list[IngestionRun], page: Page | None = None) -> None:
        super().__init__(runs)
        self.page = page


for _request_model in (AudienceField, SourceSpec, Encryption, AudienceSpec, AudienceUpdate):
    _request_model.__repr__ = _repr_set  # type: ignore[method-assign,assignment]

for _cls in (
    AudienceField,
    AudienceSpec,
    AudienceUpdate,
    Encryption,
    ExternalAudience,
    IngestionRun,
    Operation,
    OperationStatus,
    Page,
    RunList,
    RunStatus,
    SourceSpec,
    StageStatus,
    TTLExtension,
):
    # Resolve the string annotations while this module's globals are still the ones they
    # refer to; the public module name is set for readable reprs and tracebacks.
    if attrs.has(_cls):
        attrs.resolve_types(_cls)
    _cls.__module__ = "aep_ais"
