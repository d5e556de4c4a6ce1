"""The subcommands of `aep-ais`: each builds its request, calls the SDK and prints."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import attrs

from aep_ais import (
    AISClient,
    AudienceField,
    AudienceSpec,
    AudienceUpdate,
    Clock,
    IngestionRun,
    OAuthServerToServer,
    Operation,
    PollPolicy,
    RetryPolicy,
    ValidationError,
    check_spec,
    from_dict,
)

from .errors import EXIT_FAILED, EXIT_USAGE, CLIError
from .output import Printer, StatusLine
from .parser import option
from .settings import merged_settings, setting_error
from .tokens import FileTokenStore, cache_dir, cache_disabled
from .trail import Trail, command_prefix

__all__ = ["COMMANDS", "OFFLINE", "Context", "check_spec_file", "load_spec", "open_client"]


@attrs.define
class Context:
    """What every command gets: its arguments, the streams, the clock and a client."""

    ns: argparse.Namespace
    printer: Printer
    stderr: TextIO
    clock: Clock
    client: AISClient
    trail: Trail = attrs.field(factory=Trail)

    @property
    def poll(self) -> PollPolicy | None:
        """The client's poll policy with `--wait-timeout` applied, if it was given."""
        timeout = option(self.ns, "wait_timeout")
        if not isinstance(timeout, float):
            return None
        return attrs.evolve(self.client.poll, timeout=timeout)

    def status_line(self, what: str) -> StatusLine:
        """A status line for a wait: live on a terminal, plain lines otherwise."""
        isatty = getattr(self.stderr, "isatty", None)
        live = bool(isatty and isatty())
        return StatusLine(self.stderr, self.clock, what, live=live, trail=self.trail)

    def note(self, text: str) -> None:
        """A hint for people (stderr, human mode only), never mixed into the output."""
        if not self.printer.json_mode:
            print(text, file=self.stderr)

    def follow(self, command: str) -> None:
        """Hint at the command that comes next (none on the stateless `--emulator`)."""
        if not self.trail.stateless:
            self.note(f"follow it with: {self.trail.prefix} {command}")


# Credentials -----------------------------------------------------------------------------


def _configured_client(ns: argparse.Namespace, clock: Clock, stderr: TextIO) -> AISClient:
    environ, sources = merged_settings(ns, os.environ)
    extra: dict[str, Any] = {}
    retries = option(ns, "retries")
    if isinstance(retries, int):
        extra["retry"] = attrs.evolve(RetryPolicy(), max_attempts=retries)
    try:
        client = AISClient.from_env(environ=environ, clock=clock, **extra)
    except ValidationError as exc:
        raise setting_error(exc.field, exc.problem, sources) from None
    auth = client.auth
    if (
        isinstance(auth, OAuthServerToServer)
        and not option(ns, "no_token_cache")
        and not cache_disabled()
    ):
        auth.token_store = FileTokenStore(
            cache_dir(), warn=lambda t: print(f"aep-ais: {t}", file=stderr)
        )
    return client


@asynccontextmanager
async def open_client(
    ns: argparse.Namespace, clock: Clock, trail: Trail | None = None, stderr: TextIO | None = None
) -> AsyncIterator[AISClient]:
    """The client a command talks through: configured, or on a fresh in-process emulator.

    It notes on `trail` its host and each operation or run it creates.
    """
    trail = trail if trail is not None else Trail()
    trail.prefix = command_prefix(ns)
    if option(ns, "emulator"):
        trail.stateless = True
        from .emulated import emulated_client

        overrides: dict[str, Any] = {
            n: v for n in ("org_id", "sandbox", "api_key", "base_url") if (v := option(ns, n))
        }
        async with emulated_client(clock, trail=trail, **overrides) as client:
            yield client
        return
    client = _configured_client(ns, clock, stderr or sys.stderr)
    trail.host = urlsplit(client.base_url).netloc or client.base_url
    if option(ns, "debug"):
        logging.getLogger("aep_ais").debug("API at %s", client.base_url)
    async with client:
        yield client


# Input files ------------------------------------------------------------------------------


