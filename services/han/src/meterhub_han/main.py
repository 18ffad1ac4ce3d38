"""The han service: ``uvicorn --factory meterhub_han.main:create_app``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import meterhub_han
from meterhub_common.app import build_app
from meterhub_common.db import Database, async_url
from meterhub_han.callback.router import router as callback_router
from meterhub_han.outbox.headend import HeadEnds
from meterhub_han.outbox.worker import OutboxWorker
from meterhub_han.reports.router import router as reports_router
from meterhub_han.settings import HanSettings
from meterhub_han.soap.endpoint import SoapEndpoint
from meterhub_han.soap.router import router as soap_router

log = logging.getLogger(__name__)


def _tune_database(database: Database, settings: HanSettings) -> None:
    """The shared engine pings every connection it lends (three asyncpg round trips, more
    than a SOAP call's own queries); this service pings only on request and recycles instead.
    The replaced engine has never connected, so there is nothing to close."""
    database.engine = create_async_engine(
        async_url(settings.database_url),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=settings.database_pre_ping,
        pool_recycle=settings.database_pool_recycle_seconds,
    )
    database.sessionmaker = async_sessionmaker(database.engine, expire_on_commit=False)


async def _open_pool(database: Database, size: int) -> None:
    """Open the pool's connections before serving: opening one (TLS negotiation, startup
    queries) runs on the event loop, and a first burst that grows the pool from a few
    connections to ``size`` otherwise stalls its own first calls by a few hundred ms. A
    database that is down now only delays this; readiness reports it."""
    try:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(size):
                await held.enter_async_context(database.engine.connect())
    except Exception as exc:
        log.warning("could not open the database pool at startup (%s); opening on demand", exc)


def create_app(settings: HanSettings | None = None) -> FastAPI:
    settings = settings or HanSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        headends: HeadEnds = app.state.headends
        worker_task: asyncio.Task[None] | None = None
        if settings.outbox_enabled:
            await headends.start()
        await _open_pool(app.state.database, settings.database_pool_size)
        if settings.outbox_enabled:
            soap: SoapEndpoint = app.state.soap
            worker = OutboxWorker(app.state.database, settings, headends, busy=soap.busy)
            app.state.outbox_worker = worker
            worker_task = asyncio.create_task(worker.run(), name="han-outbox")
        try:
            yield
        finally:
            if worker_task is not None:
                worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            await headends.aclose()

    app = build_app(
        service="han",
        settings=settings,
        routers=[soap_router, callback_router, reports_router],
        lifespan=lifespan,
        description=meterhub_han.__doc__ or "",
    )
    _tune_database(app.state.database, settings)
    app.state.soap = SoapEndpoint(app.state.database, settings)
    app.state.headends = HeadEnds(settings)
    return app
