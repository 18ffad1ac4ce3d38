"""Settings of the ftps-publisher service (env prefix ``MH_FTPS_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from meterhub_common.settings import ServiceSettings


class FtpsPublisherSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MH_FTPS_", extra="ignore", populate_by_name=True)
