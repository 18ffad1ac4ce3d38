"""Settings shared by every service.

Each service subclasses :class:`ServiceSettings` with its own env prefix (``MH_INGEST_`` ...).
The few settings every service reads identically (database, environment, token key) accept
their unprefixed shared names too, so one Kubernetes Secret serves all five deployments.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Base for every service's settings; subclasses set ``model_config`` with their prefix."""

    model_config = SettingsConfigDict(env_prefix="MH_", extra="ignore", populate_by_name=True)

    environment: Environment = Field(
        default=Environment.PRODUCTION,
        validation_alias=AliasChoices("environment", "MH_ENVIRONMENT"),
    )
    database_url: str = Field(validation_alias=AliasChoices("database_url", "DATABASE_URL"))
    database_pool_size: int = 10
    database_pre_ping: bool = False
    token_public_key_file: Path = Field(
        validation_alias=AliasChoices("token_public_key_file", "MH_TOKEN_PUBLIC_KEY_FILE")
    )
    token_issuer: str = "meterhub"  # noqa: S105 (a name, not a secret)
    log_level: str = "INFO"

    def require_outside_development(self, *names: str) -> None:
        """Secrets may default to generated development values, never in production or test."""
        if self.environment is Environment.DEVELOPMENT:
            return
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            names_text = ", ".join(missing)
            raise ValueError(f"{names_text} must be set when environment is {self.environment}")
