"""The soak's second process: `run_and_wait` on the same audiences, through the same server.

`soak.py` starts it during its run phase, when the emulator it serves on 127.0.0.1 holds
the audiences. It reads one JSON object on stdin (`base_url`, `client_id`,
`client_secret`, `audiences`, `since`, `timeout`, `concurrency`), runs every audience
once with the same data window as the soak's own process, under its own credential (so
the emulator's `createdBy` tells the two apart), and prints one JSON line per audience:
`{"audience", "run_id", "error", "acted"}`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio

import aep_ais

ORG = "0123456789ABCDEF01234567@AdobeOrg"


async def main(job: dict[str, Any]) -> None:
    auth = aep_ais.OAuthServerToServer(
        job["client_id"], job["client_secret"], token_url=f"{job['base_url']}/ims/token/v3"
    )
    async with aep_ais.AISClient(
        org_id=ORG, sandbox="soak", auth=auth, base_url=job["base_url"], timeout=job["timeout"]
    ) as ais:
        results = await ais.run_many(
            job["audiences"], data_filter_start_time=job["since"], concurrency=job["concurrency"]
        )
    for result in results:
        error = result.error
        print(
            json.dumps(
                {
                    "audience": result.input,
                    "run_id": result.value.run_id if result.value is not None else None,
                    "error": None if error is None else type(error).__name__,
                    "acted": getattr(error, "server_may_have_acted", None),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    anyio.run(main, json.loads(sys.stdin.read()))
