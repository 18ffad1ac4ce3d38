"""The han service: ``uvicorn --factory meterhub_han.main:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

import meterhub_han
from meterhub_common.app import build_app
from meterhub_han.settings import HanSettings


def create_app(settings: HanSettings | None = None) -> FastAPI:
    settings = settings or HanSettings()  # type: ignore[call-arg]
    return build_app(
        service="han",
        settings=settings,
        description=meterhub_han.__doc__ or "",
    )
