"""`aep-ais create-many` and `aep-ais run-many`: bulk calls from the command line.

Each item's outcome is one JSON line on stdout as soon as it ends (`{"index", "input",
"ok", "result"}` or `{..., "ok": false, "error": {"type", "message", "retryable"}}`);
a progress line goes to stderr (done / failed / quota-skipped / in flight, elapsed, ETA).
The exit status is 0 when every item succeeded, `EXIT_SOME_FAILED` otherwise.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from aep_ais import (
    AudienceSpec,
    BulkResult,
    Clock,
    QuotaExceededError,
    to_dict,
)

from .commands import Context, load_spec, read_input
from .errors import EXIT_SOME_FAILED, EXIT_USAGE, CLIError

__all__ = ["BULK_COMMANDS", "add_bulk_commands", "create_many", "run_many"]


def add_bulk_commands(
    add: Callable[[str, str], argparse.ArgumentParser],
    positive_int: Callable[[str], int],
    parse_date: Callable[[str], Any],
) -> None:
    """Add `create-many` and `run-many` to the parser (`add(name, help)` makes one)."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--concurrency",
            type=positive_int,
            default=8,
            metavar="N",
            help="items in flight at once (default 8)",
        )
        p.add_argument(
            "--journal",
            metavar="FILE",
            help="append-only journal: a rerun with it resumes the batch, sending nothing twice",
        )

    p = add(
        "create-many",
        "create many audiences: JSON lines of create bodies (FILE or - for stdin), "
        "or a folder of spec files",
    )
    p.add_argument("source", metavar="FILE|DIR|-")
    p.add_argument("--no-wait", action="store_true", help="do not wait for each creation to end")
    common(p)

    p = add("run-many", "run an ingestion of many audiences, each waited for")
    p.add_argument(
        "--ids-from",
        required=True,
        metavar="FILE|-",
        help="one audience id a line, or 'SANDBOX AUDIENCE_ID' for another sandbox",
    )
    p.add_argument(
        "--since",
        required=True,
        type=parse_date,
        metavar="DATE",
        help="take files from this time on (ISO 8601 or epoch seconds)",
    )
    p.add_argument("--until", type=parse_date, metavar="DATE", help="take files up to this time")
    p.add_argument(
        "--if-active",
        choices=("wait", "attach", "raise"),
        default="wait",
        help="when a run is already going: wait for it and start a new one (default), "
        "report its outcome instead, or fail that item",
    )
    common(p)


# Input ------------------------------------------------------------------------------------


def read_specs(source: str, stdin: TextIO | None = None) -> list[AudienceSpec]:
    """Specs from a folder of spec files (`*.json`, by name) or JSON lines of bodies."""
    if source != "-" and Path(source).is_dir():
        files = sorted(Path(source).glob("*.json"))
        if not files:
            raise CLIError(f"{source}: no *.json spec files in this folder")
        return [load_spec(str(f)) for f in files]
    name, text = read_input(source, stdin)
    specs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            specs.append(load_spec("-", io.StringIO(line)))
        except CLIError as exc:
            where = f"{name} line {number}:"
            raise CLIError(exc.message.replace("spec file stdin:", where, 1)) from exc
    if not specs:
        raise CLIError(f"{name}: no create bodies (one JSON object a line)")
    return specs


def read_ids(source: str, stdin: TextIO | None = None) -> list[str | tuple[str, str]]:
    """Audience ids, one a line (`#` starts a comment); `SANDBOX ID` names another sandbox."""
    name, text = read_input(source, stdin)
    items: list[str | tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) == 1:
            items.append(words[0])
        elif len(words) == 2:
            items.append((words[0], words[1]))
        else:
            raise CLIError(f"{name} line {number}: expected AUDIENCE_ID or SANDBOX AUDIENCE_ID")
    if not items:
        raise CLIError(f"{name}: no audience ids")
    return items


# Output -----------------------------------------------------------------------------------


def _input_json(item: Any) -> Any:
    if isinstance(item, tuple):
        return {"sandbox": item[0], "item": _input_json(item[1])}
    if isinstance(item, AudienceSpec):
        return {"name": item.name}
    return item


class Progress:
    """Counts and the progress line (live on a terminal, a line a second otherwise)."""

    def __init__(
        self, stdout: TextIO, stderr: TextIO, clock: Clock, total: int, concurrency: int
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.clock = clock
        self.total = total
        self.concurrency = concurrency
        self.done = self.failed = self.quota = 0
        self.started = clock.now()
        self._shown = -1.0
        isatty = getattr(stderr, "isatty", None)
        self.live = bool(isatty and isatty())

    def item(self, index: int, result: BulkResult[Any, Any]) -> None:
        self.done += 1
        line: dict[str, Any] = {"index": index, "input": _input_json(result.input), "ok": result.ok}
        if result.error is None:
            line["result"] = to_dict(result.value)
        else:
            self.failed += 1
            self.quota += isinstance(result.error, QuotaExceededError)
            line["error"] = {
                "type": type(result.error).__name__,
                "message": str(result.error),
                "retryable": bool(getattr(result.error, "retryable", False)),
            }
        print(json.dumps(line, separators=(",", ":")), file=self.stdout, flush=True)
        self.show()

    def text(self) -> str:
        elapsed = self.clock.now() - self.started
        in_flight = min(self.concurrency, self.total - self.done)
        eta = ""
        if 0 < self.done < self.total:
            eta = f", ETA {elapsed / self.done * (self.total - self.done):.0f}s"
        return (
            f"{self.done}/{self.total} done, {self.failed - self.quota} failed, "
            f"{self.quota} quota-skipped, {in_flight} in flight, {elapsed:.0f}s elapsed{eta}"
        )

    def show(self, *, final: bool = False) -> None:
        now = self.clock.now()
        if self.live:
            end = "\n" if final else ""
            print(f"\r\x1b[K{self.text()}", end=end, file=self.stderr, flush=True)
        elif final or now - self._shown >= 1.0:
            self._shown = now
            print(self.text(), file=self.stderr, flush=True)

    def finish(self) -> None:
        self.show(final=True)
        if self.failed:
            raise CLIError(
                f"{self.failed} of {self.total} items failed "
                f"({self.quota} over a daily quota); each one's line on stdout says why",
                EXIT_SOME_FAILED,
            )


# Commands ---------------------------------------------------------------------------------


async def create_many(ctx: Context) -> None:
    ns = ctx.ns
    specs = read_specs(ns.source)
    progress = Progress(ctx.printer.stdout, ctx.stderr, ctx.clock, len(specs), ns.concurrency)
    await ctx.client.create_many(
        specs,
        concurrency=ns.concurrency,
        wait=not ns.no_wait,
        poll=ctx.poll,
        journal=ns.journal,
        on_item=progress.item,
    )
    progress.finish()


async def run_many(ctx: Context) -> None:
    ns = ctx.ns
    if ns.until is not None and ns.until < ns.since:
        raise CLIError("run-many: --until is before --since", EXIT_USAGE)
    ids = read_ids(ns.ids_from)
    progress = Progress(ctx.printer.stdout, ctx.stderr, ctx.clock, len(ids), ns.concurrency)
    await ctx.client.run_many(
        ids,
        data_filter_start_time=ns.since,
        data_filter_end_time=ns.until,
        concurrency=ns.concurrency,
        if_active=ns.if_active,
        poll=ctx.poll,
        journal=ns.journal,
        on_item=progress.item,
    )
    progress.finish()


BULK_COMMANDS: dict[str, Callable[[Context], Awaitable[None]]] = {
    "create-many": create_many,
    "run-many": run_many,
}
