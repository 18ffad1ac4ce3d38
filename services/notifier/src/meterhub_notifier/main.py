"""The notifier service: ``uvicorn --factory meterhub_notifier.main:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

import meterhub_notifier
from meterhub_common.app import build_app
from meterhub_notifier.settings import NotifierSettings


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()  # type: ignore[call-arg]
    return build_app(
        service="notifier",
        settings=settings,
        description=meterhub_notifier.__doc__ or "",
    )
