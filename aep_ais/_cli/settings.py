"""Where the command line's settings come from: flags, then the environment, then a file.

Each setting is taken from the first of these that gives it. The result is one mapping of
`AEP_*` variables, read by the SDK's own `from_env`, with a note of where each value came
from so a mistake names the flag, the variable or the file's key. Values of secret
settings are never printed.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Mapping
from pathlib import Path

from aep_ais import CONFIG_FILE_JWT_KEYS, CONFIG_FILE_KEYS, ENV_VARS

from .errors import EXIT_AUTH, EXIT_USAGE, CLIError
from .parser import option

__all__ = ["FLAG_SETTINGS", "merged_settings", "setting_error"]

# Settings a flag may give (secrets never: they would land in shell history).
FLAG_SETTINGS = ("org_id", "sandbox", "client_id", "api_key", "base_url", "token_url")
_CREDENTIALS = ("AEP_CLIENT_SECRET", "AEP_ACCESS_TOKEN")
# Settings whose mistakes are configuration (exit 2), not refused credentials (exit 3).
_CONFIGURATION = frozenset({"base_url", "token_url", "sandbox", "scopes"})
# Keys other AEP tools write that name no setting here, and are not typos.
_OTHER_TOOLS = frozenset({"tech_id", "environment", "meta_scopes", "auth_code", "imsorgid"})


def _read_file(path: str) -> dict[str, tuple[str, object]]:
    """The settings of a config file: `AEP_*` variable -> (the file's key, value)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8"
        raise CLIError(f"bad config file: cannot read {path!r}: {reason}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        at = f" (line {line})" if line else ""
        # Where, never what: the file holds secrets.
        raise CLIError(f"bad config file: {path!r} is not valid JSON{at}") from None
    if not isinstance(data, dict):
        raise CLIError(f"bad config file: {path!r} must hold a JSON object")
    found: dict[str, tuple[str, object]] = {}
    for original, value in data.items():
        key = str(original).strip().lower().replace("-", "_")
        setting = CONFIG_FILE_KEYS.get(key)
        if setting is None:
            if key == "environment" and value not in ("prod", None, ""):
                raise CLIError(
                    f"bad config file: {path!r} key 'environment': only 'prod' is supported"
                )
            close = difflib.get_close_matches(key, list(CONFIG_FILE_KEYS), n=1, cutoff=0.8)
            if close and key not in _OTHER_TOOLS and key not in CONFIG_FILE_JWT_KEYS:
                raise CLIError(
                    f"bad config file: {path!r} key {str(original)!r}: unknown key; "
                    f"did you mean {close[0]}?"
                )
            if key in CONFIG_FILE_JWT_KEYS and value:
                found.setdefault("jwt", (str(original), value))
            continue
        if value is None or value == "":
            continue
        if setting == "scopes" and isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise CLIError(f"bad config file: {path!r} key {original!r}: not a list of strings")
            value = ",".join(value)
        if not isinstance(value, str):
            raise CLIError(f"bad config file: {path!r} key {str(original)!r}: must be a string")
        var = ENV_VARS[setting]
        if var in found and found[var][1] != value.strip():
            raise CLIError(
                f"bad config file: {path!r} keys {found[var][0]!r} and {str(original)!r} "
                f"contradict: give the {setting} only once"
            )
        found[var] = (str(original), value.strip())
    jwt = found.pop("jwt", None)
    if jwt is not None and not any(v in found for v in _CREDENTIALS):
        raise CLIError(
            f"bad config file: {path!r} key {jwt[0]!r}: JWT (service account) credentials "
            "are retired; create OAuth server-to-server credentials and put their secret "
            "in 'secret'",
            EXIT_AUTH,
        )
    return found


def merged_settings(
    ns: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The `AEP_*` settings in effect and where each came from (flag > env > file).

    Credentials go as a unit: when the environment holds a secret or a token, the file's
    secret and token are left out, so the two sources never mix into a contradiction.
    """
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    config = option(ns, "config")
    if config is not None:
        env_has_credentials = any(environ.get(v, "").strip() for v in _CREDENTIALS)
        for var, (key, value) in _read_file(str(config)).items():
            if env_has_credentials and var in _CREDENTIALS:
                continue
            values[var] = str(value)
            sources[var] = f"{key!r} in {config}"
    for var in ENV_VARS.values():
        value = environ.get(var, "")
        if value.strip():
            values[var] = value
            sources[var] = var
    for setting in FLAG_SETTINGS:
        value = option(ns, setting)
        if value is not None:
            var = ENV_VARS[setting]
            values[var] = str(value)
            sources[var] = "--" + setting.replace("_", "-")
    return values, sources


def setting_error(field: str, problem: str, sources: Mapping[str, str]) -> CLIError:
    """A `ValidationError` of the SDK's configuration as one line naming the setting."""
    setting = next((s for s, v in ENV_VARS.items() if field in (s, v)), None)
    if setting is None:
        return CLIError(f"no usable credentials ({field}: {problem})", EXIT_AUTH)
    var = ENV_VARS[setting]
    where = sources.get(var, var)
    if setting in _CONFIGURATION:
        also = f" (set by {where})" if where != var else ""
        text = f"bad setting {var}{also}: {_plain(problem)}"
        return CLIError(text, EXIT_USAGE)
    hint = (
        "; set AEP_ORG_ID with AEP_CLIENT_ID and AEP_CLIENT_SECRET (or AEP_ACCESS_TOKEN and "
        "AEP_API_KEY), pass --config FILE, or try --emulator"
    )
    return CLIError(f"no usable credentials ({where}: {_plain(problem)}){hint}", EXIT_AUTH)


def _plain(problem: str) -> str:
    # The SDK names where a value came from in its own words; the CLI says it above.
    return problem.replace(" (in the environment)", "").replace(" in the environment", "")
