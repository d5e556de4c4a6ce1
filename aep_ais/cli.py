"""`aep-ais`, the command line of the SDK (also `python -m aep_ais`).

`main(argv)` parses, runs one subcommand on anyio and returns the exit status; errors
become one line on stderr and a status per class of failure (see `aep-ais --help`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

import anyio

from aep_ais import (
    AISError,
    Clock,
    OperationFailedError,
    RunFailedError,
    SystemClock,
)

from ._cli.bulk import BULK_COMMANDS
from ._cli.commands import COMMANDS, Context, dry_run, logout, open_client, validate
from ._cli.completion import completion_script
from ._cli.debug import debug_trace
from ._cli.demo import demo
from ._cli.emulated import serve
from ._cli.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CLIError,
    describe,
    exit_code_for,
)
from ._cli.output import Printer
from ._cli.parser import build_parser, option
from ._cli.trail import Trail, command_prefix

__all__ = ["main"]


def _leaf(exc: BaseException) -> BaseException:
    # A task group may wrap the one error that matters; report that error, not the group.
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Run `aep-ais` with `argv` (default: the process arguments); return the exit status.

    `clock` replaces real time (tests pass a `FakeClock`, which also drives the emulator
    of `--emulator` and `demo`).
    """
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    stdout, stderr = sys.stdout, sys.stderr
    clock = clock or SystemClock()
    printer = Printer(stdout, json_mode=bool(option(ns, "json")))
    trail = Trail(prefix=command_prefix(ns), stateless=bool(option(ns, "emulator")))

    async def run() -> None:
        if ns.command == "demo":
            await demo(stdout, stderr, clock, live=stderr.isatty())
            return
        async with open_client(ns, clock, trail, stderr) as client:
            command = COMMANDS.get(ns.command) or BULK_COMMANDS[ns.command]
            await command(Context(ns, printer, stderr, clock, client, trail))

    try:
        if ns.command == "emulator":
            return serve(ns, stderr)
        if ns.command == "validate":
            return validate(ns, stdout, stderr)
        if ns.command == "logout":
            return logout(stdout)
        if ns.command == "completion":
            stdout.write(completion_script(parser, ns.shell))
            return EXIT_OK
        if ns.command == "create" and ns.dry_run:
            return dry_run(ns, stdout)
        if ns.command == "demo" and printer.json_mode:
            # The demo is a show for people; its steps have no one JSON result to print.
            raise CLIError("demo: --json is not supported; the demo prints for people only")
        with debug_trace(
            stderr, on=bool(option(ns, "debug")), bodies=bool(option(ns, "debug_bodies"))
        ):
            anyio.run(run)
    except KeyboardInterrupt:
        print(f"aep-ais: {trail.interrupted()}", file=stderr)
        return EXIT_INTERRUPTED
    except (AISError, CLIError, OSError, BaseExceptionGroup) as caught:
        error = _leaf(caught)
        if isinstance(error, BrokenPipeError):
            # The reader went away (`aep-ais runs ... | head`): stop quietly, like Unix tools.
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        if not isinstance(error, AISError | CLIError | OSError):
            raise
        return _report(error, printer, stderr, trail)
    return EXIT_OK


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _report(exc: BaseException, printer: Printer, stderr: TextIO, trail: Trail) -> int:
    # The last state of a failed wait is the result a script wants to read.
    if isinstance(exc, OperationFailedError):
        printer.result(exc.operation)
    elif isinstance(exc, RunFailedError):
        printer.result(exc.run)
    prefix = None if trail.stateless else trail.prefix
    print(f"aep-ais: {describe(exc, host=trail.host, prefix=prefix)}", file=stderr)
    return exit_code_for(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
