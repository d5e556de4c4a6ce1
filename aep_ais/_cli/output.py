"""What the command line prints: models as text or JSON, and the status line of a wait."""

from __future__ import annotations

import enum
import json
import shutil
from datetime import datetime
from typing import Any, TextIO

from aep_ais import (
    UNSET,
    AudienceField,
    Clock,
    ExternalAudience,
    IngestionRun,
    Operation,
    RunList,
    SourceSpec,
    TTLExtension,
    to_dict,
)

from .trail import Trail

__all__ = ["Printer", "StatusLine", "short_id", "to_json"]


def _sent(data: Any) -> Any:
    """`data` without the `null`s of attributes the answer did not carry."""
    if isinstance(data, dict):
        return {k: _sent(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_sent(v) for v in data]
    return data


def to_json(value: Any) -> str:
    """A model (or a run listing) as indented JSON in the API's own camelCase shape."""
    if isinstance(value, RunList):
        data: Any = {"runs": [to_dict(r) for r in value]}
        if value.page is not None:
            data["_page"] = to_dict(value.page)
    else:
        data = to_dict(value)
    return json.dumps(_sent(data), indent=2, ensure_ascii=False)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        # ISO 8601; UTC (what the API's epoch seconds give) as the shorter `Z`.
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _field(f: AudienceField) -> str:
    text = f.name
    if f.type is not UNSET:
        text += f" ({f.type})"
    if f.identity_ns is not UNSET:
        text += f" identity {f.identity_ns}"
    if f.labels:
        text += f" labels {', '.join(f.labels)}"
    return text


def _source(s: SourceSpec) -> str:
    text = f"{s.type} {s.path}"
    extra = [str(v) for v in (s.cloud_type, s.source_type) if v is not UNSET]
    return text + (f" ({', '.join(extra)})" if extra else "")


def _rows(rows: list[tuple[str, Any]]) -> str:
    kept = [(k, v) for k, v in rows if v is not None and v is not UNSET and v != []]
    width = max((len(k) for k, _ in kept), default=0)
    return "\n".join(f"{k.ljust(width)}  {_text(v)}" for k, v in kept)


def _stages(run: IngestionRun) -> str:
    if not run.details:
        return ""
    width = max(len(s.stage) for s in run.details)
    lines = ["stages"]
    for s in run.details:
        flow = f" (flow run {s.flow_run_id})" if s.flow_run_id else ""
        status = _text(s.status) if s.status is not None else "-"
        lines.append(f"  {s.stage.ljust(width)}  {status}{flow}")
    return "\n" + "\n".join(lines)


def human(value: Any) -> str:
    """A model as aligned `key  value` lines, datetimes in ISO 8601."""
    if isinstance(value, Operation):
        spec = value.details
        return _rows(
            [
                ("operation", value.operation_id),
                ("status", value.status),
                ("audience id", value.audience_id),
                ("audience", value.audience_name or (spec.name if spec else None)),
                ("created", value.created_at),
                ("updated", value.updated_at),
            ]
        )
    if isinstance(value, ExternalAudience):
        return _rows(
            [
                ("audience id", value.audience_id),
                ("name", value.audience_name),
                ("description", value.description),
                ("ttl days", value.ttl_in_days),
                ("labels", value.labels),
                ("source", _source(value.source_spec) if value.source_spec else None),
                *[("field", _field(f)) for f in value.fields],
                ("created", value.created_at),
                ("updated", value.updated_at),
            ]
        )
    if isinstance(value, TTLExtension):
        return _rows([("extended", value.audience_id), ("name", value.name)])
    if isinstance(value, RunList):
        return _run_table(value)
    if isinstance(value, IngestionRun):
        return _rows(
            [
                ("run", value.run_id),
                ("audience id", value.audience_id),
                ("status", value.status),
                ("files from", value.data_filter_start_time),
                ("files until", value.data_filter_end_time),
                ("differential", value.differential_ingestion),
                ("created", value.created_at),
            ]
        ) + _stages(value)
    return _text(value)


def _run_table(runs: RunList) -> str:
    if not runs:
        return "no runs"
    rows = [("RUN ID", "STATUS", "CREATED", "FILES FROM", "FILES UNTIL")]
    for r in runs:
        rows.append(
            (
                r.run_id,
                _text(r.status) if r.status is not None else "-",
                _text(r.created_at) if r.created_at else "-",
                _text(r.data_filter_start_time) if r.data_filter_start_time else "-",
                _text(r.data_filter_end_time) if r.data_filter_end_time else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    if runs.page is not None and runs.page.total_count is not None:
        lines.append(f"({len(runs)} of {runs.page.total_count})")
    return "\n".join(lines)


class Printer:
    """Writes results to stdout, as text or (with `--json`) as JSON."""

    def __init__(self, stdout: TextIO, *, json_mode: bool) -> None:
        self.stdout = stdout
        self.json_mode = json_mode

    def result(self, value: Any) -> None:
        """Print a model, a run listing or a plain JSON-ready dict."""
        if self.json_mode:
            text = json.dumps(value, indent=2) if isinstance(value, dict) else to_json(value)
        elif isinstance(value, dict):
            text = _rows(list(value.items()))
        else:
            text = human(value)
        print(text, file=self.stdout, flush=True)


def _status_of(state: Any, *, shorter: bool = False) -> tuple[str, str]:
    """The status of a polled state, and its stages in short (`DATASET SUCCESS, ...`).

    `shorter` keeps only the first word of a stage (`PROFILE_STORE_INGEST` is `PROFILE`).
    """
    status = getattr(state, "status", None)
    text = _text(status) if status is not None else "unknown"
    stages = getattr(state, "details", None)
    if not isinstance(stages, list) or not stages:
        return text, ""

    def name(stage: str) -> str:
        return stage.split("_")[0] if shorter else stage.removesuffix("_INGEST")

    return text, ", ".join(f"{name(s.stage)} {_text(s.status)}" for s in stages)


def short_id(value: str) -> str:
    """An id cut to its ends (`fb34…b8b`): for the live line only, results show it whole."""
    return value if len(value) <= 12 else f"{value[:4]}…{value[-3:]}"


def _subject(state: Any) -> str | None:
    if isinstance(state, IngestionRun):
        return f"run {short_id(state.run_id)}"
    if isinstance(state, Operation):
        return f"operation {short_id(state.operation_id)}"
    return None


class StatusLine:
    """Shows the progress of a wait on stderr, fed by the wait's `on_status` callback.

    On a terminal one line is rewritten in place (carriage return), status first and ids
    shortened, cut to the terminal's width; elsewhere, such as a CI log, each poll gives a
    plain line of its own with `what` and ids in full. Each state also goes on `trail`.
    """

    def __init__(
        self, stream: TextIO, clock: Clock, what: str, *, live: bool, trail: Trail | None = None
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.what = what
        self.live = live
        self.trail = trail
        # A live line must fit the terminal: a wrapped line cannot be rewritten in place.
        self.columns = shutil.get_terminal_size().columns - 1 if live else 0
        self.polls = 0
        self.started = clock.now()
        self._width = 0
        self._watching: str | None = None

    def _watch(self, run_id: str) -> None:
        """Say which run the wait watches; on a move to another run, polls and time restart."""
        own = self.trail is None or self.trail.is_own(run_id)
        moved = self._watching is not None
        self._watching = run_id
        if moved:
            self.polls = 0
            self.started = self.clock.now()
        elif self.live or run_id in self.what:
            return  # the line names the run itself
        whose = "yours" if own else "another caller's run; yours starts when it ends"
        verb = "now watching" if moved else "watching"
        self.close()
        self.stream.write(f"{self.what.strip()}: {verb} run {run_id} ({whose})\n")

    def __call__(self, state: Any) -> None:
        if isinstance(state, IngestionRun) and state.run_id != self._watching:
            self._watch(state.run_id)
        self.polls += 1
        if self.trail is not None:
            self.trail.saw(state)
        elapsed = self.clock.now() - self.started
        polls = "poll" if self.polls == 1 else "polls"
        status, stages = _status_of(state)
        if self.live:
            progress = f"{status} {elapsed:.1f}s {self.polls} {polls}"
            line = self._line(progress, _subject(state), stages)
            if len(line) > self.columns:
                line = self._line(progress, _subject(state), _status_of(state, shorter=True)[1])
            self._rewrite(line)
        else:
            line = f"{self.what}: {status}, {elapsed:.1f}s, {self.polls} {polls}"
            self.stream.write(line + (f" [{stages}]" if stages else "") + "\n")
        self.stream.flush()

    def _line(self, progress: str, subject: str | None, stages: str) -> str:
        # Most telling first: a line cut to the terminal width loses the stages.
        indent = self.what[: len(self.what) - len(self.what.lstrip())]
        parts = [progress, subject or self.what.strip(), stages]
        return indent + " · ".join(p for p in parts if p)

    def _rewrite(self, line: str) -> None:
        if len(line) > self.columns:
            line = line[: max(0, self.columns - 1)] + "…"
        # Pad over the rest of a longer previous line instead of relying on ANSI codes.
        pad = max(0, self._width - len(line))
        self.stream.write("\r" + line + " " * pad)
        self._width = len(line)

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the live line, so what follows starts on a fresh line."""
        if self.live and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
