"""Settings of the ingest service (env prefix ``MH_INGEST_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from meterhub_common.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="MH_INGEST_", extra="ignore", populate_by_name=True
    )
