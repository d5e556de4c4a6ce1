"""The argparse parser of `aep-ais` and the parsing of its argument types."""

from __future__ import annotations

import argparse
import math
import re
from datetime import UTC, datetime

from .errors import epilog

__all__ = ["build_parser", "option", "parse_date"]

_EPOCH = re.compile(r"[+-]?\d+(\.\d*)?")

DESCRIPTION = """\
Manage Adobe Experience Platform external audiences from the command line.

Credentials come from the environment (AEP_ORG_ID, AEP_SANDBOX, AEP_CLIENT_ID,
AEP_CLIENT_SECRET, AEP_SCOPES, AEP_ACCESS_TOKEN, AEP_API_KEY, AEP_BASE_URL, AEP_TOKEN_URL)
or, with --config FILE, from a JSON config file instead (the layout other AEP Python tools
use: org_id, client_id, secret or client_secret, scopes, sandbox-name). The flags below
override either. Secrets (client secret, access token) are read from the environment or the
config file only, never from flags, so they stay out of shell history and process lists.

--emulator runs any command against an in-process emulator instead of Adobe. It keeps no
state between invocations, so an id from one command is unknown to the next; use
`aep-ais demo` for a whole life cycle, or `aep-ais emulator --port N` for a server that
remembers.

--json prints results as JSON on stdout for scripts; errors stay one line of text on
stderr, and the exit status (below) tells their class.
"""

# Epoch seconds this large are past the year 5000: surely milliseconds.
_MILLISECONDS = 1e11


def parse_date(text: str) -> datetime:
    """A timezone-aware `datetime` from ISO 8601 or epoch seconds (naive means UTC)."""
    value = text.strip()
    if _EPOCH.fullmatch(value):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise argparse.ArgumentTypeError(f"{text!r} is not a date")
        if abs(seconds) >= _MILLISECONDS:
            raise argparse.ArgumentTypeError(
                f"{text!r} looks like milliseconds; give seconds ({seconds / 1000:.0f})"
            )
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is out of range") from exc
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither ISO 8601 (2025-05-01 or 2025-05-01T12:00:00Z) nor epoch seconds"
        ) from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from exc
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0-65535 (0 picks a free port)")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from exc
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from exc
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more seconds")
    return value


def _field_label(text: str) -> tuple[str, str]:
    name, sep, label = text.partition("=")
    if not sep or not name or not label:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=LABEL")
    return name, label


# Global options are accepted before and after the subcommand; SUPPRESS keeps a later
# default from overwriting a value given earlier.
_DEFAULTS: dict[str, object] = {
    "json": False,
    "emulator": False,
    "config": None,
    "org_id": None,
    "sandbox": None,
    "client_id": None,
    "api_key": None,
    "base_url": None,
    "wait_timeout": None,
}


