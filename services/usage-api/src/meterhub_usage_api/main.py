"""The usage-api service: ``uvicorn --factory meterhub_usage_api.main:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

import meterhub_usage_api
from meterhub_common.app import build_app
from meterhub_usage_api.settings import UsageApiSettings


def create_app(settings: UsageApiSettings | None = None) -> FastAPI:
    settings = settings or UsageApiSettings()  # type: ignore[call-arg]
    return build_app(
        service="usage-api",
        settings=settings,
        description=meterhub_usage_api.__doc__ or "",
    )
