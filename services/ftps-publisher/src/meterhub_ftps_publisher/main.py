"""The ftps-publisher service: ``uvicorn --factory meterhub_ftps_publisher.main:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

import meterhub_ftps_publisher
from meterhub_common.app import build_app
from meterhub_ftps_publisher.settings import FtpsPublisherSettings


def create_app(settings: FtpsPublisherSettings | None = None) -> FastAPI:
    settings = settings or FtpsPublisherSettings()  # type: ignore[call-arg]
    return build_app(
        service="ftps-publisher",
        settings=settings,
        description=meterhub_ftps_publisher.__doc__ or "",
    )
