"""`aep_ais.airflow`: an Apache Airflow 3 provider for the External Audiences API.

Installed with the `airflow` extra (`pip install "aep-ais[airflow]"`). It holds the
connection type `aep_ais` (default connection id `aep_default`), `AEPHook`, the deferrable
`AEPCreateAudienceOperator` and `AEPIngestionRunOperator`, and the triggers that wait for
them, `AEPOperationTrigger` and `AEPIngestionRunTrigger`.

Airflow finds the provider through the `apache_airflow_provider` entry point, which calls
`get_provider_info()`; that function and this module import nothing from Airflow, so
discovery stays cheap and the other names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._provider import get_provider_info

if TYPE_CHECKING:
    from ._hook import AEPHook
    from ._operators import AEPCreateAudienceOperator, AEPIngestionRunOperator
    from ._triggers import AEPIngestionRunTrigger, AEPOperationTrigger

__all__ = [
    "AEPCreateAudienceOperator",
    "AEPHook",
    "AEPIngestionRunOperator",
    "AEPIngestionRunTrigger",
    "AEPOperationTrigger",
    "get_provider_info",
]

_LAZY = {
    "AEPHook": "._hook",
    "AEPCreateAudienceOperator": "._operators",
    "AEPIngestionRunOperator": "._operators",
    "AEPIngestionRunTrigger": "._triggers",
    "AEPOperationTrigger": "._triggers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
