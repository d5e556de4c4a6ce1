"""The audience life cycle that `bulk.py` and `soak.py` drive, and the soak's bookkeeping.

`soak()` takes a client and the `Emulator` it talks to (in-process or over a socket) and
drives create-then-run for many audiences under whatever faults the emulator deals, with
a share of the waiting tasks cancelled at random moments and resumed from their IDs. It
then reads the emulator's own state and returns a `SoakReport` of counts.

`tests/test_soak.py` imports this module as `benchmarks._lifecycle`, so it imports nothing
from the benchmarks folder; the scripts import it as `_lifecycle`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

import anyio

import aep_ais
from aep_ais.testing import Emulator

__all__ = ["SOAK_FAULT_KINDS", "SoakRun", "Trace", "audience_spec", "cancelled_at", "soak"]

# Every fault the soak injects: each kind before the server acts, and after it for those
# where that differs (a 429 always comes before).
SOAK_FAULT_KINDS = (
    "429",
    "500",
    "500-after",
    "502",
    "502-after",
    "503",
    "503-after",
    "drop",
    "drop-after",
    "slow",
    "slow-after",
)

V = TypeVar("V")
Outcome: TypeAlias = V | aep_ais.AISError  # the value, or the typed error it ended with


def audience_spec(i: int, prefix: str = "bulk") -> aep_ais.AudienceSpec:
    """A small valid spec with a unique name and source path."""
    return aep_ais.AudienceSpec(
        name=f"{prefix}-{i:05d}",
        fields=[
            aep_ais.AudienceField(name="email", type="string", identity_ns="email"),
            aep_ais.AudienceField(name="score", type="number"),
        ],
        source_spec=aep_ais.SourceSpec(path=f"{prefix}/{i:05d}.csv", type="file", cloud_type="DLZ"),
        ttl_in_days=30,
    )


async def _catch(work: Awaitable[V]) -> Outcome[V]:
    """The value, or the typed error; anything else (a bug) propagates."""
    try:
        return await work
    except aep_ais.AISError as exc:
        return exc


async def _cancel_at(clock: aep_ais.Clock, at: float, scope: anyio.CancelScope) -> None:
    # Small steps on the client's clock, so that on virtual time the moment comes
    # between the other tasks' polls instead of jumping the whole clock ahead.
    while clock.now() < at:
        await clock.sleep(min(0.25, at - clock.now()))
    scope.cancel()


async def cancelled_at(
    clock: aep_ais.Clock, delay: float, work: Callable[[], Awaitable[Outcome[V]]]
) -> tuple[bool, Outcome[V] | None]:
    """Run `work()`, cancelling it `delay` seconds in; `(True, None)` if that happened."""
    scope = anyio.CancelScope()
    value: Outcome[V] | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(_cancel_at, clock, clock.now() + delay, scope)
        try:
            with scope:
                value = await work()
        finally:
            tg.cancel_scope.cancel()
    return scope.cancelled_caught, value


@dataclass
class Trace:
    """What happened to one audience, from the client's side."""

    spec: aep_ais.AudienceSpec
    victim: bool
    create_error: aep_ais.AISError | None = None  # the first create request's failure
    resend: str | None = None  # "created", "conflict" or "failed"
    resend_ambiguous: bool = False  # a resend itself failed with server_may_have_acted
    operation: aep_ais.Operation | None = None
    run_error: aep_ais.AISError | None = None  # first failure of the run step, if any
    run: aep_ais.IngestionRun | None = None
    error: BaseException | None = None  # the final error when there is no run
    cancelled: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def flag(self) -> bool | None:
        """`server_may_have_acted` of the failed create, `None` if the error lacks it."""
        value = getattr(self.create_error, "server_may_have_acted", None)
        return value if isinstance(value, bool) else None


