"""The notifier service: ``uvicorn --factory meterhub_notifier.main:create_app``.

The lifespan starts, as configured: the outbox sender (with its LISTEN wake-up) and the
reminder scheduler (``MH_NOTIFIER_WORKERS_ENABLED``), and the probe loop
(``MH_NOTIFIER_PROBES_ENABLED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

import meterhub_notifier
from meterhub_common.app import build_app
from meterhub_notifier.availability.router import router as availability_router
from meterhub_notifier.background import listen_for_mail, reminder_loop
from meterhub_notifier.clock import Clock, SystemClock
from meterhub_notifier.metrics import SloMetrics
from meterhub_notifier.notices.router import router as notices_router
from meterhub_notifier.outbox.router import router as outbox_router
from meterhub_notifier.outbox.service import OutboxWorker, sender_for, ssl_context_for
from meterhub_notifier.probes.runner import ProbeRunner
from meterhub_notifier.probes.selfcheck import self_check
from meterhub_notifier.probes.setup import build_probes
from meterhub_notifier.probes.tokens import TokenSource
from meterhub_notifier.reports.peers import HanDevicesClient
from meterhub_notifier.reports.router import router as reports_router
from meterhub_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


def create_app(settings: NotifierSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    clock = clock or SystemClock()
    ssl_context = ssl_context_for(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        worker: OutboxWorker | None = None

        def wake() -> None:
            if worker is not None:
                worker.wake.set()

        if settings.workers_enabled:
            worker = OutboxWorker(app.state.database, settings, clock, sender_for(settings))
            app.state.outbox_worker = worker
            tasks.append(asyncio.create_task(worker.run(stop), name="outbox"))
            tasks.append(
                asyncio.create_task(
                    listen_for_mail(settings.database_url, worker.wake, stop), name="outbox-listen"
                )
            )
            tasks.append(
                asyncio.create_task(
                    reminder_loop(app.state.database, settings, clock, wake, stop),
                    name="reminders",
                )
            )
        if settings.probes_enabled:

            async def local_check() -> tuple[bool, str]:
                return await self_check(app.state.database, settings, clock.now(), worker)

            probes = build_probes(settings, app.state.http, clock, ssl_context, local_check)
            runner = ProbeRunner(
                probes,
                database=app.state.database,
                settings=settings,
                clock=clock,
                metrics=app.state.slo_metrics,
                on_notices=wake,
            )
            app.state.probe_runner = runner
            tasks.append(asyncio.create_task(runner.run(stop), name="probes"))
        try:
            yield
        finally:
            stop.set()
            # A mail being handed to the relay finishes; queued ones wait in the database.
            _, pending = await asyncio.wait(tasks, timeout=20) if tasks else (set(), set())
            for task in pending:
                task.cancel()
            await app.state.http.aclose()

    app = build_app(
        service="notifier",
        settings=settings,
        routers=[notices_router, availability_router, reports_router, outbox_router],
        lifespan=lifespan,
        description=meterhub_notifier.__doc__ or "",
    )
    app.state.clock = clock
    app.state.http = httpx.AsyncClient(
        verify=ssl_context, timeout=settings.probe_timeout_seconds, follow_redirects=False
    )
    service_tokens = None
    if (
        settings.service_client_id
        and settings.service_client_secret
        and settings.effective_token_url
    ):
        service_tokens = TokenSource(
            app.state.http,
            settings.effective_token_url,
            settings.service_client_id,
            settings.service_client_secret.get_secret_value(),
            clock,
        )
    app.state.han_devices = HanDevicesClient(
        app.state.http, settings.effective_han_reports_url, service_tokens
    )
    app.state.slo_metrics = SloMetrics(settings.objective_percent)
    return app
