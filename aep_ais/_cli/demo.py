"""`aep-ais demo`: the whole life cycle of an audience on an in-process emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TextIO

from aep_ais import (
    AudienceField,
    AudienceSpec,
    AudienceUpdate,
    Clock,
    PollPolicy,
    SourceSpec,
)

from .emulated import emulated_client
from .output import StatusLine, human

__all__ = ["DEMO_SPEC", "demo"]

DEMO_SPEC = AudienceSpec(
    name="Demo spring buyers",
    description="Buyers of the spring campaign (aep-ais demo)",
    fields=[
        AudienceField(name="email", type="string", identity_ns="email"),
        AudienceField(name="list_id", type="string", labels=["core/C2"]),
        AudienceField(name="score", type="number"),
    ],
    source_spec=SourceSpec(
        path="demo/spring/buyers.csv",
        type="file",
        source_type="Cloud Storage",
        cloud_type="DLZ",
    ),
    ttl_in_days=30,
    labels=["core/C1"],
)

# Polls four times a second so the short emulator delays show as a moving status.
DEMO_POLL = PollPolicy(interval=0.25, multiplier=1.0, max_interval=0.25, jitter=0.0, timeout=30.0)

STEPS = 6


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


async def demo(stdout: TextIO, stderr: TextIO, clock: Clock, *, live: bool) -> None:
    """Create an audience, ingest, list runs, update, extend its TTL and delete it."""
    started = clock.now()

    def step(n: int, text: str) -> None:
        print(f"\n[{n}/{STEPS}] {text}", file=stdout, flush=True)

    def show(text: str) -> None:
        print(_indent(text), file=stdout, flush=True)

    print(
        "aep-ais demo: an audience's whole life cycle on an in-process emulator\n"
        "(no Adobe account needed; the same calls work against the real API)",
        file=stdout,
    )
    async with emulated_client(clock, poll=DEMO_POLL) as ais:
        step(1, f"create the audience {DEMO_SPEC.name!r} and wait for it")
        with StatusLine(stderr, clock, "  creating", live=live) as line:
            op = await ais.create_and_wait(DEMO_SPEC, on_status=line)
        show(human(op))
        audience_id = op.audience_id
        assert audience_id is not None, "a successful operation names its audience"

        since = datetime.fromtimestamp(clock.time(), tz=UTC) - timedelta(days=7)
        step(2, f"ingest the files of the last 7 days (since {since:%Y-%m-%d}) and wait")
        with StatusLine(stderr, clock, "  ingesting", live=live) as line:
            run = await ais.run_and_wait(audience_id, data_filter_start_time=since, on_status=line)
        show(human(run))

        step(3, "list the audience's ingestion runs")
        show(human(await ais.list_runs(audience_id)))

        step(4, "update the description and keep the data 45 days")
        change = AudienceUpdate(description="Spring buyers, refreshed weekly", ttl_in_days=45)
        audience = await ais.update_audience(audience_id, change)
        show(f"description  {audience.description}\nttl days     {audience.ttl_in_days}")

        step(5, "extend the data expiration")
        show(human(await ais.extend_ttl(audience_id)))

        step(6, "delete the audience")
        await ais.delete_audience(audience_id)
        show(f"deleted {audience_id}")

    print(
        f"\ndone in {clock.now() - started:.1f}s. Next: `aep-ais --help`, or try each command "
        "on an emulator that keeps its state:\n"
        "  aep-ais emulator --port 8765    (in another terminal; it prints the exports to set)",
        file=stdout,
        flush=True,
    )
