"""The argparse parser of `aep-ais` and the parsing of its argument types."""

from __future__ import annotations

import argparse
import math
import re
from datetime import UTC, datetime
from typing import NoReturn

from aep_ais import (
    RunStatus,
    __version__,
)

from .errors import EXIT_USAGE, epilog

__all__ = ["GLOBAL_OPTIONS", "Parser", "add_command", "build_parser", "option", "parse_date"]

_EPOCH = re.compile(r"[+-]?\d+(\.\d*)?")

DESCRIPTION = """\
Manage Adobe Experience Platform external audiences from the command line.

Settings come from flags, the environment (AEP_ORG_ID, AEP_SANDBOX, AEP_CLIENT_ID,
AEP_CLIENT_SECRET, AEP_SCOPES, AEP_ACCESS_TOKEN, AEP_API_KEY, AEP_BASE_URL, AEP_TOKEN_URL)
and, with --config FILE, a JSON config file (the layout other AEP Python tools use:
org_id, client_id, secret or client_secret, scopes, sandbox-name); for each setting a flag
wins over the environment, which wins over the file. Secrets (client secret, access token)
are never taken from flags, so they stay out of shell history and process lists.

OAuth tokens are cached in the user's cache directory (file mode 0600) and reused until
shortly before they expire; --no-token-cache or AEP_NO_TOKEN_CACHE=1 turns that off,
`aep-ais logout` removes the cache.

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


class Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line plus where to read more."""

    def error(self, message: str) -> NoReturn:
        """Print `aep-ais: CMD: MESSAGE; see aep-ais CMD --help` and exit with status 2."""
        line = " ".join(message.split())
        command = self.prog.removeprefix("aep-ais").strip()
        where = f"{command}: " if command else ""
        self.exit(EXIT_USAGE, f"aep-ais: {where}{line}; see {self.prog} --help\n")


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 40:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number from 1 to 40")
    return value


_RUN_STATUSES = tuple(s.value for s in RunStatus)


def _run_status(text: str) -> str:
    value = text.strip().upper()
    if value not in _RUN_STATUSES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a run status ({', '.join(_RUN_STATUSES)})"
        )
    return value


def _fault_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a fraction from 0 to 1")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc


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
    "token_url": None,
    "wait_timeout": None,
    "retries": None,
    "no_token_cache": False,
    "debug": False,
    "debug_bodies": False,
}

# The global options as written on the command line, in the order of `--help`.
GLOBAL_OPTIONS = (
    "--json",
    "--emulator",
    "--config",
    "--org-id",
    "--sandbox",
    "--client-id",
    "--api-key",
    "--base-url",
    "--token-url",
    "--wait-timeout",
    "--retries",
    "--no-token-cache",
    "--debug",
    "--debug-bodies",
)


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
    g.add_argument("--token-url", default=s, help="IMS token URL; env AEP_TOKEN_URL")
    g.add_argument(
        "--wait-timeout",
        type=_seconds,
        metavar="SECONDS",
        default=s,
        help="give up a --wait after this long (exit status 7)",
    )
    g.add_argument(
        "--retries",
        type=_positive_int,
        metavar="N",
        default=s,
        help="attempts per request on 429, 5xx and lost connections (default 4)",
    )
    g.add_argument(
        "--no-token-cache",
        action="store_true",
        default=s,
        help="neither read nor write the OAuth token cache; env AEP_NO_TOKEN_CACHE=1",
    )
    g.add_argument(
        "--debug",
        action="store_true",
        default=s,
        help="trace each HTTP request on stderr (redacted: no tokens, secrets or bodies)",
    )
    g.add_argument(
        "--debug-bodies",
        action="store_true",
        default=s,
        help="with --debug, also print request and answer bodies",
    )
    return p


