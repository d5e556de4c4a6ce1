"""What a command has talked to and waited for, so its last message can say where it was.

A Ctrl-C ends a wait at any point, even before its first poll. The commands tell the
trail of the operation or run that is the user's own as soon as the SDK knows it (the
return of a start, or the `on_created`/`on_started` callbacks of a wait), and the status
line tells it of each polled state. The message of an interruption then names the user's
own operation or run and the command that resumes the wait, or, when the user's run was
never started (another run was still active), says so and gives the command that starts
it. Every command it prints carries the global options in effect.
"""

from __future__ import annotations

import argparse
import shlex
from datetime import UTC, datetime

import attrs

from aep_ais import (
    IngestionRun,
    Operation,
)

__all__ = ["Trail", "command_prefix"]

# Global options that choose where a command goes: a printed command must keep them.
_WHERE = ("config", "base_url", "org_id", "sandbox", "client_id", "api_key", "token_url")


def command_prefix(ns: argparse.Namespace | None) -> str:
    """`aep-ais` with the global options of `ns` that say where a command goes."""
    words = ["aep-ais"]
    for name in _WHERE:
        value = getattr(ns, name, None) if ns is not None else None
        if value is not None:
            words += ["--" + name.replace("_", "-"), str(value)]
    return shlex.join(words)


@attrs.define
class Trail:
    """The API host of a command, its own operation or run, and how to pick it up again."""

    host: str | None = None
    waiting_for: str | None = None
    resume: str | None = None
    prefix: str = "aep-ais"
    # On `--emulator` nothing survives the process: no command can pick anything up.
    stateless: bool = False
    # The user's own run, once known, and the command that would start it before that.
    own_run: str | None = None
    start_command: str | None = None

    def saw(self, state: object, audience_id: str | None = None) -> None:
        """Note an `Operation`, or an `IngestionRun` that is the user's own."""
        if isinstance(state, Operation):
            self.waiting_for = f"operation {state.operation_id}"
            self.resume = f"{self.prefix} status {state.operation_id} --wait"
        elif isinstance(state, IngestionRun):
            if self.start_command is not None and state.run_id != self.own_run:
                return  # another caller's run, waited out before the user's own starts
            audience = state.audience_id or audience_id
            if audience is None:
                return
            self.waiting_for = f"run {state.run_id} of audience {audience}"
            self.resume = f"{self.prefix} run-status {audience} {state.run_id} --wait"

    def will_start(self, audience_id: str, since: datetime, until: datetime | None) -> None:
        """A `run --wait` is about to start the user's run (it may wait for another first)."""
        words = ["run", audience_id, "--since", _iso(since)]
        if until is not None:
            words += ["--until", _iso(until)]
        self.start_command = f"{self.prefix} {shlex.join(words)} --wait"

    def started(self, run: IngestionRun, audience_id: str) -> None:
        """The user's own run exists (the SDK's `on_started`)."""
        self.own_run = run.run_id
        self.saw(run, audience_id)

    def is_own(self, run_id: str) -> bool:
        """Whether `run_id` is the user's own run (always, outside a `run --wait`)."""
        return self.start_command is None or run_id == self.own_run

    def interrupted(self) -> str:
        """The message of a Ctrl-C: what was going on and how to pick it up again."""
        if self.start_command is not None and self.own_run is None:
            if self.stateless:
                return "interrupted; your run was not started"
            return f"interrupted; your run was not started: start it with `{self.start_command}`"
        if self.waiting_for is None or self.resume is None:
            return "interrupted"
        if self.stateless:
            return f"interrupted; {self.waiting_for} was on the in-process emulator, now gone"
        return (
            f"interrupted; {self.waiting_for} carries on at the platform, "
            f"resume the wait with `{self.resume}`"
        )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
