"""The ftps-publisher service: ``uvicorn --factory meterhub_ftps_publisher.main:create_app``.

The lifespan starts, as settings allow: the FTPS server (its own threads), the publisher
(LISTEN usage_changed + polling), the nightly sweep and the retention purge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

import asyncpg
from fastapi import FastAPI

import meterhub_ftps_publisher
from meterhub_common.app import build_app
from meterhub_common.db import libpq_url
from meterhub_common.devtls import DEFAULT_HOSTS, ensure_dev_ca, issue_server_cert
from meterhub_common.settings import Environment
from meterhub_ftps_publisher.accounts.router import router as accounts_router
from meterhub_ftps_publisher.deliveries.router import router as deliveries_router
from meterhub_ftps_publisher.ftps.auth import DbAuthorizer
from meterhub_ftps_publisher.ftps.bridge import DbBridge
from meterhub_ftps_publisher.ftps.server import FtpsServer, tls_context
from meterhub_ftps_publisher.keys.router import router as keys_router
from meterhub_ftps_publisher.keys.service import KeyVault
from meterhub_ftps_publisher.publishing.expand import init_worker
from meterhub_ftps_publisher.publishing.folders import RepFolders
from meterhub_ftps_publisher.publishing.service import Publisher
from meterhub_ftps_publisher.publishing.worker import nightly_sweep_loop, publish_loop
from meterhub_ftps_publisher.records.router import router as records_router
from meterhub_ftps_publisher.retention.service import retention_loop
from meterhub_ftps_publisher.settings import FtpsPublisherSettings

log = logging.getLogger(__name__)


def build_ftps_server(settings: FtpsPublisherSettings, folders: RepFolders) -> FtpsServer:
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if cert is None or key is None:
        if settings.environment is Environment.PRODUCTION:
            raise ValueError("MH_FTPS_TLS_CERT_FILE and MH_FTPS_TLS_KEY_FILE must be set")
        ca = ensure_dev_ca(settings.dev_ca_dir)
        hosts = tuple(dict.fromkeys((*DEFAULT_HOSTS, settings.ftps_host)))
        issued = issue_server_cert(ca, settings.dev_ca_dir, "ftps-publisher", hosts)
        cert, key = issued.cert_path, issued.key_path
    bridge = DbBridge(libpq_url(settings.database_url))
    authorizer = DbAuthorizer(
        bridge,
        folders,
        lockout_threshold=settings.lockout_threshold,
        lockout_window=timedelta(minutes=settings.lockout_window_minutes),
        lockout_duration=timedelta(minutes=settings.lockout_minutes),
    )
    return FtpsServer(
        host=settings.ftps_host,
        port=settings.ftps_port,
        authorizer=authorizer,
        bridge=bridge,
        context=tls_context(cert, key),
        passive_ports=settings.passive_port_range(),
        masquerade_address=settings.masquerade_address,
        max_connections=settings.max_connections,
        max_connections_per_ip=settings.max_connections_per_ip,
        idle_timeout=settings.idle_timeout_seconds,
        auth_failed_delay=settings.auth_failed_delay_seconds,
    )


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: FtpsPublisherSettings = app.state.settings
    folders: RepFolders = app.state.folders
    folders.ensure_root()
    await asyncio.to_thread(folders.remove_stale_parts, 6 * 3600)
    dsn = libpq_url(settings.database_url)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=settings.publish_workers + 4)
    # spawn, not fork: this process already runs threads (FTPS server, database bridge).
    executor = (
        ProcessPoolExecutor(
            settings.publish_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
        )
        if settings.publish_workers > 0
        else None
    )
    publisher = Publisher(
        pool,
        dsn,
        folders,
        app.state.key_vault,
        executor=executor,
        workers=settings.publish_workers,
        batch_events=settings.publish_batch_events,
        late_event_lookback_hours=settings.late_event_lookback_hours,
        sweep_lookback_days=settings.sweep_lookback_days,
        deadline=settings.delivery_deadline,
    )
    app.state.publisher_pool = pool
    app.state.publisher = publisher
    server: FtpsServer | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        if settings.start_ftps_server:
            server = build_ftps_server(settings, folders)
            await asyncio.to_thread(server.start)
            app.state.ftps_server = server
        if settings.start_publisher:
            tasks = [
                asyncio.create_task(
                    publish_loop(publisher, dsn, settings.publish_poll_seconds), name="publish"
                ),
                asyncio.create_task(
                    nightly_sweep_loop(publisher, settings.nightly_sweep_at), name="sweep"
                ),
                asyncio.create_task(
                    retention_loop(
                        pool, folders, settings.retention_days, settings.retention_check_seconds
                    ),
                    name="retention",
                ),
            ]
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await asyncio.to_thread(server.stop)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        await pool.close()
        app.state.key_vault.close()


def create_app(settings: FtpsPublisherSettings | None = None) -> FastAPI:
    settings = settings or FtpsPublisherSettings()
    app = build_app(
        service="ftps-publisher",
        settings=settings,
        routers=[keys_router, accounts_router, records_router, deliveries_router],
        lifespan=lifespan,
        description=meterhub_ftps_publisher.__doc__ or "",
    )
    app.state.folders = RepFolders(settings.root)
    app.state.key_vault = KeyVault(settings.gnupg_home)
    return app