def add_command(
    sub: argparse._SubParsersAction[Parser],
    common: argparse.ArgumentParser,
    name: str,
    help_text: str,
) -> Parser:
    """Add the subcommand `name`: the global options, the exit table, one-line errors."""
    return sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        parents=[common],  # type: ignore[list-item]  # argparse types parents as its own class
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The `aep-ais` parser with every subcommand."""
    common = _common()
    parser = Parser(
        prog="aep-ais",
        description=DESCRIPTION,
        epilog=epilog(),
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"aep-ais {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )

    def add(name: str, help_text: str) -> Parser:
        return add_command(sub, common, name, help_text)

    wait_help = "wait until it ends, showing its status on stderr"

    p = add("create", "create an audience from a JSON spec file (the API's own create body)")
    p.add_argument("spec", metavar="SPEC.json", help="the create body, camelCase; - for stdin")
    p.add_argument("--wait", action="store_true", help=wait_help)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the spec file offline and send nothing (exit status 0 or 2)",
    )

    p = add("validate", "check spec files offline against every rule the SDK knows")
    p.add_argument("specs", nargs="+", metavar="SPEC.json", help="create bodies; - for stdin")

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
        help="take files from this time on (ISO 8601 or epoch seconds; not in the future)",
    )
    p.add_argument(
        "--until",
        type=parse_date,
        metavar="DATE",
        help="take files up to this time (not in the future)",
    )
    p.add_argument("--wait", action="store_true", help=wait_help)
    p.add_argument(
        "--if-active",
        choices=("wait", "attach", "raise"),
        help="with --wait, when a run is already going: wait for it and start a new one "
        "(default), report its outcome instead, or fail (exit status 5)",
    )

    p = add("runs", "list the ingestion runs of an audience")
    p.add_argument("audience_id", metavar="AUDIENCE_ID")
    p.add_argument("--limit", type=_limit, metavar="N", help="at most N runs (1-40)")
    p.add_argument(
        "--sort-by",
        choices=("createdAt", "-createdAt", "name", "-name"),
        help="order; a leading - means descending, written --sort-by=-createdAt "
        "(default: newest first)",
    )
    p.add_argument(
        "--status",
        type=_run_status,
        help=f"only runs with this status ({', '.join(_RUN_STATUSES)}; any case)",
    )
    p.add_argument(
        "--property",
        action="append",
        dest="properties",
        default=[],
        metavar="FILTER",
        help="raw filter such as status!=FAILED; repeat for several",
    )
    p.add_argument(
        "--name",
        metavar="AUDIENCE_NAME",
        help="only runs whose name is this (a run is named after its audience)",
    )
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
        "--port",
        type=_port,
        default=8765,
        help="port to listen on (default 8765; 0 picks a free one)",
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
    p.add_argument(
        "--fail-runs",
        action="append",
        default=[],
        metavar="PATTERN",
        help="runs of audiences whose name matches this glob end FAILED; repeat for several",
    )
    p.add_argument(
        "--fail-operations",
        action="append",
        default=[],
        metavar="PATTERN",
        help="creates of audiences whose name matches this glob end FAILED; repeat for several",
    )
    p.add_argument(
        "--faults",
        type=_fault_rate,
        default=0.0,
        metavar="RATE",
        help="answer this fraction of requests with 429, 5xx or a dropped connection (0-1)",
    )
    p.add_argument("--seed", type=_whole, metavar="N", help="seed of the faults and ids")
    p.add_argument(
        "--env-file",
        metavar="PATH",
        help="write the export lines to PATH (mode 0600) instead of printing them",
    )

    add("logout", "remove the cached OAuth tokens of this user")

    p = add(
        "completion", "print a shell completion script: eval it, or save it where the shell looks"
    )
    p.add_argument("shell", choices=("bash", "zsh", "fish"))

    # Imported here: `bulk` imports `commands`, which imports this module.
    from .bulk import add_bulk_commands

    add_bulk_commands(add, _positive_int, parse_date)

    add("demo", "the whole life cycle on an in-process emulator, in a few seconds (no --json)")
    return parser
