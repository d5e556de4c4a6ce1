"""Counting: what a request was for, and the soak's counts read from the emulator's state.

`tests/test_soak.py` imports this module as `benchmarks._counts`, so it imports nothing
from the benchmarks folder at run time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

import aep_ais
from aep_ais.testing import Emulator, FakeClock, RunRecord

if TYPE_CHECKING:
    from _lifecycle import SoakRun, Trace

__all__ = ["SoakReport", "build_report", "route_kind"]


def route_kind(method: str, path: str) -> str:
    """What a request was for: `create`, `operation`, `list_runs`, `start_run`, `run`, ..."""
    path = path.split("?", 1)[0]
    parts = path.rstrip("/").split("/")
    if path.endswith("/ims/token/v3"):
        return "token"
    if "operations" in parts:
        return "operation"
    if parts[-1] == "external-audience" and method == "POST":
        return "create"
    if parts[-1] == "runs":
        return "start_run" if method == "POST" else "list_runs"
    return "run" if len(parts) >= 2 and parts[-2] == "runs" else "other"


@dataclass
class SoakReport:
    """Counts of one soak, from the emulator's state and the client's traces."""

    audiences: int
    seconds: float
    hung: bool
    ran: int
    typed_errors: Counter[str]
    untyped_errors: int
    lost: int
    cancelled: int
    faults: Counter[str]
    requests: Counter[str]
    # Creates.
    created_on_server: int
    max_operations_per_name: int
    max_sdk_creates_per_name: int
    failed_creates: int
    missing_flag: int
    flag_false_acted: int
    flag_false_not_acted: int
    flag_true_acted: int
    flag_true_not_acted: int
    resend_created: int
    resend_conflict: int
    resend_failed: int
    resend_contradictions: int
    orphans: int
    # Runs.
    runs_on_server: int
    max_runs_per_audience: int
    overlapping_runs: int
    start_refused_active: int
    failed_runs_resolved: int
    run_results_not_on_server: int
    guard_entries_left: int
    # Tokens.
    token_lifetime: float
    tokens_issued: int
    token_expiries: int
    revoked: int
    early_refreshes: int
    answers_401: int
    # Issue 9: what the soak must show as 0 (token outages while waits polled, native
    # cancellations, deadlines, a second process).
    token_outages: int = 0
    token_faults: int = 0
    cancelled_by: Counter[str] = field(default_factory=Counter)
    adopted_runs: int = 0
    run_flag_false_acted: int = 0
    run_errors: Counter[str] = field(default_factory=Counter)
    deadlines_hit: int = 0
    requests_after_deadline: int = 0
    pool_entries_left: int | None = None
    peer_calls: int = 0
    peer_ran: int = 0
    peer_errors: Counter[str] = field(default_factory=Counter)
    peer_runs_on_server: int = 0
    traces: list[Trace] = field(repr=False, default_factory=list)

    @property
    def max_tokens(self) -> int:
        """One token at the start, then at most one per expiry or revocation."""
        return self.token_expiries + self.revoked + 1

    def checks(self) -> list[tuple[str, str, bool]]:
        """`(name, figures, met)` for every property the soak must show."""
        left = self.pool_entries_left
        return [
            (
                "none lost, none hung",
                f"{self.audiences} audiences: {self.ran} ran, "
                f"{sum(self.typed_errors.values())} typed errors "
                f"({_counts(self.typed_errors)}), {self.untyped_errors} untyped, "
                f"{self.lost} lost, hung {self.hung}",
                self.lost == 0 and self.untyped_errors == 0 and not self.hung,
            ),
            (
                "no audience created twice",
                f"{self.created_on_server} operations on the server, at most "
                f"{self.max_operations_per_name} per name; create requests from the SDK "
                f"that reached the server: at most {self.max_sdk_creates_per_name} per name",
                self.max_operations_per_name <= 1 and self.max_sdk_creates_per_name <= 1,
            ),
            (
                "failed creates say whether the server may have acted",
                f"{self.failed_creates} failed, {self.missing_flag} without the flag; "
                f"flag False: {self.flag_false_acted} acted, {self.flag_false_not_acted} "
                f"not; flag True: {self.flag_true_acted} acted, {self.flag_true_not_acted} "
                f"not (a 5xx or lost answer cannot tell)",
                self.missing_flag == 0 and self.flag_false_acted == 0,
            ),
            (
                "resending resolves them",
                f"resent {self.resend_created + self.resend_conflict + self.resend_failed}: "
                f"{self.resend_created} created now, {self.resend_conflict} found created "
                f"(409; id unknown, the API has no lookup by name: {self.orphans} orphans "
                f"on the server), {self.resend_failed} still failing; "
                f"{self.resend_contradictions} contradict the server's state",
                # A resend that kept failing may itself have created its audience.
                self.resend_contradictions == 0
                and self.resend_conflict
                <= self.orphans
                <= self.resend_conflict + self.resend_failed,
            ),
            (
                "never two active runs of one audience",
                f"{self.runs_on_server} runs, at most {self.max_runs_per_audience} per "
                f"audience, {self.overlapping_runs} overlapping, "
                f"{self.start_refused_active} starts refused as a run was active "
                f"(the emulator refuses a second one: a refusal means a client tried); "
                f"{self.failed_runs_resolved} failed run steps resolved by listing; "
                f"{self.run_results_not_on_server} results unknown to the server; "
                f"{self.guard_entries_left} run-guard entries left"
                + (
                    f"; second process: {self.peer_calls} calls, {self.peer_ran} ran, "
                    f"{self.peer_runs_on_server} runs on the server, errors "
                    f"{_counts(self.peer_errors)}"
                    if self.peer_calls
                    else ""
                ),
                self.overlapping_runs == 0
                # With a second process, a start may meet the other's run: it is refused.
                and (self.start_refused_active == 0 or self.peer_calls > 0)
                and self.run_results_not_on_server == 0
                and self.guard_entries_left == 0,
            ),
            (
                "no run adopted, no error hides that the server acted",
                f"{self.adopted_runs} runs adopted (returned by run_and_wait to more than "
                f"one call, or to a call of the other process); {self.run_flag_false_acted} "
                f"run steps failed with server_may_have_acted false although their start "
                f"was carried out; run step errors: {_counts(self.run_errors)}; token "
                f"endpoint: {self.token_outages} outages mid-wait, {self.token_faults} "
                f"failed token requests",
                self.adopted_runs == 0 and self.run_flag_false_acted == 0,
            ),
            (
                "nothing sent after a deadline, no pool entry left",
                f"{self.deadlines_hit} waits ended at their deadline, "
                f"{self.requests_after_deadline} requests for their runs sent after it; "
                f"cancelled: {_counts(self.cancelled_by)}; pool entries left: "
                + ("no pool (in-process)" if left is None else str(left)),
                self.requests_after_deadline == 0 and not self.pool_entries_left,
            ),
            (
                "one token request per expiry",
                f"{self.tokens_issued} tokens for {self.token_expiries} expiries of a "
                f"{self.token_lifetime:g} s token and {self.revoked} revoked "
                f"(at most {self.max_tokens}), "
                f"{self.early_refreshes} early, {self.answers_401} answers were 401",
                self.tokens_issued <= self.max_tokens and self.early_refreshes == 0,
            ),
        ]


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def _overlaps(runs: list[RunRecord]) -> int:
    ordered = sorted(runs, key=lambda r: r.started)
    return sum(b.started < a.ends_at for a, b in pairwise(ordered))


def build_report(
    run: SoakRun, emu: Emulator, client: aep_ais.AISClient, *, token_lifetime: float
) -> SoakReport:
    """Count what the soak did, from the emulator's records and the client's traces."""
    traces = run.traces
    ended = [tr for tr in traces if tr.run is None]
    typed = Counter(
        type(tr.error).__name__ for tr in ended if isinstance(tr.error, aep_ais.AISError)
    )
    untyped = sum(
        tr.error is not None and not isinstance(tr.error, aep_ais.AISError) for tr in ended
    )

    operations = Counter(op.name for op in emu.operations.values())
    failed = [tr for tr in traces if tr.create_error is not None]
    acted = run.acted

    def flagged(value: bool, did: bool) -> int:
        return sum(tr.flag is value and (tr.name in acted) is did for tr in failed)

    contradictions = sum(
        (tr.resend == "created" and tr.name in acted)
        or (tr.resend == "conflict" and tr.name not in acted and not tr.resend_ambiguous)
        for tr in failed
    )
    known = {tr.operation.audience_id for tr in traces if tr.operation is not None}
    orphans = sum(audience_id not in known for audience_id in emu.audiences)

    now = emu.clock.now()
    ours = f"{client._transport._headers['x-api-key']}@techacct.adobe.com"
    runs_of: defaultdict[str, list[RunRecord]] = defaultdict(list)
    mine_of: defaultdict[str, list[RunRecord]] = defaultdict(list)
    for record in emu.runs.values():
        runs_of[record.audience_id].append(record)
        if record.created_by == ours:
            mine_of[record.audience_id].append(record)
    log = list(emu.request_log)
    unknown_results = sum(
        tr.run is not None
        and (tr.run.run_id not in emu.runs or emu.runs[tr.run.run_id].status(now) != "SUCCESS")
        for tr in traces
    )

    # In issue order; a refresh soon after a revoked token is the point, not a waste.
    # This client's tokens only: a second process has its own credential and tokens.
    api_key = client._transport._headers["x-api-key"]
    tokens = [
        (r.expires_at - token_lifetime, r.revoked)
        for r in emu.tokens.values()
        if r.client_id == api_key
    ]
    elapsed = now - tokens[0][0] if tokens else 0.0
    return SoakReport(
        audiences=len(traces),
        seconds=run.seconds,
        hung=run.hung,
        ran=sum(tr.run is not None and tr.run.status == "SUCCESS" for tr in traces),
        typed_errors=typed,
        untyped_errors=untyped,
        lost=sum(tr.error is None for tr in ended),
        cancelled=sum(tr.cancelled for tr in traces),
        faults=Counter(emu.faults_injected),
        requests=Counter(route_kind(method, path) for method, path, _ in log),
        created_on_server=sum(operations.values()),
        max_operations_per_name=max(operations.values(), default=0),
        max_sdk_creates_per_name=max(run.sdk_creates.values(), default=0),
        failed_creates=len(failed),
        missing_flag=sum(tr.flag is None for tr in failed),
        flag_false_acted=flagged(False, True),
        flag_false_not_acted=flagged(False, False),
        flag_true_acted=flagged(True, True),
        flag_true_not_acted=flagged(True, False),
        resend_created=sum(tr.resend == "created" for tr in failed),
        resend_conflict=sum(tr.resend == "conflict" for tr in failed),
        resend_failed=sum(tr.resend == "failed" for tr in failed),
        resend_contradictions=contradictions,
        orphans=orphans,
        runs_on_server=sum(map(len, mine_of.values())),
        max_runs_per_audience=max(map(len, mine_of.values()), default=0),
        overlapping_runs=sum(_overlaps(runs) for runs in runs_of.values()),
        start_refused_active=sum(
            status == 409 and route_kind(method, path) == "start_run"
            for method, path, status in log
        ),
        failed_runs_resolved=sum(tr.run_error is not None and tr.run is not None for tr in traces),
        run_results_not_on_server=unknown_results,
        guard_entries_left=len(client._run_guard),
        token_lifetime=token_lifetime,
        tokens_issued=len(tokens),
        token_expiries=int(elapsed // token_lifetime) if token_lifetime else 0,
        early_refreshes=sum(
            b[0] - a[0] < token_lifetime / 2 and not a[1] for a, b in pairwise(tokens)
        ),
        revoked=run.revoked,
        answers_401=sum(status == 401 for _, _, status in log),  # both processes
        **_issue_9_counts(run, emu, ours, mine_of),
        traces=traces,
    )


def _issue_9_counts(
    run: SoakRun, emu: Emulator, ours: str, mine_of: dict[str, list[RunRecord]]
) -> dict[str, object]:
    """Adopted runs, flags that hide an accepted start, requests after a deadline, the peer."""
    traces = run.traces
    runs = emu.runs
    # Claims: which run each run_and_wait call (of either process) returned as its own.
    peer_ok = [r for r in run.peer if r.get("run_id")]
    # Each claim beyond the run's own caller: a second claim within one process, or a
    # claim of a run the other process started.
    adopted = sum(
        1 for tr in traces if tr.sdk_run and tr.run and runs[tr.run.run_id].created_by != ours
    )
    adopted += sum(1 for r in peer_ok if runs[str(r["run_id"])].created_by == ours)
    twice = Counter(
        tr.run.run_id
        for tr in traces
        if tr.sdk_run and tr.run and runs[tr.run.run_id].created_by == ours
    ) + Counter(str(r["run_id"]) for r in peer_ok if runs[str(r["run_id"])].created_by != ours)
    adopted += sum(n - 1 for n in twice.values())

    def acted(tr: Trace) -> bool:
        if tr.run_call is None or tr.operation is None:
            return False
        began, ended = tr.run_call
        return any(
            began <= r.started <= ended for r in mine_of.get(tr.operation.audience_id or "", [])
        )

    flag_false = sum(
        1
        for tr in traces
        if tr.run_error is not None
        and not isinstance(tr.run_error, aep_ais.RunFailedError)
        and getattr(tr.run_error, "server_may_have_acted", None) is not True
        and acted(tr)
    )
    margin = 0.0 if isinstance(emu.clock, FakeClock) else 0.05
    after = 0
    for tr in traces:
        for run_id, at, resumed in tr.timed_out:
            after += sum(
                at + margin < t < resumed and path.endswith(f"/runs/{run_id}")
                for t, _, path in run.received
            )
    token_path = "/ims/token/v3"
    return {
        "token_outages": run.token_outages,
        "token_faults": sum(
            path.endswith(token_path) and status != 200 for _, path, status in emu.request_log
        ),
        "cancelled_by": Counter(tr.how for tr in traces if tr.cancelled),
        "adopted_runs": adopted,
        "run_flag_false_acted": flag_false,
        "run_errors": Counter(type(tr.run_error).__name__ for tr in traces if tr.run_error),
        "deadlines_hit": sum(len(tr.timed_out) for tr in traces),
        "requests_after_deadline": after,
        "pool_entries_left": run.pool_entries_left,
        "peer_calls": len(run.peer),
        "peer_ran": len(peer_ok),
        "peer_errors": Counter(str(r.get("error")) for r in run.peer if r.get("error")),
        "peer_runs_on_server": sum(1 for r in runs.values() if r.created_by != ours),
    }
