"""Settings of the usage-api service (env prefix ``MH_USAGE_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from meterhub_common.settings import ServiceSettings


class UsageApiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MH_USAGE_", extra="ignore", populate_by_name=True)
