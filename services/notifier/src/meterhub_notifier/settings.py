"""Settings of the notifier service (env prefix ``MH_NOTIFIER_``).

The service starts from environment variables alone: ``DATABASE_URL``,
``MH_TOKEN_PUBLIC_KEY_FILE``, ``MH_ENVIRONMENT`` and the ``MH_NOTIFIER_*`` settings below.
Structured settings (listservs, holidays, service URLs, probe credentials) are JSON.
Outside development the mail relay (``SMTP_HOST``), the ``FROM_ADDRESS`` and the ``LISTSERVS``
must be given; in development they default to the local SMTP sink and example lists.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from meterhub_common.settings import Environment, ServiceSettings

# The five deployments a probe can check, by the names the service URLs use.
PROBED_SERVICES = ("usage-api", "ingest", "han", "ftps-publisher", "notifier")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW = re.compile(r"^\s*([A-Za-z]+)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class StartTls(StrEnum):
    # Use STARTTLS whenever the relay offers it (the relay decides).
    AUTO = "auto"
    # Refuse to send over a relay that does not offer it.
    REQUIRED = "required"
    # Never upgrade (a relay on loopback or inside a trusted mesh).
    OFF = "off"


class UnobservedMinutes(StrEnum):
    # A minute no probe observed was not shown to be available (the seed counts minutes the
    # service IS available), so it counts against the service.
    DOWN = "down"
    # Leave such minutes out of both sides of the ratio.
    EXCLUDED = "excluded"


class WeeklyWindow:
    """The recurring window planned maintenance normally uses, e.g. ``Saturday 02:00-12:00``."""

    def __init__(self, weekday: int, start: time, end: time) -> None:
        if end <= start:
            raise ValueError("the maintenance window must end after it starts on the same day")
        self.weekday = weekday
        self.start = start
        self.end = end

    @classmethod
    def parse(cls, text: str) -> WeeklyWindow:
        match = _WINDOW.match(text)
        if not match or match.group(1).lower() not in WEEKDAYS:
            raise ValueError(
                f"maintenance window {text!r} is not like 'Saturday 02:00-12:00' "
                "(a weekday, a start and an end in Central prevailing time)"
            )
        day, sh, sm, eh, em = match.groups()
        return cls(WEEKDAYS.index(day.lower()), time(int(sh), int(sm)), time(int(eh), int(em)))

    def __str__(self) -> str:
        return (
            f"{WEEKDAYS[self.weekday].capitalize()} "
            f"{self.start.strftime('%H:%M')}-{self.end.strftime('%H:%M')}"
        )


DEVELOPMENT_LISTSERVS = {
    "RMS": ["rms-listserv@lists.meterhub.test"],
    "AMWG": ["amwg-listserv@lists.meterhub.test"],
}

# Which market services (the notice's "affected services") each deployment carries. A planned
# outage of a market service puts these deployments in planned maintenance, and an incident of
# a deployment names these market services in its unplanned outage notice.
DEFAULT_SERVICE_MARKET_MAP = {
    "usage-api": ["API", "GUI"],
    "ingest": ["API", "GUI"],
    "han": ["HAN"],
    "ftps-publisher": ["FTPS"],
    # The notices API and feed are machine interfaces of the repository.
    "notifier": ["API"],
}


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="MH_NOTIFIER_", extra="ignore", populate_by_name=True
    )

    # --- mail -----------------------------------------------------------------------------
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_starttls: StartTls = StartTls.AUTO
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)
    # Trust anchors for TLS to the relay, the FTPS server and the services (development CA).
    ca_cert_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("ca_cert_file", "MH_CA_CERT_FILE")
    )
    from_address: str | None = None
    # Listserv name -> addresses, e.g. {"RMS": ["rms@lists.example.org"], "AMWG": [...]}.
    listservs: dict[str, list[str]] = Field(default_factory=dict)
    # Listservs a notice goes to when its request names none (default: every listserv).
    default_listservs: list[str] = Field(default_factory=list)
    # --- notices --------------------------------------------------------------------------
    holidays: list[date] = Field(default_factory=list)
    maintenance_window: str = "Saturday 02:00-12:00"
    business_days_notice: int = Field(default=3, ge=0)
    # Planned outages this long or shorter need no advance notice (seed 002: "greater than 15").
    notice_exempt_minutes: int = Field(default=15, ge=0)
    reminder_lead_minutes: int = Field(default=24 * 60, gt=0)
    intended_audience: str = "Retail Market Participants (REPs, TDSPs, CSPs) and ERCOT"
    contact: str = "Meterhub Operations, operations@meterhub.example.org"
    # Absolute URL of this service as the market reaches it (links in the Atom feed).
    public_url: str = "https://localhost:8445"
    # --- probes ---------------------------------------------------------------------------
    # Deployment name -> base URL, e.g. {"usage-api": "https://usage.example.org", ...}.
    service_urls: dict[str, str] = Field(default_factory=dict)
    # Deployment name -> probe account (see the README for each probe's keys).
    probe_credentials: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # A service-role client, for the HAN device report and the FTPS delivery records.
    service_client_id: str | None = None
    service_client_secret: SecretStr | None = None
    token_url: str | None = None
    han_reports_url: str | None = None
    ftps_deliveries_url: str | None = None
    service_market_map: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_SERVICE_MARKET_MAP.items()}
    )
    probes_enabled: bool = True
    probe_interval_seconds: float = Field(default=60.0, gt=0)
    probe_timeout_seconds: float = Field(default=20.0, gt=0)
    incident_threshold_minutes: int = Field(default=3, ge=1)
    incident_recovery_minutes: int = Field(default=2, ge=1)
    unobserved_minutes: UnobservedMinutes = UnobservedMinutes.DOWN
    # --- background work ------------------------------------------------------------------
    # The outbox sender and the reminder scheduler.
    workers_enabled: bool = True
    outbox_poll_seconds: float = Field(default=5.0, gt=0)
    outbox_batch_size: int = Field(default=20, ge=1)
    # Temporary failures are retried with doubling delays up to the maximum, for at most
    # outbox_give_up_hours; a 5xx answer fails the mail at once.
    outbox_retry_seconds: float = Field(default=15.0, gt=0)
    outbox_max_retry_seconds: float = Field(default=900.0, gt=0)
    outbox_give_up_hours: float = Field(default=48.0, gt=0)
    # A mail pending longer than this makes the self-check fail.
    outbox_stale_minutes: int = Field(default=15, ge=1)
    # SLO objective (percent); the error budget and burn rates are measured against it.
    objective_percent: float = Field(default=99.0, gt=0, lt=100)

    @field_validator("maintenance_window")
    @classmethod
    def _window(cls, value: str) -> str:
        WeeklyWindow.parse(value)
        return value

    @field_validator("service_urls")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(PROBED_SERVICES))
        if unknown:
            raise ValueError(
                f"unknown service(s) {', '.join(unknown)} in service_urls; "
                f"known: {', '.join(PROBED_SERVICES)}"
            )
        return {name: url.rstrip("/") for name, url in value.items()}

    @model_validator(mode="after")
    def _complete(self) -> NotifierSettings:
        if self.environment is Environment.DEVELOPMENT:
            self.smtp_host = self.smtp_host or "127.0.0.1"
            if "smtp_port" not in self.model_fields_set:
                self.smtp_port = 8025
            self.from_address = self.from_address or "notices@meterhub.test"
            self.listservs = self.listservs or {
                k: list(v) for k, v in DEVELOPMENT_LISTSERVS.items()
            }
        self.require_outside_development("smtp_host", "from_address", "listservs")
        unknown = sorted(set(self.default_listservs) - set(self.listservs))
        if unknown:
            raise ValueError(f"default_listservs names unknown listserv(s): {', '.join(unknown)}")
        for name, addresses in self.listservs.items():
            if not addresses or not all("@" in a for a in addresses):
                raise ValueError(f"listserv {name} needs at least one e-mail address")
        return self

    @property
    def window(self) -> WeeklyWindow:
        return WeeklyWindow.parse(self.maintenance_window)

    @property
    def reminder_lead(self) -> timedelta:
        return timedelta(minutes=self.reminder_lead_minutes)

    @property
    def distribution(self) -> list[str]:
        return list(self.default_listservs or self.listservs)

    def url_of(self, service: str) -> str | None:
        return self.service_urls.get(service)

    @property
    def effective_token_url(self) -> str | None:
        if self.token_url:
            return self.token_url
        base = self.url_of("usage-api")
        return f"{base}/v1/token" if base else None

    @property
    def effective_han_reports_url(self) -> str | None:
        if self.han_reports_url:
            return self.han_reports_url
        base = self.url_of("han")
        return f"{base}/v1/reports/devices" if base else None

    @property
    def effective_ftps_deliveries_url(self) -> str | None:
        if self.ftps_deliveries_url:
            return self.ftps_deliveries_url
        base = self.url_of("ftps-publisher")
        return f"{base}/v1/deliveries" if base else None
