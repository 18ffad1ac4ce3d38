"""Settings of the han service (env prefix ``MH_HAN_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from meterhub_common.domain import InvalidIdentifier, validate_duns
from meterhub_common.settings import ServiceSettings


class HanSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MH_HAN_", extra="ignore", populate_by_name=True)

    headends: dict[str, str] = Field(
        default_factory=dict,
        description='TDSP DUNS -> head-end SOAP endpoint, e.g. {"007924772": "https://...:8600/soap"}',
    )
    headend_auth: dict[str, tuple[str, str]] = Field(
        default_factory=dict,
        description="TDSP DUNS -> (username, password) sent as a WS-Security UsernameToken",
    )
    headend_ca_file: Path | None = Field(
        default=None, description="CA bundle that head-end TLS certificates are checked against"
    )
    headend_timeout_seconds: float = 10.0

    database_pre_ping: bool = Field(
        default=False,
        description="test each pooled connection before use (with asyncpg: three round trips "
        "per request); off, a connection broken by a database restart fails one request",
    )
    database_pool_recycle_seconds: int = Field(default=1800, ge=60)

    outbox_enabled: bool = Field(
        default=True, description="run the outbox worker in this process's lifespan"
    )
    outbox_poll_seconds: float = Field(
        default=2.0, gt=0, description="longest wait between outbox scans without a NOTIFY"
    )
    outbox_batch_size: int = Field(default=64, ge=1, le=1000)
    outbox_concurrency: int = Field(default=16, ge=1, le=256)
    outbox_busy_batch: int = Field(
        default=1,
        ge=1,
        description="while REP calls are being served, deliver at most this many per pass...",
    )
    outbox_busy_pause_seconds: float = Field(
        default=0.2, ge=0, description="...and pause this long between passes"
    )
    soap_busy_calls_per_second: float = Field(
        default=50.0,
        gt=0,
        description="the endpoint counts as busy from this many REP calls a second (or 16 "
        "in flight)",
    )
    outbox_lease_seconds: float = Field(
        default=60.0, gt=0, description="a claimed row is retried after this if its worker died"
    )
    outbox_retention_days: int = Field(
        default=30, ge=1, description="delivered and rejected rows are kept this long"
    )
    retry_initial_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    retry_multiplier: float = Field(default=2.0, ge=1.0)

    max_body_bytes: int = Field(default=65_536, ge=1024, description="largest SOAP request")
    credential_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="how long a verified WS-Security password is remembered (0 = never)",
    )
    public_url: str | None = Field(
        default=None,
        description="external base URL written into the served WSDL (default: the request's)",
    )
    messaging_log_max_rows: int = Field(default=10_000, ge=1)
    messaging_log_max_days: int = Field(default=93, ge=1)

    @field_validator("headends", "headend_auth")
    @classmethod
    def _keys_are_duns(cls, value: dict[str, object]) -> dict[str, object]:
        for duns in value:
            try:
                validate_duns(duns)
            except InvalidIdentifier as exc:
                raise ValueError(f"head-end configuration key {duns!r}: {exc}") from exc
        return value