def option(ns: argparse.Namespace, name: str) -> object:
    """A global option's value, or its default when it was not given."""
    return getattr(ns, name, _DEFAULTS[name])


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    s = argparse.SUPPRESS
    g = p.add_argument_group("global options")
    g.add_argument("--json", action="store_true", default=s, help="print JSON for scripts")
    g.add_argument(
        "--emulator",
        action="store_true",
        default=s,
        help="talk to an in-process emulator (no account; no state between invocations)",
    )
    g.add_argument("--config", metavar="FILE", default=s, help="JSON credentials file")
    g.add_argument("--org-id", default=s, help="IMS org id (…@AdobeOrg); env AEP_ORG_ID")
    g.add_argument("--sandbox", default=s, help="sandbox name (default prod); env AEP_SANDBOX")
    g.add_argument("--client-id", default=s, help="OAuth client id; env AEP_CLIENT_ID")
    g.add_argument("--api-key", default=s, help="x-api-key (default: client id); env AEP_API_KEY")
    g.add_argument("--base-url", default=s, help="API base URL; env AEP_BASE_URL")
    g.add_argument(
        "--wait-timeout",
        type=_seconds,
        metavar="SECONDS",
        default=s,
        help="give up a --wait after this long (exit status 7)",
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    """The `aep-ais` parser with every subcommand."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="aep-ais",
        description=DESCRIPTION,
        epilog=epilog(),
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    wait_help = "wait until it ends, showing its status on stderr"

    p = add("create", "create an audience from a JSON spec file (the API's own create body)")
    p.add_argument("spec", metavar="SPEC.json", help="the create body, camelCase; - for stdin")
    p.add_argument("--wait", action="store_true", help=wait_help)

    p = add("status", "show an audience-creation operation")
    p.add_argument("operation_id", metavar="OPERATION_ID")
    p.add_argument("--wait", action="store_true", help=wait_help)

    p = add("update", "change an audience's description, labels or data expiration")
    p.add_argument("audience_id", metavar="AUDIENCE_ID")
    p.add_argument("--description", help="new description")
    p.add_argument("--ttl-days", type=_positive_int, metavar="N", help="data expiration, 1-90")
    p.add_argument(
        "--label",
        action="append",
        dest="labels",
        metavar="LABEL",
        help="audience label; repeat for several (replaces the audience's labels)",
    )
    p.add_argument(
        "--field-label",
        action="append",
        type=_field_label,
        dest="field_labels",
        metavar="FIELD=LABEL",
        help="label of a field; repeat for several (replaces that field's labels)",
    )

    p = add("delete", "delete an audience")
    p.add_argument("audience_id", metavar="AUDIENCE_ID")

    p = add("extend-ttl", "extend an audience's data expiration by its original duration")
    p.add_argument("audience_id", metavar="AUDIENCE_ID")

    p = add("run", "start an ingestion run of an audience")
    p.add_argument("audience_id", metavar="AUDIENCE_ID")
    p.add_argument(
        "--since",
        required=True,
        type=parse_date,
        metavar="DATE",
        help="take files from this time on (ISO 8601 or epoch seconds)",
    )
    p.add_argument("--until", type=parse_date, metavar="DATE", help="take files up to this time")
    p.add_argument("--wait", action="store_true", help=wait_help)
    p.add_argument(
        "--if-active",
        choices=("wait", "attach", "raise"),
        help="with --wait, when a run is already going: wait for it and start a new one "
        "(default), report its outcome instead, or fail (exit status 5)",
    )

    p = add("runs", "list the ingestion runs of an audience")
    p.add_argument("audience_id", metavar="AUDIENCE_ID")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="at most N runs (1-40)")
    p.add_argument(
        "--sort-by",
        choices=("createdAt", "-createdAt", "name", "-name"),
        help="order; a leading - means descending, written --sort-by=-createdAt "
        "(default: newest first)",
    )
    p.add_argument("--status", help="only runs with this status (SUCCESS, FAILED, ...)")
    p.add_argument(
        "--property",
        action="append",
        dest="properties",
        default=[],
        metavar="FILTER",
        help="raw filter such as status!=FAILED; repeat for several",
    )
    p.add_argument("--name", help="only runs with this name")
    p.add_argument(
        "--created-after",
        type=parse_date,
        metavar="DATE",
        help="only runs created at or after this time (ISO 8601 or epoch seconds)",
    )
    p.add_argument(
        "--created-before",
        type=parse_date,
        metavar="DATE",
        help="only runs created at or before this time",
    )

    p = add("run-status", "show an ingestion run")
    p.add_argument("audience_id", metavar="AUDIENCE_ID")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--wait", action="store_true", help=wait_help)

    p = add("emulator", "serve the emulator over HTTP (needs uvicorn: aep-ais[serve])")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--port", type=_port, required=True, help="port to listen on (0 picks a free one)"
    )
    p.add_argument(
        "--operation-time",
        type=_non_negative_seconds,
        default=1.0,
        metavar="SECONDS",
        help="how long a create operation stays PROCESSING (default 1)",
    )
    p.add_argument(
        "--run-time",
        type=_non_negative_seconds,
        default=1.5,
        metavar="SECONDS",
        help="how long an ingestion run takes (default 1.5)",
    )
    p.add_argument(
        "--no-guardrails",
        action="store_true",
        help="lift the daily run limits (100 per sandbox, 10 per audience)",
    )
    p.add_argument(
        "--rate-limit",
        type=_positive_float,
        metavar="N",
        help="answer 429 (with Retry-After) beyond N requests a second",
    )
    p.add_argument(
        "--strict-tokens",
        action="store_true",
        help="accept only unexpired tokens issued by the emulator's own token endpoint",
    )

    # Imported here: `bulk` imports `commands`, which imports this module.
    from .bulk import add_bulk_commands

    add_bulk_commands(add, _positive_int, parse_date)

    add("demo", "the whole life cycle on an in-process emulator, in a few seconds (no --json)")
    return parser
