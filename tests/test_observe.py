"""Observability: spans (OpenTelemetry's in-memory exporter), log fields and hooks.

The SDK's tracer is pointed at a private provider for each test (never the global one, so
no other test pays for tracing).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import aep_ais
from aep_ais import _observe
from aep_ais.testing import Emulator, FakeClock
from tests.conftest import spec

ORG = "0123456789ABCDEF01234567@AdobeOrg"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = list(_observe._tracer)
    _observe._tracer[:] = [provider.get_tracer("aep_ais")]
    try:
        yield exporter
    finally:
        _observe._tracer[:] = saved


def _client(emu: Emulator, clock: FakeClock, **kw: Any) -> aep_ais.AISClient:
    kw.setdefault("auth", aep_ais.StaticToken("static-token-0123456789"))
    kw.setdefault("api_key", "my-api-key")
    return aep_ais.AISClient(org_id=ORG, clock=clock, transport=emu.transport(), **kw)


def _tree(finished: tuple[ReadableSpan, ...]) -> list[str]:
    """Each span as `indent + name`, children under their parent, in start order."""
    by_id = {s.context.span_id: s for s in finished}

    def depth(span: ReadableSpan) -> int:
        n = 0
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            n += 1
        return n

    ordered = sorted(finished, key=lambda s: s.start_time or 0)
    return ["  " * depth(s) + s.name for s in ordered]


async def _life_cycle(ais: aep_ais.AISClient, emu: Emulator) -> tuple[str, str]:
    op = await ais.create_and_wait(spec(name="Traced"))
    assert op.audience_id is not None
    run = await ais.run_and_wait(op.audience_id, data_filter_start_time=1_700_000_000)
    return op.audience_id, run.run_id


async def test_the_span_tree_of_create_and_wait_and_run_and_wait(
    spans: InMemorySpanExporter,
) -> None:
    clock = FakeClock(fixed_random=0.5)
    emu = Emulator(clock=clock, operation_time=3.0, run_time=6.0)
    emu.faults.script("GET /external-audience/operations/x", [503])  # retried
    emu.faults.script("POST /external-audience/x/runs", [429])  # retried (a POST may be)
    async with _client(emu, clock) as ais:
        audience_id, run_id = await _life_cycle(ais, emu)

    finished = spans.get_finished_spans()
    assert _tree(finished) == [
        "aep_ais.create_and_wait",
        "  aep_ais.create_audience",
        "    POST",
        "  GET",  # poll 1: 503
        "  GET",  # poll 1, resent: RUNNING
        "  GET",  # poll 2
        "  GET",  # poll 3: SUCCESS
        "aep_ais.run_and_wait",
        "  aep_ais.list_runs",
        "    GET",
        "  aep_ais.start_run",
        "    POST",  # 429
        "    POST",
        "  GET",
        "  GET",
        "  GET",
        "  GET",
        "  GET",
    ]
    [create, run] = [s for s in finished if s.parent is None]
    assert create.attributes is not None and run.attributes is not None
    assert create.attributes["aep.status"] == "SUCCESS"
    assert create.attributes["aep.audience_id"] == audience_id
    assert create.attributes["aep.polls"] == 3
    assert create.attributes["aep.sandbox"] == "prod"
    assert run.attributes["aep.run_id"] == run_id
    assert run.attributes["aep.audience_id"] == audience_id
    assert run.attributes["aep.status"] == "SUCCESS"
    assert run.attributes["aep.polls"] == 5

    retries = [(s.name, e.attributes) for s in finished for e in s.events if e.name == "aep.retry"]
    assert retries == [
        (
            "aep_ais.create_and_wait",
            {"aep.retry.reason": "status 503", "aep.retry.wait": 0.25, "aep.retry.attempt": 1},
        ),
        (
            "aep_ais.start_run",
            {"aep.retry.reason": "status 429", "aep.retry.wait": 1.0, "aep.retry.attempt": 1},
        ),
    ]
    polls = [dict(e.attributes or {}) for e in create.events if e.name == "aep.poll"]
    assert [p["aep.poll.number"] for p in polls] == [1, 2, 3]
    # The engine's sleep before each poll (FakeClock, fixed jitter): 1 s growing by 1.2.
    assert [p["aep.poll.wait"] for p in polls] == pytest.approx([1.0, 1.2, 1.44])
    assert polls[-1]["aep.status"] == "SUCCESS"

    http = [s for s in finished if s.kind == SpanKind.CLIENT]
    assert all(s.name == (s.attributes or {})["http.request.method"] for s in http)
    refused = [s for s in http if (s.attributes or {})["http.response.status_code"] >= 400]
    assert [(s.attributes or {})["error.type"] for s in refused] == ["503", "429"]
    assert all(s.status.status_code == StatusCode.ERROR for s in refused)
    resent = [s for s in http if "http.request.resend_count" in (s.attributes or {})]
    assert [(s.attributes or {})["http.request.resend_count"] for s in resent] == [1, 1]
    first = http[0].attributes or {}
    assert first["url.full"] == "https://platform.adobe.io/data/core/ais/external-audience/"
    assert first["server.address"] == "platform.adobe.io"
    assert first["server.port"] == 443
    assert str(first["aep.request_id"]).startswith("emu-")


def _every_value(finished: tuple[ReadableSpan, ...]) -> str:
    texts = []
    for s in finished:
        texts += [s.name, str(s.status.description)]
        texts += [f"{k}={v}" for k, v in (s.attributes or {}).items()]
        for event in s.events:
            texts.append(event.name)
            texts += [f"{k}={v}" for k, v in (event.attributes or {}).items()]
    return "\n".join(texts)


async def test_no_span_attribute_or_event_holds_a_token_or_secret(
    spans: InMemorySpanExporter,
) -> None:
    clock = FakeClock(fixed_random=0.5)
    secret = "the-client-secret-42"
    emu = Emulator(clock=clock, operation_time=3.0, run_time=6.0, strict_tokens=True)
    emu.add_credential("my-client", secret)
    emu.faults.script("GET /external-audience/operations/x", [503, "drop"])
    emu.faults.script("POST /external-audience/x/runs", [429])
    auth = aep_ais.OAuthServerToServer("my-client", secret)
    async with _client(emu, clock, auth=auth, api_key="my-client") as ais:
        audience_id, _ = await _life_cycle(ais, emu)
        for token in list(emu._tokens.tokens):
            emu.revoke(token)  # the next call meets a 401 and refreshes
        with pytest.raises(aep_ais.NotFoundError):
            await ais.get_run(audience_id, "no-such-run")
    text = _every_value(spans.get_finished_spans())
    assert "exception" in text and "NotFoundError" in text  # the walk sees errors too
    assert "http.request.resend_count" in text  # the refresh's resend is there too
    assert secret not in text
    tokens = list(emu._tokens.tokens)
    assert len(tokens) == 2
    for token in tokens:
        assert token not in text
    assert "Bearer" not in text


async def test_an_error_sets_the_status_and_records_the_exception(
    spans: InMemorySpanExporter,
) -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock)
    async with _client(emu, clock) as ais:
        with pytest.raises(aep_ais.NotFoundError):
            await ais.get_run("no-such-audience", "no-such-run")
    [call] = [s for s in spans.get_finished_spans() if s.name == "aep_ais.get_run"]
    assert call.status.status_code == StatusCode.ERROR
    assert (call.attributes or {})["error.type"] == "NotFoundError"
    assert (call.attributes or {})["aep.run_id"] == "no-such-run"
    [event] = [e for e in call.events if e.name == "exception"]
    assert (event.attributes or {})["exception.type"].endswith("NotFoundError")


def test_without_opentelemetry_nothing_of_it_is_imported() -> None:
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if it were not installed
import anyio
import aep_ais
from aep_ais.testing import Emulator, FakeClock

async def main():
    clock = FakeClock()
    emu = Emulator(clock=clock)
    seen = []
    hooks = aep_ais.Hooks(on_request=lambda e: seen.append(e.status_code))
    async with aep_ais.AISClient(org_id="o@AdobeOrg", auth=aep_ais.StaticToken("t"),
            api_key="k", clock=clock, transport=emu.transport(), hooks=hooks) as ais:
        try:
            await ais.get_run("a-1", "r-1")
        except aep_ais.NotFoundError:
            pass
    assert seen == [404], seen

anyio.run(main)
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry") and sys.modules[m])
print(loaded)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_import_alone_never_imports_opentelemetry_even_when_installed() -> None:
    code = "import sys, aep_ais; print(any(m.startswith('opentelemetry') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# Logs ------------------------------------------------------------------------------------


async def test_each_retry_is_one_warning_with_reason_wait_and_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(fixed_random=0.5)
    emu = Emulator(clock=clock, operation_time=3.0, run_time=6.0)
    emu.faults.script("GET /external-audience/operations/x", [503])
    caplog.set_level(logging.DEBUG, logger="aep_ais")
    async with _client(emu, clock) as ais:
        op = await ais.create_and_wait(spec(name="Logged"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    [warning] = warnings
    fields = vars(warning)
    assert fields["aep_retry_reason"] == "status 503"
    assert fields["aep_retry_wait"] == 0.25
    assert fields["aep_request_id"].startswith("emu-")
    assert fields["aep_operation_id"] == op.operation_id
    assert fields["aep_sandbox"] == "prod"
    assert "0.25s" in warning.getMessage() and "status 503" in warning.getMessage()
    polls = [r for r in caplog.records if hasattr(r, "aep_poll")]
    assert polls and all(r.levelno == logging.DEBUG for r in polls)
    sends = [r for r in caplog.records if hasattr(r, "aep_status_code")]
    assert {r.levelno for r in sends} == {logging.DEBUG}
    assert all(r.aep_request_id.startswith("emu-") for r in sends)
    # The fields are JSON-ready for a formatter, and none is a LogRecord attribute.
    plain = vars(logging.makeLogRecord({}))
    for record in caplog.records:
        extra = {k: v for k, v in vars(record).items() if k.startswith("aep_")}
        assert not set(extra) & set(plain)
        json.dumps(extra)


# Hooks -----------------------------------------------------------------------------------


async def test_hooks_see_requests_retries_polls_and_the_end_of_waits() -> None:
    clock = FakeClock(fixed_random=0.5)
    emu = Emulator(clock=clock, operation_time=3.0, run_time=6.0)
    emu.faults.script("GET /external-audience/operations/x", [503])
    seen: list[Any] = []

    async def on_poll(event: aep_ais.PollEvent) -> None:  # async hooks are awaited
        seen.append(event)

    hooks = aep_ais.Hooks(
        on_request=seen.append, on_retry=seen.append, on_poll=on_poll, on_wait_end=seen.append
    )
    async with _client(emu, clock, hooks=hooks) as ais:
        op = await ais.create_and_wait(spec(name="Hooked"))
        # A view shares its parent's hooks.
        view = ais.with_options(retry=aep_ais.RetryPolicy(max_attempts=1))
        assert view.hooks is hooks
        await view.get_operation(op.operation_id)
    kinds = [type(e).__name__ for e in seen]
    assert kinds == [
        "RequestEvent",  # create
        "RequestEvent",  # poll 1: 503
        "RetryEvent",
        "RequestEvent",
        "PollEvent",
        "RequestEvent",
        "PollEvent",
        "RequestEvent",
        "PollEvent",
        "WaitEndEvent",
        "RequestEvent",  # the view's call
    ]
    retry = seen[2]
    assert (retry.reason, retry.wait, retry.attempt) == ("status 503", 0.25, 1)
    end = seen[9]
    assert (end.kind, end.outcome, end.status, end.polls) == ("operation", "done", "SUCCESS", 3)
    assert end.operation_id == op.operation_id and end.elapsed > 0
    poll_events = [e for e in seen if isinstance(e, aep_ais.PollEvent)]
    assert [e.polls for e in poll_events] == [1, 2, 3]
    assert all(e.wait > 0 for e in poll_events)
    assert [e.status_code for e in seen if isinstance(e, aep_ais.RequestEvent)] == [
        202,
        503,
        200,
        200,
        200,
        200,
    ]


async def test_a_raising_hook_is_logged_and_never_breaks_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=1.0)

    def broken(event: object) -> None:
        raise RuntimeError("hook bug")

    async def broken_async(event: object) -> None:
        raise ValueError("async hook bug")

    hooks = aep_ais.Hooks(on_request=broken, on_poll=broken_async, on_wait_end=broken)
    async with _client(emu, clock, hooks=hooks) as ais:
        op = await ais.create_and_wait(spec(name="Unbroken"))
    assert op.status == "SUCCESS"
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("RuntimeError: hook bug" in m for m in messages)
    assert any("ValueError: async hook bug" in m for m in messages)


async def test_a_wait_that_times_out_ends_with_a_timeout_event() -> None:
    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=3600.0)
    ends: list[aep_ais.WaitEndEvent] = []
    async with _client(emu, clock, hooks=aep_ais.Hooks(on_wait_end=ends.append)) as ais:
        op = await ais.create_audience(spec(name="Slow"))
        with pytest.raises(aep_ais.WaitTimeoutError):
            await ais.wait_for_operation(op.operation_id, poll=aep_ais.PollPolicy(timeout=30))
    [end] = ends
    assert end.outcome == "timeout" and end.polls >= 1 and end.status is not None


def test_hooks_must_be_a_hooks_value_and_are_read_only() -> None:
    with pytest.raises(aep_ais.ValidationError):
        aep_ais.AISClient(
            org_id=ORG, auth=aep_ais.StaticToken("t"), api_key="k", hooks={"on_request": print}
        )  # type: ignore[arg-type]
    ais = aep_ais.AISClient(org_id=ORG, auth=aep_ais.StaticToken("t"), api_key="k")
    with pytest.raises(AttributeError):
        ais.hooks = aep_ais.Hooks()  # type: ignore[misc]


async def test_a_bulk_call_is_one_span_with_a_child_per_item(spans: InMemorySpanExporter) -> None:
    clock = FakeClock(fixed_random=0.5)
    emu = Emulator(clock=clock, operation_time=1.0, run_time=2.0)
    async with _client(emu, clock) as ais:
        created = await ais.create_many([spec(name=f"Bulk {i}") for i in range(2)], concurrency=2)
        ids = [r.value.audience_id for r in created if r.value and r.value.audience_id]
        await ais.run_many(ids, data_filter_start_time=1_700_000_000, concurrency=2)
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}

    def children(span: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in finished if s.parent and s.parent.span_id == span.context.span_id]

    roots = [s for s in finished if s.parent is None or s.parent.span_id not in by_id]
    assert sorted(s.name for s in roots) == ["aep_ais.create_many", "aep_ais.run_many"]
    for root, item in [
        ("aep_ais.create_many", "aep_ais.create_and_wait"),
        ("aep_ais.run_many", "aep_ais.run_and_wait"),
    ]:
        [bulk] = [s for s in roots if s.name == root]
        assert [s.name for s in children(bulk)] == [item, item]
        assert all((s.attributes or {})["aep.status"] == "SUCCESS" for s in children(bulk))
    runs = [s for s in finished if s.name == "aep_ais.run_and_wait"]
    assert sorted((s.attributes or {})["aep.audience_id"] for s in runs) == sorted(ids)


async def test_a_cancelled_wait_still_reports_its_end() -> None:
    import anyio

    clock = FakeClock()
    emu = Emulator(clock=clock, operation_time=3600.0)
    ends: list[aep_ais.WaitEndEvent] = []

    async def on_wait_end(event: aep_ais.WaitEndEvent) -> None:
        await anyio.lowlevel.checkpoint()  # an async hook runs even under the cancel
        ends.append(event)

    async with _client(emu, clock, hooks=aep_ais.Hooks(on_wait_end=on_wait_end)) as ais:
        op = await ais.create_audience(spec(name="Cancelled"))
        seen: list[aep_ais.Operation] = []
        with anyio.CancelScope() as scope:

            def cancel_on_the_second(state: aep_ais.Operation) -> None:
                seen.append(state)
                if len(seen) == 2:
                    scope.cancel()

            await ais.wait_for_operation(op.operation_id, on_status=cancel_on_the_second)
    [end] = ends
    assert (end.outcome, end.polls, end.status) == ("cancelled", 2, "PROCESSING")


def test_url_full_never_holds_a_credential_like_query_value() -> None:
    url = "https://h.example/p?limit=5&sig=abc123&X-Goog-Signature=zz&name=x"
    safe = _observe._safe_url(url)
    assert "abc123" not in safe and "zz" not in safe
    assert "limit=5" in safe and "name=x" in safe and safe.count("REDACTED") == 2
