"""FastAPI: a service that starts runs and reports their progress.

`POST /audiences/{audience_id}/runs` starts a run (one active run per audience:
a second request while one is going gets 409 and the active run's id) and
answers 202 at once; `GET /audiences/{audience_id}/runs/{run_id}` reports the
run's status and stages. The service holds no state of its own: the platform
keeps the runs, so any replica can answer for any of them.

    uvicorn fastapi_service:app      (settings from the AEP_* variables)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

import aep_ais
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class StartRequest(BaseModel):
    data_filter_start_time: datetime
    data_filter_end_time: datetime | None = None


class Stage(BaseModel):
    stage: str
    status: str | None


class RunReport(BaseModel):
    audience_id: str
    run_id: str
    status: str | None
    done: bool
    stages: list[Stage]


def report(audience_id: str, run: aep_ais.IngestionRun) -> RunReport:
    return RunReport(
        audience_id=audience_id,
        run_id=run.run_id,
        status=None if run.status is None else str(run.status),
        done=run.done,
        stages=[
            Stage(
                stage=s.stage,
                status=None if s.status is None else str(s.status),
            )
            for s in run.details
        ],
    )


def client(request: Request) -> aep_ais.AISClient:
    """The service's client, opened by its lifespan."""
    ais: aep_ais.AISClient = request.app.state.ais
    return ais


Client = Annotated[aep_ais.AISClient, Depends(client)]


def status_for(exc: aep_ais.AISError) -> int:
    """The HTTP status this service answers with for an SDK error."""
    if isinstance(exc, aep_ais.RunInProgressError):
        return 409
    if isinstance(exc, aep_ais.NotFoundError):
        return 404
    if isinstance(exc, aep_ais.ValidationError):
        return 422
    # Passing trouble at the platform (the client may try again) or not.
    return 503 if exc.retryable else 502


def create_app(make_client: Callable[[], aep_ais.AISClient]) -> FastAPI:
    """The service, with one client for its whole life."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with make_client() as ais:
            app.state.ais = ais
            yield

    app = FastAPI(title="Audience runs", lifespan=lifespan)

    @app.exception_handler(aep_ais.AISError)
    async def ais_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, aep_ais.AISError)
        content = {"detail": str(exc)}
        if isinstance(exc, aep_ais.RunInProgressError) and exc.run_id:
            content["active_run_id"] = exc.run_id
        return JSONResponse(content, status_code=status_for(exc))

    @app.post("/audiences/{audience_id}/runs", status_code=202)
    async def start_run(
        audience_id: str, body: StartRequest, ais: Client
    ) -> RunReport:
        # A run already going is refused (409) rather than waited for: the
        # caller polls the active one, whose id the answer gives.
        run = await ais.ensure_run(
            audience_id,
            data_filter_start_time=body.data_filter_start_time,
            data_filter_end_time=body.data_filter_end_time,
            if_active="raise",
        )
        return report(audience_id, run)

    @app.get("/audiences/{audience_id}/runs/{run_id}")
    async def run_progress(
        audience_id: str, run_id: str, ais: Client
    ) -> RunReport:
        run = await ais.get_run(audience_id, run_id)
        return report(audience_id, run)

    return app


app = create_app(aep_ais.AISClient.from_env)
