"""What Airflow's providers manager reads about this provider (no Airflow import here).

The connection form is declared here (`conn-fields`, `ui-field-behaviour`), the way Airflow
3.2+ wants it, rather than by the hook's deprecated `get_connection_form_widgets`.
"""

from __future__ import annotations

from typing import Any

from .._version import __version__

__all__ = ["CONN_TYPE", "DEFAULT_CONN_ID", "HOOK_NAME", "get_provider_info"]

CONN_TYPE = "aep_ais"
DEFAULT_CONN_ID = "aep_default"
HOOK_NAME = "Adobe Experience Platform (External Audiences)"


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": "string", **schema}}


# Fields of the connection's `extra`, in the order the form shows them.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "org_id": _text("IMS org id", "Your IMS organization, such as 0123…@AdobeOrg (required)."),
    "sandbox": _text("Sandbox", "The sandbox name; 'prod' when empty.", default="prod"),
    "scopes": _text(
        "OAuth scopes",
        "Comma-separated scopes for the server-to-server credential; the SDK's default when empty.",
    ),
    "token_url": _text(
        "Token URL", "The IMS token endpoint; Adobe's own when empty.", format="url"
    ),
    "access_token": _text(
        "Access token",
        "A pre-issued bearer token, instead of a client id and secret.",
        format="password",
    ),
    "api_key": _text(
        "API key", "The x-api-key header; the client id when empty.", format="password"
    ),
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["port", "schema", "extra"],
    "relabeling": {"login": "Client id", "password": "Client secret", "host": "Base URL"},
    "placeholders": {
        "host": "https://platform.adobe.io/data/core/ais (leave empty for Adobe's)",
        "login": "the OAuth server-to-server client id",
    },
}


def get_provider_info() -> dict[str, Any]:
    """The provider's description for Airflow (`apache_airflow_provider` entry point)."""
    return {
        "package-name": "aep-ais",
        "name": "Adobe Experience Platform External Audiences",
        "description": "Create external audiences and run their ingestions from Airflow, "
        "with deferrable operators built on the `aep_ais` SDK.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "aep_ais.airflow.AEPHook",
                "hook-name": HOOK_NAME,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }


get_provider_info.__module__ = "aep_ais.airflow"
