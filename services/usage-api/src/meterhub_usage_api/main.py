"""The usage-api service: ``uvicorn --factory meterhub_usage_api.main:create_app``.

Started in the lifespan: the usage reads' connection pool and the read-audit writer (a flush
every second).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

import meterhub_usage_api
from meterhub_common.app import build_app
from meterhub_common.auth import TokenIssuer
from meterhub_common.domain.operating_day import today_central
from meterhub_usage_api.agreements import jobs as agreement_jobs
from meterhub_usage_api.agreements.router import router as agreements_router
from meterhub_usage_api.audit.router import router as audit_router
from meterhub_usage_api.audit.writer import AuditWriter
from meterhub_usage_api.database import Reader
from meterhub_usage_api.odr import headend as odr_headend
from meterhub_usage_api.odr.router import router as odr_router
from meterhub_usage_api.openapi import install_openapi
from meterhub_usage_api.ratelimit.buckets import RateLimiter
from meterhub_usage_api.ratelimit.middleware import RateLimitMiddleware
from meterhub_usage_api.reports import worker as report_worker
from meterhub_usage_api.reports.router import router as reports_router
from meterhub_usage_api.security import CachingTokenVerifier
from meterhub_usage_api.settings import UsageApiSettings
from meterhub_usage_api.tokens.router import router as token_router
from meterhub_usage_api.usage.router import router as usage_router


def routers() -> list[APIRouter]:
    """Every router of the service; a new domain package adds its router here."""
    return [token_router, usage_router, audit_router, *_second_half_routers()]


def _second_half_routers() -> list[APIRouter]:
    """Agreements, ad-hoc reports and on-demand reads."""
    return [agreements_router, reports_router, odr_router]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    audit: AuditWriter = app.state.audit
    reader: Reader = app.state.reader
    await reader.start()
    audit.start()
    # Agreements, ad-hoc reports, on-demand reads: their background work (each honours its
    # own start_* setting).
    background = [app.state.agreement_jobs, app.state.report_worker, app.state.headends]
    for part in background:
        part.start()
    try:
        yield
    finally:
        for part in reversed(background):
            await part.stop()
        await audit.stop()
        await reader.stop()


def create_app(
    settings: UsageApiSettings | None = None, *, extra_routers: Sequence[APIRouter] = ()
) -> FastAPI:
    settings = settings or UsageApiSettings()  # type: ignore[call-arg]
    app = build_app(
        service="usage-api",
        settings=settings,
        routers=[*routers(), *extra_routers],
        lifespan=_lifespan,
        description=meterhub_usage_api.__doc__ or "",
    )
    app.state.token_verifier = CachingTokenVerifier(
        settings.token_public_key_file.read_bytes(), issuer=settings.token_issuer
    )
    app.state.token_issuer = TokenIssuer(
        settings.private_key_path().read_bytes(),
        issuer=settings.token_issuer,
        ttl_seconds=settings.token_ttl_seconds,
    )
    app.state.audit = AuditWriter(
        app.state.database,
        flush_interval=settings.audit_flush_interval_seconds,
        max_pending=settings.audit_max_pending,
    )
    app.state.reader = Reader(
        app.state.database, settings.database_url, settings.database_pool_size
    )
    app.state.rate_limiter = RateLimiter.from_figures(
        rate=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        anonymous_rate=settings.anonymous_rate_limit_per_second,
        anonymous_burst=settings.anonymous_rate_limit_burst,
    )
    # The operating day the access windows count back from; tests pin it.
    app.state.today = today_central
    app.add_middleware(RateLimitMiddleware)
    install_openapi(app)
    # Agreements, ad-hoc reports, on-demand reads: their state on app.state.
    agreement_jobs.install(app, settings)
    report_worker.install(app, settings)
    odr_headend.install(app, settings)
    return app
