"""The subcommands of `aep-ais`: each builds its request, calls the SDK and prints."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import attrs
import cattrs

from .._client import AISClient
from .._convert import _wire_name, structure
from .._errors import ValidationError
from .._models import AudienceField, AudienceSpec, AudienceUpdate, Encryption, SourceSpec
from .._policies import Clock, PollPolicy
from .errors import EXIT_AUTH, EXIT_USAGE, CLIError
from .output import Printer, StatusLine
from .parser import option
from .strict import unknown_key
from .trail import Trail, TrailClient

__all__ = ["COMMANDS", "Context", "load_spec", "open_client"]


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


# Credentials -----------------------------------------------------------------------------

_NO_CREDENTIALS = (
    "no usable credentials ({problem}); set AEP_ORG_ID with AEP_CLIENT_ID and "
    "AEP_CLIENT_SECRET (or AEP_ACCESS_TOKEN and AEP_API_KEY), pass --config FILE, "
    "or try --emulator"
)
_NO_FILE_CREDENTIALS = (
    "no usable credentials ({problem}); the config file needs org_id with client_id and "
    "secret (or access_token and api_key)"
)


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    names = ("org_id", "sandbox", "api_key", "base_url")
    return {n: v for n in names if (v := option(ns, n)) is not None}


def _configured_client(ns: argparse.Namespace, clock: Clock) -> TrailClient:
    overrides = _overrides(ns)
    config = option(ns, "config")
    client_id = option(ns, "client_id")
    try:
        if config is not None:
            if client_id is not None:
                raise CLIError(
                    "--client-id goes with the environment; with --config, "
                    "the client id comes from the file"
                )
            return TrailClient.from_config_file(str(config), clock=clock, **overrides)
        environ = dict(os.environ)
        if client_id is not None:
            # The flag pairs with AEP_CLIENT_SECRET, so it goes in where the secret is read.
            environ["AEP_CLIENT_ID"] = str(client_id)
        return TrailClient.from_env(environ=environ, clock=clock, **overrides)
    except ValidationError as exc:
        if exc.field == "config_file":
            raise CLIError(f"bad config file: {exc.problem}") from exc
        hint = _NO_CREDENTIALS if config is None else _NO_FILE_CREDENTIALS
        raise CLIError(hint.format(problem=exc), EXIT_AUTH) from exc


@asynccontextmanager
async def open_client(
    ns: argparse.Namespace, clock: Clock, trail: Trail | None = None
) -> AsyncIterator[AISClient]:
    """The client a command talks through: configured, or on a fresh in-process emulator.

    It notes on `trail` its host and each operation or run it creates.
    """
    trail = trail if trail is not None else Trail()
    if option(ns, "emulator"):
        from .emulated import emulated_client

        async with emulated_client(clock, trail=trail, **_overrides(ns)) as client:
            yield client
        return
    async with _configured_client(ns, clock).with_trail(trail) as client:
        yield client


# Input files ------------------------------------------------------------------------------


def load_spec(path: str, stdin: TextIO | None = None) -> AudienceSpec:
    """Read an `AudienceSpec` from a JSON file of the API's create body (`-` is stdin).

    Raises `CLIError` naming the problem: a missing or unreadable file, text that is not
    JSON, or JSON that is not a create body.
    """
    name = "stdin" if path == "-" else path
    try:
        text = (stdin or sys.stdin).read() if path == "-" else Path(path).read_text("utf-8")
    except FileNotFoundError as exc:
        raise CLIError(f"spec file {name}: not found") from exc
    except IsADirectoryError as exc:
        raise CLIError(f"spec file {name}: is a directory") from exc
    except UnicodeDecodeError as exc:
        raise CLIError(f"spec file {name}: not UTF-8 text") from exc
    except OSError as exc:
        raise CLIError(f"spec file {name}: cannot be read ({exc.strerror})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(
            f"spec file {name}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except RecursionError:
        raise CLIError(f"spec file {name}: nested too deeply to be a create body") from None
    if not isinstance(data, dict):
        raise CLIError(f"spec file {name}: expected a JSON object, got {_kind(data)}")
    try:
        spec = structure(data, AudienceSpec)
    except RecursionError:
        problem = "nested too deeply"
    except (*_STRUCTURE_ERRORS, cattrs.BaseValidationError) as exc:
        problem = _shape_problem(data) or _problem_text(exc)
    else:
        # The SDK reads leniently (the platform adds keys); a person's file is read strictly,
        # so a misspelt key is an error rather than a setting silently left out.
        unknown = unknown_key(data, spec)
        if unknown is None:
            return spec
        raise CLIError(f"spec file {name}: {unknown}")
    raise CLIError(
        f"spec file {name}: not an audience create body: {problem} "
        "(expected the API's camelCase body: name, fields, sourceSpec, ...)"
    )


# What the converter raises on data of the wrong shape (it reports no path of its own).
_STRUCTURE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _problem_text(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return f"missing key {exc.args[0]!r}"
    return str(exc) or type(exc).__name__


def _shape_problem(data: dict[str, Any]) -> str | None:
    """Where in the body the shape is wrong, found by reading its parts one by one."""
    parts: list[tuple[str, Any, type]] = []
    fields = data.get("fields")
    if isinstance(fields, list):
        parts += [(f"fields[{i}]", f, AudienceField) for i, f in enumerate(fields)]
    source = data.get("sourceSpec")
    if isinstance(source, dict):
        params = source.get("params")
        inner, where = (params, "sourceSpec.params") if isinstance(params, dict) else (source, "")
        if "encryption" in inner:
            parts.append((f"{where or 'sourceSpec'}.encryption", inner["encryption"], Encryption))
    if "sourceSpec" in data:
        parts.append(("sourceSpec", source, SourceSpec))
    for where, value, cls in parts:
        if not isinstance(value, dict):
            return f"{where}: expected an object, got {_kind(value)}"
        try:
            structure(value, cls)
        except (*_STRUCTURE_ERRORS, cattrs.BaseValidationError) as exc:
            return f"{where}: {_problem_text(exc)}"
    for attribute in attrs.fields(AudienceSpec):
        key = _wire_name(AudienceSpec, attribute.name)
        if key not in data:
            continue
        try:
            structure(data[key], attribute.type)  # type: ignore[arg-type]
        except (*_STRUCTURE_ERRORS, cattrs.BaseValidationError) as exc:
            return f"{key}: {_problem_text(exc)}"
    return None


def _kind(data: Any) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return kinds.get(type(data), "null" if data is None else "a number")


# Commands ---------------------------------------------------------------------------------


async def create(ctx: Context) -> None:
    spec = load_spec(ctx.ns.spec)
    if not ctx.ns.wait:
        op = await ctx.client.create_audience(spec)
        ctx.printer.result(op)
        ctx.note(f"follow it with: aep-ais status {op.operation_id} --wait")
        return
    with ctx.status_line(f"creating {spec.name!r}") as line:
        op = await ctx.client.create_and_wait(spec, poll=ctx.poll, on_status=line)
    ctx.printer.result(op)


async def status(ctx: Context) -> None:
    op_id = ctx.ns.operation_id
    if not ctx.ns.wait:
        ctx.printer.result(await ctx.client.get_operation(op_id))
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
    if not ns.wait:
        started = await ctx.client.start_run(
            ns.audience_id, data_filter_start_time=ns.since, data_filter_end_time=ns.until
        )
        ctx.printer.result(started)
        ctx.note(f"follow it with: aep-ais run-status {ns.audience_id} {started.run_id} --wait")
        return
    with ctx.status_line(f"run of audience {ns.audience_id}") as line:
        finished = await ctx.client.run_and_wait(
            ns.audience_id,
            data_filter_start_time=ns.since,
            data_filter_end_time=ns.until,
            poll=ctx.poll,
            if_active=ns.if_active or "wait",
            on_status=line,
        )
    ctx.printer.result(finished)


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
        ctx.printer.result(await ctx.client.get_run(ns.audience_id, ns.run_id))
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
