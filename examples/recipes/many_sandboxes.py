"""Plain asyncio: refresh the audiences of several sandboxes at once.

One client, one view per sandbox (`with_options(sandbox=...)`): the views
share the client's connections, token and run guard, and every sandbox runs
its audiences with a bounded concurrency of its own. A failure of one audience
is reported and never stops the others. Each sandbox keeps a journal: run the
script again after a crash and it resumes the runs it started, starting only
those it never started.

    python many_sandboxes.py plan.json      (settings from the AEP_* variables)

where plan.json maps each sandbox to its audience ids:
`{"prod": ["60cc..."], "dev": ["7a1f..."]}`. It exits with 1 if a run failed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aep_ais

Results = dict[str, list[aep_ais.BulkResult[str, aep_ais.IngestionRun]]]


async def refresh_all(
    ais: aep_ais.AISClient,
    plan: dict[str, list[str]],
    since: datetime,
    journals: Path,
    concurrency: int = 8,
) -> Results:
    """Run every audience of the plan, sandboxes side by side."""
    async with asyncio.TaskGroup() as group:
        tasks = {
            sandbox: group.create_task(
                ais.with_options(sandbox=sandbox).run_many(
                    audience_ids,
                    data_filter_start_time=since,
                    concurrency=concurrency,
                    journal=journals / f"{sandbox}.jsonl",
                )
            )
            for sandbox, audience_ids in plan.items()
        }
    return {sandbox: task.result() for sandbox, task in tasks.items()}


def summary(results: Results) -> list[str]:
    lines = []
    for sandbox, outcomes in results.items():
        for outcome in outcomes:
            if outcome.value is not None:
                end = str(outcome.value.status)
            else:
                end = f"{type(outcome.error).__name__}: {outcome.error}"
            lines.append(f"{sandbox}/{outcome.input}: {end}")
    return lines


async def refresh_from_env(
    plan: dict[str, list[str]], since: datetime, journals: Path
) -> Results:
    async with aep_ais.AISClient.from_env() as ais:
        return await refresh_all(ais, plan, since, journals)


def main(plan_file: str) -> int:
    plan = json.loads(Path(plan_file).read_text())
    # Yesterday's data; one journal folder per plan and day, so that a rerun
    # on the same day resumes the same runs.
    today = datetime.now(UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    journals = Path(f"{plan_file}.{today:%Y-%m-%d}.journals")
    journals.mkdir(exist_ok=True)
    since = today - timedelta(days=1)
    results = asyncio.run(refresh_from_env(plan, since, journals))
    print("\n".join(summary(results)))
    failed = [o for outcomes in results.values() for o in outcomes if not o.ok]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
