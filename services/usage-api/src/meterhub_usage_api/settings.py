"""Settings of the usage-api service (env prefix ``MH_USAGE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from meterhub_common.auth import generate_signing_key
from meterhub_common.settings import ServiceSettings
from meterhub_usage_api.mail import StartTls  # agreements' mail (see the block below)

DEV_PRIVATE_KEY_NAME = "token-private.pem"


class UsageApiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MH_USAGE_", extra="ignore", populate_by_name=True)

    # The usage API alone signs tokens. Required outside development; in development it
    # defaults to token-private.pem beside the public key (see private_key_path).
    token_private_key_file: Path | None = None
    token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)

    # Brute force on POST /v1/token: after this many failures per client id (or customer
    # username) within the window, every attempt is refused (429) for the lockout time.
    token_max_failures: int = Field(default=5, ge=1)
    token_failure_window_seconds: int = Field(default=900, ge=1)
    token_lockout_seconds: int = Field(default=900, ge=1)

    # Token buckets per client (token ``sub``), kept in each replica's memory: with N replicas
    # behind a load balancer a client can reach N times these figures.
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # Requests without a valid token (the token endpoint, probes of the API), per client address.
    anonymous_rate_limit_per_second: float = Field(default=10.0, gt=0)
    anonymous_rate_limit_burst: int = Field(default=40, ge=1)

    # SMT's on-screen limits: beyond them a read is an ad-hoc report (POST /v1/reports).
    sync_read_max_days: int = Field(default=40, ge=1)
    sync_daily_read_max_days: int = Field(default=1200, ge=1)

    audit_flush_interval_seconds: float = Field(default=1.0, gt=0)
    # Reads are refused (503) rather than served unaudited when this many entries wait.
    audit_max_pending: int = Field(default=100_000, ge=1)

    # ---- agreements, ad-hoc reports, on-demand reads (agreements/, reports/, odr/) -------
    # Agreement emails (SMTP relay; STARTTLS whenever the relay offers it, unless "off").
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65_535)
    smtp_starttls: StartTls = StartTls.AUTO
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "Meterhub <no-reply@meterhub.test>"
    mail_max_attempts: int = Field(default=8, ge=1)
    mail_retry_seconds: float = Field(default=60.0, gt=0)
    # Where people reach this API; links in agreement mails start with it.
    public_url: str = "https://localhost:8442"
    # Trust anchors for TLS to the relay, the FTPS publisher and the head-ends (dev CA).
    ca_cert_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("ca_cert_file", "MH_CA_CERT_FILE")
    )
    # A pending agreement nobody answered within this many days expires.
    agreement_pending_days: int = Field(default=30, ge=1)
    # How often the agreement job expires agreements and retries mails.
    agreement_job_seconds: float = Field(default=300.0, gt=0)
    start_agreement_jobs: bool = True

    # Ad-hoc reports: built by a durable worker, delivered through the FTPS publisher.
    ftps_publisher_url: str = "https://127.0.0.1:8443"
    publisher_timeout_seconds: float = Field(default=600.0, gt=0)
    report_max_esiids: int = Field(default=50_000, ge=1)
    # Chunk files are written here while a report is built (a crash resumes from them).
    report_spool_dir: Path = Path(".state/usage-reports")
    # ESI ID-days per chunk: the unit of progress, of parallel work and of a resumed step.
    report_chunk_esiid_days: int = Field(default=5_000, ge=1)
    # Chunks built at once, each by one PostgreSQL backend (the COPY does the formatting).
    report_parallel_chunks: int = Field(default=2, ge=1, le=16)
    # work_mem of a chunk's transaction: a 5,000 ESI ID-day interval chunk sorts ~90 MB.
    report_sort_memory_mb: int = Field(default=192, ge=4, le=4096)
    report_lease_seconds: float = Field(default=120.0, gt=0)
    report_poll_seconds: float = Field(default=10.0, gt=0)
    report_max_attempts: int = Field(default=5, ge=1)
    report_retry_seconds: float = Field(default=30.0, ge=0)
    # Finished reports (their ESI ID lists and progress) are deleted after this many days;
    # the files themselves leave the FTPS folder after 10 (the publisher's retention), and
    # the read audit keeps who received what.
    report_retention_days: int = Field(default=30, ge=1)
    start_report_worker: bool = True

    # On-demand reads: the SOAP endpoint of each TDSP's head-end, by TDSP DUNS (JSON object).
    headend_urls: dict[str, str] = Field(default_factory=dict)
    headend_timeout_seconds: float = Field(default=10.0, gt=0)
    odr_daily_cap_per_tdsp: int = Field(default=3_000, ge=1)
    odr_min_interval_seconds: int = Field(default=3_600, ge=1)
    # A request the head-end has not reported on within this time shows as FAILED.
    odr_result_timeout_seconds: int = Field(default=900, ge=1)
    # ---- end of the agreements/reports/odr block ------------------------------------------

    @model_validator(mode="after")
    def _private_key_outside_development(self) -> UsageApiSettings:
        self.require_outside_development("token_private_key_file")
        return self

    def private_key_path(self) -> Path:
        """The signing key; in development a missing pair is generated beside the public key."""
        if self.token_private_key_file is not None:
            return self.token_private_key_file
        private = self.token_public_key_file.with_name(DEV_PRIVATE_KEY_NAME)
        if not private.exists():
            if self.token_public_key_file.exists():
                raise ValueError(
                    f"{self.token_public_key_file} exists without {private}: set "
                    "MH_USAGE_TOKEN_PRIVATE_KEY_FILE to the private key that matches it"
                )
            generate_signing_key(private, self.token_public_key_file)
        return private
