"""Settings of the notifier service (env prefix ``MH_NOTIFIER_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from meterhub_common.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="MH_NOTIFIER_", extra="ignore", populate_by_name=True
    )
