"""The ingest service: ``uvicorn --factory meterhub_ingest.main:create_app``.

The lifespan opens the repository key (generating one in development when none is
configured), starts the worker processes that load files, and runs a supervisor that
restarts a dead worker and refreshes the pending-files gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import meterhub_ingest
from meterhub_common.app import build_app
from meterhub_common.db import Database
from meterhub_ingest.files import repository
from meterhub_ingest.files.keys import RepositoryKeyHolder
from meterhub_ingest.files.router import router as files_router
from meterhub_ingest.files.worker import WorkerPool
from meterhub_ingest.settings import IngestSettings
from meterhub_ingest.telemetry import IngestMetrics
from meterhub_ingest.upload.router import router as upload_router
from meterhub_ingest.upload.session import SessionCodec

log = logging.getLogger(__name__)


async def _supervise(app: FastAPI, pool: WorkerPool, interval: float) -> None:
    database: Database = app.state.database
    metrics: IngestMetrics = app.state.ingest_metrics
    while True:
        pool.respawn_dead()
        try:
            async with database.sessionmaker() as session:
                metrics.pending_files = await repository.pending_files(session)
        except Exception as exc:  # the gauge is best effort; the next round tries again
            log.warning("could not count pending files: %s", exc)
        await asyncio.sleep(interval)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: IngestSettings = app.state.settings
    holder: RepositoryKeyHolder = app.state.repository_key
    # Before the workers start: they need the key, and in development this makes it.
    key = await holder.get()
    log.info("repository PGP key %s", key.fingerprint)
    pool = WorkerPool(settings)
    pool.start()
    app.state.worker_pool = pool
    supervisor = asyncio.create_task(_supervise(app, pool, max(settings.poll_seconds, 1.0)))
    try:
        yield
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        await pool.stop()


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    app = build_app(
        service="ingest",
        settings=settings,
        routers=[files_router, upload_router],
        lifespan=_lifespan,
        description=meterhub_ingest.__doc__ or "",
    )
    app.state.ingest_metrics = IngestMetrics()
    app.state.repository_key = RepositoryKeyHolder(settings)
    # Outside development the settings refuse to start without a secret; in development a
    # fresh one per start only means signing in again.
    secret = (
        settings.session_secret.get_secret_value()
        if settings.session_secret
        else secrets.token_urlsafe(32)
    )
    app.state.upload_sessions = SessionCodec(secret)
    return app