def load_spec(path: str, stdin: TextIO | None = None) -> AudienceSpec:
    """Read an `AudienceSpec` from a JSON file of the API's create body (`-` is stdin).

    Raises `CLIError` naming the problem: a missing or unreadable file, text that is not
    JSON (or holds a number with more digits than Python reads), or JSON that is not a
    create body. The SDK reads the platform's answers leniently (the platform may add keys
    at any time); a person's file is read strictly, so a misspelt key (`"lables"`) is an
    error with its path and the closest known key, rather than a setting silently left out.
    """
    name, text = read_input(path, stdin, what="spec file ")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(
            f"spec file {name}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except ValueError:
        # Python's limit on the digits of an int read from text (a plain ValueError).
        limit = sys.get_int_max_str_digits()
        raise CLIError(
            f"spec file {name}: not JSON (a number of more than {limit} digits)"
        ) from None
    except RecursionError:
        raise CLIError(f"spec file {name}: nested too deeply to be a create body") from None
    if not isinstance(data, dict):
        raise CLIError(f"spec file {name}: expected a JSON object, got {_kind(data)}")
    try:
        return from_dict(AudienceSpec, data, strict=True)
    except ValidationError as exc:
        # The path in the file's own terms: `fields[0].lables`, or none for the body itself.
        where = exc.field.removeprefix(AudienceSpec.__name__).removeprefix(".")
        problem = f"{where}: {exc.problem}" if where else exc.problem
        if exc.extra_key is not None:
            raise CLIError(f"spec file {name}: {problem}") from None
        raise CLIError(
            f"spec file {name}: not an audience create body: {problem} "
            "(expected the API's camelCase body: name, fields, sourceSpec, ...)"
        ) from None


def read_input(source: str, stdin: TextIO | None, *, what: str = "") -> tuple[str, str]:
    """The text of file `source` (`-`: stdin) and the name to show for it.

    Raises `CLIError` saying what is wrong, as `{what}{name}: ...`.
    """
    name = "stdin" if source == "-" else source
    try:
        text = (stdin or sys.stdin).read() if source == "-" else Path(source).read_text("utf-8")
    except FileNotFoundError as exc:
        raise CLIError(f"{what}{name}: not found") from exc
    except IsADirectoryError as exc:
        raise CLIError(f"{what}{name}: is a directory") from exc
    except UnicodeDecodeError as exc:
        raise CLIError(f"{what}{name}: not UTF-8 text") from exc
    except OSError as exc:
        raise CLIError(f"{what}{name}: cannot be read ({exc.strerror})") from exc
    return name, text


def _kind(data: Any) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return kinds.get(type(data), "null" if data is None else "a number")


# Commands ---------------------------------------------------------------------------------


def check_spec_file(path: str, stdin: TextIO | None = None) -> AudienceSpec:
    """Read a spec file strictly and check it against every rule the SDK knows, offline."""
    spec = load_spec(path, stdin)
    try:
        return check_spec(spec)
    except ValidationError as exc:
        name = "stdin" if path == "-" else path
        raise CLIError(f"spec file {name}: {exc.wire_name}: {exc.problem}") from None


def validate(ns: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """`aep-ais validate FILE...`: one line per file, exit 0 when all are good, else 2."""
    bad = 0
    for path in ns.specs:
        try:
            spec = check_spec_file(path)
        except CLIError as exc:
            bad += 1
            print(f"aep-ais: {exc.message}", file=stderr)
        else:
            print(f"{'stdin' if path == '-' else path}: ok ({spec.name})", file=stdout)
    return EXIT_USAGE if bad else 0


def dry_run(ns: argparse.Namespace, stdout: TextIO) -> int:
    """`aep-ais create --dry-run FILE`: check the file offline and send nothing."""
    spec = check_spec_file(ns.spec)
    print(f"{'stdin' if ns.spec == '-' else ns.spec}: ok ({spec.name}); nothing sent", file=stdout)
    return 0


def logout(stdout: TextIO) -> int:
    """`aep-ais logout`: remove the token cache."""
    store = FileTokenStore(cache_dir())
    removed = store.clear()
    print(f"removed {store.path}" if removed else "no cached tokens", file=stdout)
    return 0


OFFLINE = ("validate", "logout", "completion", "emulator", "demo")


def _failed(state: Operation | IngestionRun) -> None:
    """The rule for FAILED: a command that shows a FAILED state exits 6, waited or not."""
    if str(state.status) == "FAILED":
        what = (
            f"operation {state.operation_id}"
            if isinstance(state, Operation)
            else f"run {state.run_id}"
        )
        raise CLIError(f"{what} is FAILED", EXIT_FAILED)


async def create(ctx: Context) -> None:
    spec = check_spec_file(ctx.ns.spec)
    if not ctx.ns.wait:
        op = await ctx.client.create_audience(spec)
        ctx.trail.saw(op)
        ctx.printer.result(op)
        ctx.follow(f"status {op.operation_id} --wait")
        return
    with ctx.status_line(f"creating {spec.name!r}") as line:
        op = await ctx.client.create_and_wait(
            spec, poll=ctx.poll, on_status=line, on_created=ctx.trail.saw
        )
    ctx.printer.result(op)


async def status(ctx: Context) -> None:
    op_id = ctx.ns.operation_id
    if not ctx.ns.wait:
        op = await ctx.client.get_operation(op_id)
        ctx.printer.result(op)
        _failed(op)
        return
    with ctx.status_line(f"operation {op_id}") as line:
        op = await ctx.client.wait_for_operation(op_id, poll=ctx.poll, on_status=line)
    ctx.printer.result(op)


async def update(ctx: Context) -> None:
    ns = ctx.ns
    change = AudienceUpdate()
    if ns.description is not None:
        change.description = ns.description
    if ns.ttl_days is not None:
        change.ttl_in_days = ns.ttl_days
    if ns.labels:
        change.labels = list(ns.labels)
    if ns.field_labels:
        by_field: dict[str, list[str]] = {}
        for field_name, label in ns.field_labels:
            by_field.setdefault(field_name, []).append(label)
        change.fields = [AudienceField(name=n, labels=ls) for n, ls in by_field.items()]
    if change == AudienceUpdate():
        raise CLIError(
            "update: nothing to change; give --description, --ttl-days, --label or --field-label",
            EXIT_USAGE,
        )
    ctx.printer.result(await ctx.client.update_audience(ns.audience_id, change))


async def delete(ctx: Context) -> None:
    await ctx.client.delete_audience(ctx.ns.audience_id)
    if ctx.printer.json_mode:
        ctx.printer.result({"audienceId": ctx.ns.audience_id, "deleted": True})
    else:
        print(f"deleted audience {ctx.ns.audience_id}", file=ctx.printer.stdout)


async def extend_ttl(ctx: Context) -> None:
    ctx.printer.result(await ctx.client.extend_ttl(ctx.ns.audience_id))


async def run(ctx: Context) -> None:
    ns = ctx.ns
    if ns.if_active is not None and not ns.wait:
        raise CLIError("run: --if-active needs --wait", EXIT_USAGE)
    _check_window(ns.since, ns.until, ctx.clock.time())
    if not ns.wait:
        started = await ctx.client.start_run(
            ns.audience_id, data_filter_start_time=ns.since, data_filter_end_time=ns.until
        )
        ctx.trail.saw(started, ns.audience_id)
        ctx.printer.result(started)
        ctx.follow(f"run-status {ns.audience_id} {started.run_id} --wait")
        return
    ctx.trail.will_start(ns.audience_id, ns.since, ns.until)

    def on_started(own: IngestionRun) -> None:
        ctx.trail.started(own, ns.audience_id)

    with ctx.status_line(f"run of audience {ns.audience_id}") as line:
        finished = await ctx.client.run_and_wait(
            ns.audience_id,
            data_filter_start_time=ns.since,
            data_filter_end_time=ns.until,
            poll=ctx.poll,
            if_active=ns.if_active or "wait",
            on_status=line,
            on_started=on_started,
        )
    ctx.printer.result(finished)


# An --until this far ahead of the local clock is taken as clock skew, not a mistake.
UNTIL_SKEW = 300.0


def _check_window(since: datetime, until: datetime | None, now: float) -> None:
    if since.timestamp() > now:
        raise CLIError(
            f"run: --since {_iso(since)} is in the future; a run over an empty window "
            "would spend one of the audience's daily runs",
            EXIT_USAGE,
        )
    if until is not None and until.timestamp() > now + UNTIL_SKEW:
        raise CLIError(
            f"run: --until {_iso(until)} is in the future; leave it out to take files up to now",
            EXIT_USAGE,
        )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def runs(ctx: Context) -> None:
    ns = ctx.ns
    listing = await ctx.client.list_runs(
        ns.audience_id,
        limit=ns.limit,
        sort_by=ns.sort_by,
        status=ns.status,
        name=ns.name,
        created_after=ns.created_after,
        created_before=ns.created_before,
        properties=ns.properties,
    )
    ctx.printer.result(listing)


async def run_status(ctx: Context) -> None:
    ns = ctx.ns
    if not ns.wait:
        found = await ctx.client.get_run(ns.audience_id, ns.run_id)
        ctx.printer.result(found)
        _failed(found)
        return
    with ctx.status_line(f"run {ns.run_id}") as line:
        finished = await ctx.client.wait_for_run(
            ns.audience_id, ns.run_id, poll=ctx.poll, on_status=line
        )
    ctx.printer.result(finished)


COMMANDS: dict[str, Callable[[Context], Awaitable[None]]] = {
    "create": create,
    "status": status,
    "update": update,
    "delete": delete,
    "extend-ttl": extend_ttl,
    "run": run,
    "runs": runs,
    "run-status": run_status,
}
