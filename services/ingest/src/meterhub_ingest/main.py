"""The ingest service: ``uvicorn --factory meterhub_ingest.main:create_app``."""

from __future__ import annotations

from fastapi import FastAPI

import meterhub_ingest
from meterhub_common.app import build_app
from meterhub_ingest.settings import IngestSettings


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()  # type: ignore[call-arg]
    return build_app(
        service="ingest",
        settings=settings,
        description=meterhub_ingest.__doc__ or "",
    )