class _Soak:
    """One soak: the client, the emulator, the traces and the phases that fill them."""

    def __init__(
        self,
        client: aep_ais.AISClient,
        emu: Emulator,
        traces: list[Trace],
        *,
        concurrency: int,
        rng: random.Random,
        cancel_within: float,
        settle: float,
    ) -> None:
        self.client = client
        self.clock = client.clock
        self.emu = emu
        self.traces = traces
        self.concurrency = concurrency
        self.rng = rng
        self.cancel_within = cancel_within
        self.settle = settle
        self.since = int(self.clock.time()) - 86400
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.revoked = 0

    async def _each(
        self, traces: Sequence[Trace], work: Callable[[Trace], Awaitable[None]]
    ) -> None:
        async def one(tr: Trace) -> None:
            async with self.limiter:
                try:
                    await work(tr)
                # A bug in the SDK surfaces here as a non-AISError: keep it as the result.
                except Exception as exc:  # noqa: BLE001
                    tr.error = exc

        async with anyio.create_task_group() as tg:
            for tr in traces:
                tg.start_soon(one, tr)

    # Creates -------------------------------------------------------------------------

    async def create_phase(self) -> None:
        plain = [tr for tr in self.traces if not tr.victim]
        victims = [tr for tr in self.traces if tr.victim]
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._create_plain, plain)
            tg.start_soon(self._each, victims, self._create_victim)

    async def _create_plain(self, traces: list[Trace]) -> None:
        results = await self.client.create_many(
            [tr.spec for tr in traces], concurrency=self.concurrency
        )
        for tr, result in zip(traces, results, strict=True):
            error = result.error
            if error is None:
                tr.operation = result.value
            elif isinstance(error, aep_ais.AISError) and getattr(error, "method", None) == "POST":
                tr.create_error = error
            elif isinstance(error, aep_ais.WaitTimeoutError) and error.operation_id:
                # The create went through; pick the wait up again from its id.
                outcome = await _catch(self.client.wait_for_operation(error.operation_id))
                self._operation_outcome(tr, outcome)
            else:
                tr.error = error

    async def _create_victim(self, tr: Trace) -> None:
        try:
            op = await self.client.create_audience(tr.spec)
        except aep_ais.AISError as exc:
            tr.create_error = exc
            return
        delay = self.rng.uniform(0.0, self.cancel_within)
        cancelled, outcome = await cancelled_at(
            self.clock, delay, lambda: _catch(self.client.wait_for_operation(op.operation_id))
        )
        if cancelled:
            tr.cancelled += 1
            await self.clock.sleep(self.settle)
            outcome = await _catch(self.client.wait_for_operation(op.operation_id))
        self._operation_outcome(tr, outcome)

    @staticmethod
    def _operation_outcome(tr: Trace, outcome: object) -> None:
        if isinstance(outcome, aep_ais.Operation):
            tr.operation = outcome
        else:
            tr.error = outcome if isinstance(outcome, BaseException) else None

    async def resolve_creates(self) -> None:
        """Resend each failed create: 202 means the first never acted, 409 that it did."""
        await self._each([tr for tr in self.traces if tr.create_error], self._resend)

    async def _resend(self, tr: Trace) -> None:
        last: BaseException | None = None
        for _ in range(4):
            try:
                tr.operation = await self.client.create_and_wait(tr.spec)
            except aep_ais.ConflictError as exc:
                tr.resend, tr.error = "conflict", exc
                return
            except aep_ais.AISError as exc:
                last = exc
                if getattr(exc, "server_may_have_acted", False):
                    tr.resend_ambiguous = True
                await self.clock.sleep(self.settle)
            else:
                tr.resend = "created"
                return
        tr.resend, tr.error = "failed", last

    # Runs ----------------------------------------------------------------------------

    async def run_phase(self, revoke_after: float | None) -> None:
        created = [tr for tr in self.traces if tr.operation is not None]
        plain = [tr for tr in created if not tr.victim]
        victims = [tr for tr in created if tr.victim]
        async with anyio.create_task_group() as tg:
            if revoke_after is not None:
                tg.start_soon(self._revoke, revoke_after)
            tg.start_soon(self._run_plain, plain)
            tg.start_soon(self._each, victims, self._run_victim)

    async def _revoke(self, delay: float) -> None:
        # The token dies under the client's feet: only a 401 tells it so.
        await self.clock.sleep(delay)
        tokens = list(self.emu.tokens)
        if tokens:
            self.emu.revoke(tokens[-1])
            self.revoked += 1

    @staticmethod
    def _audience(tr: Trace) -> str:
        assert tr.operation is not None and tr.operation.audience_id is not None
        return tr.operation.audience_id

    async def _run_plain(self, traces: list[Trace]) -> None:
        results = await self.client.run_many(
            [self._audience(tr) for tr in traces],
            data_filter_start_time=self.since,
            concurrency=self.concurrency,
        )
        for tr, result in zip(traces, results, strict=True):
            if result.error is None:
                tr.run = result.value
            elif isinstance(result.error, aep_ais.AISError):
                tr.run_error = result.error
            else:
                tr.error = result.error

    async def _run_victim(self, tr: Trace) -> None:
        audience_id = self._audience(tr)
        seen: list[str] = []
        delay = self.rng.uniform(0.0, self.cancel_within)
        cancelled, outcome = await cancelled_at(
            self.clock,
            delay,
            lambda: _catch(
                self.client.run_and_wait(
                    audience_id,
                    data_filter_start_time=self.since,
                    on_status=lambda run: seen.append(run.run_id),
                )
            ),
        )
        if not cancelled:
            if isinstance(outcome, aep_ais.IngestionRun):
                tr.run = outcome
            elif isinstance(outcome, aep_ais.AISError):
                tr.run_error = outcome
            return
        tr.cancelled += 1
        await self.clock.sleep(self.settle)
        await self._resolve_run(tr, seen[-1] if seen else None)

    async def resolve_runs(self) -> None:
        """Each failed run step: wait for the run the server has, or start one."""
        failed = [tr for tr in self.traces if tr.run_error is not None and tr.run is None]
        await self._each(failed, lambda tr: self._resolve_run(tr, None))

    async def _resolve_run(self, tr: Trace, run_id: str | None) -> None:
        audience_id = self._audience(tr)
        last: BaseException | None = None
        for _ in range(4):
            try:
                if run_id is None:
                    # Every audience here gets one run: a listed run is the one we started.
                    runs = await self.client.list_runs(audience_id, limit=5)
                    run_id = runs[0].run_id if runs else None
                if run_id is not None:
                    tr.run = await self.client.wait_for_run(audience_id, run_id)
                else:
                    tr.run = await self.client.run_and_wait(
                        audience_id, data_filter_start_time=self.since
                    )
                return
            except aep_ais.AISError as exc:
                last = exc
                await self.clock.sleep(self.settle)
        tr.error = last


