"""Settings of the ingest service (env prefix ``MH_INGEST_``).

The service starts from environment variables alone: ``DATABASE_URL``,
``MH_TOKEN_PUBLIC_KEY_FILE``, ``MH_ENVIRONMENT`` and the ``MH_INGEST_*`` settings below.
Outside development, ``MH_INGEST_PGP_HOME`` and ``MH_INGEST_SESSION_SECRET`` are required.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from meterhub_common.pgp import normalize_fingerprint
from meterhub_common.settings import Environment, ServiceSettings


def development_pgp_home() -> Path:
    """Where development keeps a generated repository key pair when none is configured.

    Short on purpose: gpg-agent's socket path must fit in a Unix socket address.
    """
    return Path(tempfile.gettempdir()) / f"mh-ingest-gpg-{os.getuid()}"


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="MH_INGEST_", extra="ignore", populate_by_name=True
    )

    # Worker processes that load files (0: none in this process; run them standalone with
    # ``python -m meterhub_ingest.files.worker``).
    workers: int = Field(default=2, ge=0, le=64)
    # A GnuPG home holding the repository's key pair (and the TDSPs' signing keys, if any).
    pgp_home: Path | None = None
    # Fingerprint of the repository key in pgp_home; unset: the only secret key there.
    pgp_fingerprint: str | None = None
    pgp_passphrase: SecretStr | None = None
    # Accept plain zip, CSV or LSE bodies (development and tests; never in production).
    allow_unencrypted: bool = False
    max_upload_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    # A zip member larger than this (uncompressed) fails the file instead of filling the disk.
    max_unzipped_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    max_records: int = Field(default=50_000, gt=0)
    session_secret: SecretStr | None = None
    # TDSP DUNS -> fingerprint of the key that must sign its files (JSON in the environment).
    expected_signers: dict[str, str] = Field(default_factory=dict)
    # Workers wake on NOTIFY ingest_files, and poll this often in case a notification is lost.
    poll_seconds: float = Field(default=3.0, gt=0)
    # A file whose processing failed (or whose worker died) is retried after this many seconds
    # times its attempts, at most max_attempts times in all.
    retry_delay_seconds: float = Field(default=2.0, ge=0)
    max_attempts: int = Field(default=5, ge=1)
    # How long shutdown waits for a worker to finish the file it is loading.
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # Temporary files (decrypted zips) go here; unset: the system temporary directory.
    work_dir: Path | None = None
    # Test-only: a worker sleeps this long between writing a file's rows and committing, so a
    # test can kill it mid-load. Ignored in production.
    pause_before_commit_seconds: float = Field(default=0.0, ge=0)

    @field_validator("expected_signers")
    @classmethod
    def _fingerprints(cls, value: dict[str, str]) -> dict[str, str]:
        return {duns: normalize_fingerprint(fpr) for duns, fpr in value.items()}

    @field_validator("pgp_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        return normalize_fingerprint(value) if value else None

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> IngestSettings:
        self.require_outside_development("pgp_home", "session_secret")
        if self.environment is Environment.PRODUCTION and self.allow_unencrypted:
            raise ValueError("allow_unencrypted must not be set in production")
        return self

    @property
    def effective_pgp_home(self) -> Path:
        return self.pgp_home or development_pgp_home()

    @property
    def effective_pause_before_commit(self) -> float:
        if self.environment is Environment.PRODUCTION:
            return 0.0
        return self.pause_before_commit_seconds
