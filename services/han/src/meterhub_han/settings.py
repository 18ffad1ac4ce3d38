"""Settings of the han service (env prefix ``MH_HAN_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from meterhub_common.settings import ServiceSettings


class HanSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MH_HAN_", extra="ignore", populate_by_name=True)
