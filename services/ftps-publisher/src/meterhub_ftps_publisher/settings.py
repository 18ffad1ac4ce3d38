"""Settings of the ftps-publisher service (env prefix ``MH_FTPS_``)."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from meterhub_common.settings import ServiceSettings


class FtpsPublisherSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MH_FTPS_", extra="ignore", populate_by_name=True)

    # Where REP folders live: <root>/<duns>/. Temp files are written inside each REP folder
    # (same filesystem, so the final rename is atomic) under hidden names.
    root: Path = Path(".state/ftps")
    # The publisher's own GnuPG home; REP public keys are imported here from the database.
    gnupg_home: Path = Path(".state/ftps-gnupg")

    # -- FTPS server -----------------------------------------------------------------------
    start_ftps_server: bool = True
    ftps_host: str = "127.0.0.1"
    ftps_port: int = 2121
    # "60000-60099": the passive data ports to open in the firewall.
    passive_ports: str = "60000-60099"
    # The address told to clients in PASV replies when the server sits behind NAT.
    masquerade_address: str | None = None
    # PEM certificate chain and key. Unset: a certificate from the development CA in
    # ``dev_ca_dir`` is issued for ``ftps_host`` (development and tests only).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    dev_ca_dir: Path = Path(".state/dev-ca")
    max_connections: int = 256
    max_connections_per_ip: int = 10
    idle_timeout_seconds: int = 300
    # Failed logins within the window lock the account for lockout_minutes.
    lockout_threshold: int = 5
    lockout_window_minutes: int = 15
    lockout_minutes: int = 30
    # Seconds before a failed login is answered (slows down guessing on one connection).
    auth_failed_delay_seconds: float = 1.0

    # -- publishing ------------------------------------------------------------------------
    start_publisher: bool = True
    publish_poll_seconds: float = 5.0
    # Events taken per publishing run; the cursor moves once per run.
    publish_batch_events: int = 5000
    # Parallel builds (worker processes); 0 builds in a thread. About two per core: a build
    # spends part of its time waiting on PostgreSQL's COPY and on gpg, and a second build
    # per core fills those gaps (2.5M records on 2 cores: 33.6 s with 2, 28.7 s with 4).
    publish_workers: int = 4
    # Events below the cursor that became visible late are looked for this far back.
    late_event_lookback_hours: int = 48
    # The nightly sweep (Central time) re-checks the last sweep_lookback_days days.
    nightly_sweep_at: time = time(21, 30)
    sweep_lookback_days: int = 3
    # The delivery deadline: this hour, Central, on the day the data arrived (seed 002, 5.2).
    delivery_deadline: time = time(23, 0)

    # -- retention and ad-hoc delivery -----------------------------------------------------
    retention_days: int = 10
    retention_check_seconds: float = 3600.0
    max_delivery_bytes: int = 4 * 1024**3

    @field_validator("passive_ports")
    @classmethod
    def _check_ports(cls, value: str) -> str:
        first, _, last = value.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError as exc:
            raise ValueError(f"passive_ports must look like 60000-60099, got {value!r}") from exc
        if not 1024 <= low <= high <= 65535:
            raise ValueError(f"passive_ports {value!r} must be a range within 1024-65535")
        return value

    def passive_port_range(self) -> list[int]:
        first, _, last = self.passive_ports.partition("-")
        return list(range(int(first), int(last or first) + 1))
