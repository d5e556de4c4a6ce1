"""Realistic payloads shared by the benchmarks: a run answer, an operation, a spec."""

from __future__ import annotations

from typing import Any

import aep_ais

AUDIENCE_ID = "60ccea95-1435-4180-97a5-58af4aa285ab"
RUN_ID = "fb342311-725d-4b48-ab7d-c6105fbc2b8b"
OPERATION_ID = "2b1d7f3a-9c1e-4f7b-8a55-0c6e3d2f9a10"


def run_payload(i: int = 0) -> dict[str, Any]:
    """An `IngestionRun` answer as the platform sends it, with two stage details."""
    return {
        "audienceName": f"Spring buyers {i}",
        "audienceId": AUDIENCE_ID,
        "runId": f"fb342311-725d-4b48-ab7d-{i:012d}",
        "status": "SUCCESS" if i % 3 else "PROCESSING",
        "differentialIngestion": bool(i % 2),
        "dataFilterStartTime": 1_764_245_635 + i,
        "dataFilterEndTime": 1_764_345_635 + i,
        "createdAt": 1_749_324_248 + i,
        "createdBy": "acp_ui_platform@AdobeID",
        "details": [
            {"stage": "DATASET_INGEST", "status": "SUCCESS", "flowRunId": f"flow-a-{i}"},
            {"stage": "PROFILE_STORE_INGEST", "status": "PROCESSING", "flowRunId": f"flow-b-{i}"},
        ],
    }


def operation_payload() -> dict[str, Any]:
    """The 202 answer to a create: an operation still processing."""
    return {
        "operationId": OPERATION_ID,
        "status": "PROCESSING",
        "operationDetails": spec_dict(0),
        "createdBy": "acp_ui_platform@AdobeID",
        "createdAt": 1_749_324_248,
        "updatedBy": "acp_ui_platform@AdobeID",
        "updatedAt": 1_749_324_248,
    }


def spec(i: int = 0) -> aep_ais.AudienceSpec:
    """A typical `AudienceSpec`: four fields, one identity, S3 source, labels, TTL."""
    return aep_ais.AudienceSpec(
        name=f"Spring buyers {i}",
        description="Buyers from the spring campaign",
        fields=[
            aep_ais.AudienceField(name="ppid", type="string", identity_ns="email"),
            aep_ais.AudienceField(name="list_id", type="string", labels=["core/C2"]),
            aep_ais.AudienceField(name="score", type="number"),
            aep_ais.AudienceField(name="joined", type="date"),
        ],
        source_spec=aep_ais.SourceSpec(
            path=f"activation/spring/buyers-{i}.csv",
            type="file",
            source_type="Cloud Storage",
            cloud_type="S3",
            base_connection_id="1d1d4bc5-3b6c-4a47-9b0c-3e1a4c5b6d7e",
        ),
        ttl_in_days=40,
        labels=["core/C1"],
    )


def spec_dict(i: int = 0) -> dict[str, Any]:
    """What a user without the SDK would build by hand for the same create request."""
    return {
        "name": f"Spring buyers {i}",
        "fields": [
            {"name": "ppid", "type": "string", "identityNs": "email"},
            {"name": "list_id", "type": "string", "labels": ["core/C2"]},
            {"name": "score", "type": "number"},
            {"name": "joined", "type": "date"},
        ],
        "sourceSpec": {
            "params": {
                "path": f"activation/spring/buyers-{i}.csv",
                "type": "file",
                "sourceType": "Cloud Storage",
                "cloudType": "S3",
                "baseConnectionId": "1d1d4bc5-3b6c-4a47-9b0c-3e1a4c5b6d7e",
            }
        },
        "description": "Buyers from the spring campaign",
        "ttlInDays": 40,
        "labels": ["core/C1"],
        "audienceType": "people",
        "originName": "CUSTOM_UPLOAD",
    }
