"""The audience life cycle that `bulk.py` and `soak.py` drive, and the soak's bookkeeping.

`soak()` takes a client and the `Emulator` it talks to (in-process or over a socket) and
drives create-then-run for many audiences under whatever faults the emulator deals, with
a share of the waiting tasks cancelled at random moments and resumed from their IDs. It
then reads the emulator's own state and returns a `SoakReport` of counts.

`tests/test_soak.py` imports this module as `benchmarks._lifecycle`, so it imports nothing
from the benchmarks folder; the scripts import it as `_lifecycle`.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import anyio
import sniffio

import aep_ais
from aep_ais.testing import Emulator, FakeClock

__all__ = [
    "SOAK_FAULT_KINDS",
    "TOKEN_OUTAGE",
    "SoakRun",
    "Trace",
    "audience_spec",
    "cancelled_at",
    "pool_entries_left",
    "soak",
]

# Token requests that fail in a row once the soak revokes the token mid-wait: two rounds
# of the provider's three tries, so that waits meet `TokenError`s (a 6-second IMS outage).
TOKEN_OUTAGE = ("503", "503", "drop", "503", "502", "503")
TOKEN_ROUTE = "POST /ims/token/v3"

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


async def natively_cancelled(
    how: str,
    clock: aep_ais.Clock,
    rng: random.Random,
    within: float,
    work: Callable[[], Awaitable[Outcome[V]]],
) -> tuple[bool, Outcome[V] | None]:
    """Run `work()` in an asyncio task cancelled the asyncio way; `(True, None)` if it was.

    `how` is `"task.cancel"` (the task is cancelled from outside) or `"wait_for"` (an
    `asyncio.wait_for` times out around it). On virtual time the moment is a random number
    of event-loop steps; on real time a random delay up to `within` seconds.
    """
    virtual = isinstance(clock, FakeClock)
    steps = rng.randrange(1, 60)
    delay = rng.uniform(0.0, within)

    async def pause() -> None:
        if virtual:
            for _ in range(steps):
                await asyncio.sleep(0)
        else:
            await asyncio.sleep(delay)

    if how == "wait_for":
        if virtual:
            # wait_for's own timer runs on real time: cancel through it at a virtual moment.
            task = asyncio.ensure_future(work())
            waiter = asyncio.ensure_future(asyncio.wait_for(task, timeout=3600))
            await pause()
            waiter.cancel()
            try:
                return False, await waiter
            except asyncio.CancelledError:
                return True, None
        try:
            return False, await asyncio.wait_for(work(), timeout=delay)
        except TimeoutError:
            return True, None
    task = asyncio.ensure_future(work())
    await pause()
    task.cancel()
    try:
        return False, await task
    except asyncio.CancelledError:
        return True, None


def pool_entries_left(client: aep_ais.AISClient) -> int | None:
    """Requests queued or connections busy in the client's httpcore pool (`None`: no pool).

    Read when nothing is in flight any more: anything counted is held by a request that
    ended (a cancelled one, say) and will never be given back.
    """
    transport = getattr(client._transport._http, "_transport", None)
    pool = getattr(transport, "_pool", None)
    if pool is None:
        return None
    queued = len(getattr(pool, "_requests", ()))
    busy = sum(1 for c in pool.connections if not c.is_idle() and not c.is_closed())
    return queued + busy


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
    how: str = "scope"  # how a victim's waits are cancelled, or "deadline"
    sdk_run: bool = False  # `run` came from run_and_wait itself (not from a listing)
    run_call: tuple[float, float] | None = None  # the first run step, on the client's clock
    timed_out: list[tuple[str, float, float]] = field(default_factory=list)  # (run, at, resumed)

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
        self.token_outages = 0
        self.me = f"{client._transport._headers['x-api-key']}@techacct.adobe.com"
        self.native = sniffio.current_async_library() == "asyncio"
        ways = (
            ("scope", "task.cancel", "wait_for", "deadline")
            if self.native
            else ("scope", "deadline")
        )
        for tr in traces:
            if tr.victim:
                tr.how = rng.choice(ways)

    async def _cancelled(
        self, tr: Trace, work: Callable[[], Awaitable[Outcome[V]]]
    ) -> tuple[bool, Outcome[V] | None]:
        if tr.how in ("task.cancel", "wait_for"):
            return await natively_cancelled(tr.how, self.clock, self.rng, self.cancel_within, work)
        return await cancelled_at(self.clock, self.rng.uniform(0.0, self.cancel_within), work)

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
        cancelled, outcome = await self._cancelled(
            tr, lambda: _catch(self.client.wait_for_operation(op.operation_id))
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
        # The token dies under the client's feet: only a 401 tells it so. The token
        # endpoint then fails a few times in a row, while waits are polling.
        # Small steps, so that on virtual time the moment comes while the others poll.
        await _cancel_at(self.clock, self.clock.now() + delay, anyio.CancelScope())
        # This process's newest token (a second process has tokens of its own).
        tokens = [t for t, r in self.emu.tokens.items() if r.client_id == self.emu.client_id]
        if tokens:
            self.emu.faults.script(TOKEN_ROUTE, TOKEN_OUTAGE)
            self.token_outages += 1
            self.emu.revoke(tokens[-1])
            self.revoked += 1

    @staticmethod
    def _audience(tr: Trace) -> str:
        assert tr.operation is not None and tr.operation.audience_id is not None
        return tr.operation.audience_id

    async def _run_plain(self, traces: list[Trace]) -> None:
        started = self.clock.now()
        results = await self.client.run_many(
            [self._audience(tr) for tr in traces],
            data_filter_start_time=self.since,
            concurrency=self.concurrency,
        )
        ended = self.clock.now()
        for tr, result in zip(traces, results, strict=True):
            tr.run_call = (started, ended)
            if result.error is None:
                tr.run, tr.sdk_run = result.value, True
            elif isinstance(result.error, aep_ais.AISError):
                tr.run_error = result.error
            else:
                tr.error = result.error

    async def _run_victim(self, tr: Trace) -> None:
        audience_id = self._audience(tr)
        seen: list[str] = []
        started = self.clock.now()
        if tr.how == "deadline":
            await self._run_with_deadline(tr, audience_id)
            return
        cancelled, outcome = await self._cancelled(
            tr,
            lambda: _catch(
                self.client.run_and_wait(
                    audience_id,
                    data_filter_start_time=self.since,
                    on_status=lambda run: seen.append(run.run_id),
                )
            ),
        )
        tr.run_call = (started, self.clock.now())
        if not cancelled:
            if isinstance(outcome, aep_ais.IngestionRun):
                tr.run, tr.sdk_run = outcome, True
            elif isinstance(outcome, aep_ais.AISError):
                tr.run_error = outcome
            return
        tr.cancelled += 1
        await self.clock.sleep(self.settle)
        await self._resolve_run(tr, seen[-1] if seen else None)

    async def _run_with_deadline(self, tr: Trace, audience_id: str) -> None:
        """A wait with a short deadline: past it, nothing more is sent; then resume it."""
        started = self.clock.now()
        poll = aep_ais.PollPolicy(timeout=self.rng.uniform(0.1, 0.6) * self.cancel_within)
        outcome = await _catch(
            self.client.run_and_wait(audience_id, data_filter_start_time=self.since, poll=poll)
        )
        tr.run_call = (started, self.clock.now())
        tr.sdk_run = isinstance(outcome, aep_ais.IngestionRun)
        while isinstance(outcome, aep_ais.WaitTimeoutError) and outcome.run_id:
            at = self.clock.now()
            await self.clock.sleep(self.settle)
            tr.timed_out.append((outcome.run_id, at, self.clock.now()))
            outcome = await _catch(self.client.wait_for_run(audience_id, outcome.run_id, poll=poll))
        if isinstance(outcome, aep_ais.IngestionRun):
            tr.run, tr.sdk_run = outcome, True
        elif isinstance(outcome, aep_ais.AISError):
            tr.run_error = outcome

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
                    # This process gives every audience one run: a listed run of its own
                    # credential is the one it started (a second process's are not).
                    runs = await self.client.list_runs(audience_id)
                    mine = [r for r in runs if r.created_by == self.me]
                    run_id = mine[0].run_id if mine else None
                if run_id is not None:
                    tr.run = await self.client.wait_for_run(audience_id, run_id)
                else:
                    tr.run = await self.client.run_and_wait(
                        audience_id, data_filter_start_time=self.since
                    )
                    tr.sdk_run = True
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
    token_outages: int = 0  # scripted token endpoint outages while waits polled
    received: list[tuple[float, str, str]] = field(default_factory=list)  # (at, method, path)
    pool_entries_left: int | None = None
    peer: list[dict[str, object]] = field(default_factory=list)  # the second process's results


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
    peer: tuple[Sequence[str], dict[str, Any]] | None = None,
) -> SoakRun:
    """Create then run `audiences` audiences through `client`; see the module docstring.

    A `victim_share` of them have their waits cancelled at a random moment within
    `cancel_within` seconds (on the client's clock) and resumed `settle` seconds later
    from their IDs. Failed creates are resent and failed runs resolved after each phase,
    `settle` seconds after it ends, so that answers still in flight (a slow answer the
    client gave up on) have landed first. `deadline` is in real seconds: past it the
    soak stops and the run says it hung. With `revoke_after`, the newest token is revoked
    that many seconds into the run phase, as if it had expired early, and the token
    endpoint then fails `TOKEN_OUTAGE` in a row while waits poll. Victims are cancelled
    through an anyio cancel scope, and under asyncio also by `task.cancel()` and
    `asyncio.wait_for`; some instead wait with a short deadline, then resume. `peer` is
    `(command line after the interpreter, job)` of a second process that runs the same
    audiences during the run phase (`_soak_peer.py`: the job and the audiences go to its
    stdin, one JSON line per audience comes back).
    """
    rng = random.Random(seed)
    received: list[tuple[float, str, str]] = []
    handle = emu.handle

    async def timed(
        method: str, path: str, query: list[tuple[str, str]], headers: Any, body: bytes
    ) -> Any:
        # When each request reached the emulator, on its clock, to count requests sent
        # after a wait's deadline.
        received.append((emu.clock.now(), method.upper(), path))
        return await handle(method, path, query, headers, body)

    emu.handle = timed  # type: ignore[method-assign]
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
        async with anyio.create_task_group() as tg:
            if peer is not None:
                tg.start_soon(_run_peer, run, peer, driver)
            await driver.run_phase(revoke_after)
        await clock.sleep(settle)
        await driver.resolve_runs()
    run.seconds = clock.now() - started
    run.hung = scope.cancelled_caught
    run.revoked = driver.revoked
    run.token_outages = driver.token_outages
    run.received = received
    run.pool_entries_left = pool_entries_left(client)
    emu.handle = handle  # type: ignore[method-assign]
    return run


async def _run_peer(
    run: SoakRun, peer: tuple[Sequence[str], dict[str, Any]], driver: _Soak
) -> None:
    """A second process: `run_and_wait` on the same audiences, same window, same emulator."""
    audiences = [driver._audience(tr) for tr in driver.traces if tr.operation is not None]
    command, job = peer
    request = json.dumps({**job, "audiences": audiences, "since": driver.since})
    result = await anyio.run_process(
        [sys.executable, *command], input=request.encode(), check=False
    )
    for line in result.stdout.decode().splitlines():
        if line.startswith("{"):
            run.peer.append(json.loads(line))
