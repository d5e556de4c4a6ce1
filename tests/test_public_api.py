"""The package root is the public face: one sorted, complete `__all__`, readable names."""

from __future__ import annotations

import inspect
import types

import pytest

import aep_ais
import aep_ais.testing


def _public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_all_is_sorted_without_duplicates() -> None:
    assert aep_ais.__all__ == sorted(aep_ais.__all__)
    assert len(set(aep_ais.__all__)) == len(aep_ais.__all__)


def test_all_equals_the_public_names() -> None:
    assert set(aep_ais.__all__) - {"__version__"} == _public_names(aep_ais)
    assert "__version__" in aep_ais.__all__


@pytest.mark.parametrize("name", aep_ais.__all__)
def test_every_name_in_all_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from aep_ais import {name}", namespace)
    assert namespace[name] is getattr(aep_ais, name)


EXPORTED_CLASSES = [name for name in aep_ais.__all__ if inspect.isclass(getattr(aep_ais, name))]


@pytest.mark.parametrize("name", EXPORTED_CLASSES)
def test_exported_classes_live_in_aep_ais(name: str) -> None:
    cls = getattr(aep_ais, name)
    assert cls.__module__ == "aep_ais"
    assert cls.__qualname__ == name
    assert (cls.__doc__ or "").strip(), f"{name} has no docstring"


# The names DESIGN.md fixes.
CONTRACT = [
    "AISClient",
    "OAuthServerToServer",
    "StaticToken",
    "AudienceSpec",
    "AudienceField",
    "SourceSpec",
    "AudienceUpdate",
    "Operation",
    "ExternalAudience",
    "IngestionRun",
    "StageStatus",
    "OperationStatus",
    "RunStatus",
    "PollPolicy",
    "RetryPolicy",
    "BulkResult",
    "AISError",
    "APIError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "ServerError",
    "InternalServerError",
    "BadGatewayError",
    "APIConnectionError",
    "APITimeoutError",
    "ValidationError",
    "TokenError",
    "OperationFailedError",
    "RunFailedError",
    "RunInProgressError",
    "QuotaExceededError",
    "WaitTimeoutError",
    "to_dict",
    "from_dict",
    "Hooks",
    "RequestEvent",
    "RetryEvent",
    "PollEvent",
    "WaitEndEvent",
]


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_names_are_exported(name: str) -> None:
    assert name in aep_ais.__all__


ENDPOINTS = [
    "create_audience",
    "get_operation",
    "update_audience",
    "delete_audience",
    "extend_ttl",
    "start_run",
    "get_run",
    "list_runs",
]


@pytest.mark.parametrize("method", [*ENDPOINTS, "aclose"])
def test_endpoint_methods_are_documented_coroutines(method: str) -> None:
    fn = getattr(aep_ais.AISClient, method)
    assert inspect.iscoroutinefunction(fn)
    assert (fn.__doc__ or "").strip(), f"AISClient.{method} has no docstring"


def test_status_enums_hold_the_documented_values() -> None:
    assert {s.value for s in aep_ais.OperationStatus} == {"PROCESSING", "SUCCESS", "FAILED"}
    assert {"SUCCESS", "FAILED"} <= {s.value for s in aep_ais.RunStatus}


def test_testing_exports_the_fake_clock() -> None:
    assert "FakeClock" in aep_ais.testing.__all__
    assert aep_ais.testing.__all__ == sorted(aep_ais.testing.__all__)
    assert isinstance(aep_ais.testing.FakeClock(), aep_ais.Clock)


def test_version_is_a_string() -> None:
    assert isinstance(aep_ais.__version__, str)
    assert aep_ais.__version__.count(".") >= 2


def test_every_public_name_and_method_has_a_docstring() -> None:
    import inspect

    import aep_ais.testing

    missing = []
    for module in (aep_ais, aep_ais.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
                missing.append(name)
            if not inspect.isclass(obj):
                continue
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(member, property):
                    member = member.fget
                member = getattr(member, "__func__", member)
                if inspect.isfunction(member) and not (member.__doc__ or "").strip():
                    missing.append(f"{name}.{attr}")
    assert missing == []


@pytest.mark.parametrize(
    "method",
    [
        *ENDPOINTS,
        "wait_for_operation",
        "wait_for_run",
        "create_and_wait",
        "run_and_wait",
        "ensure_run",
    ],
)
def test_traced_methods_keep_their_signature_and_name(method: str) -> None:
    fn = getattr(aep_ais.AISClient, method)
    assert fn.__name__ == method
    assert "self" in inspect.signature(fn).parameters