@dataclass
class SoakRun:
    """The traces of one soak and what the server held before any create was resent."""

    traces: list[Trace]
    seconds: float  # on the client's clock
    hung: bool
    acted: frozenset[str] = frozenset()  # names the server has an operation for
    sdk_creates: Counter[str] = field(default_factory=Counter)  # create requests per name
    revoked: int = 0  # tokens revoked by the soak mid-run


async def soak(
    client: aep_ais.AISClient,
    emu: Emulator,
    *,
    audiences: int,
    concurrency: int = 64,
    seed: int = 0,
    victim_share: float = 0.05,
    cancel_within: float = 3.0,
    settle: float = 0.0,
    deadline: float = 600.0,
    revoke_after: float | None = None,
    prefix: str = "soak",
) -> SoakRun:
    """Create then run `audiences` audiences through `client`; see the module docstring.

    A `victim_share` of them have their waits cancelled at a random moment within
    `cancel_within` seconds (on the client's clock) and resumed `settle` seconds later
    from their IDs. Failed creates are resent and failed runs resolved after each phase,
    `settle` seconds after it ends, so that answers still in flight (a slow answer the
    client gave up on) have landed first. `deadline` is in real seconds: past it the
    soak stops and the run says it hung. With `revoke_after`, the newest token is revoked
    that many seconds into the run phase, as if it had expired early.
    """
    rng = random.Random(seed)
    victims = set(rng.sample(range(audiences), round(audiences * victim_share)))
    traces = [Trace(audience_spec(i, prefix), i in victims) for i in range(audiences)]
    driver = _Soak(
        client,
        emu,
        traces,
        concurrency=concurrency,
        rng=rng,
        cancel_within=cancel_within,
        settle=settle,
    )
    clock = client.clock
    started = clock.now()
    run = SoakRun(traces, 0.0, hung=False)
    with anyio.move_on_after(deadline) as scope:
        await driver.create_phase()
        await clock.sleep(settle)
        # Before any resend: which names the server acted on, and how often the SDK asked.
        run.acted = frozenset(op.name for op in emu.operations.values())
        run.sdk_creates = Counter(emu.create_attempts)
        await driver.resolve_creates()
        await driver.run_phase(revoke_after)
        await clock.sleep(settle)
        await driver.resolve_runs()
    run.seconds = clock.now() - started
    run.hung = scope.cancelled_caught
    run.revoked = driver.revoked
    return run
